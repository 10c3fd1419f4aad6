"""The service registry behind ``lb://name``: resolvers, round-robin, passive ejection.

Resolvers are tried in the order of ``GATEWAY_SERVICE_RESOLVERS`` (dotted paths of
``ServiceResolver`` subclasses); the first that knows the service answers. Built in:

- ``StaticResolver``: ``GATEWAY_SERVICES = {"users": ["10.0.0.5:8080", "https://10.0.0.6"]}``;
- ``DnsResolver``: A/AAAA records of the name (``GATEWAY_DNS_PORT``), or SRV records
  (``GATEWAY_DNS_MODE = "srv"``: ``<GATEWAY_DNS_SRV_PREFIX>.<name>``, with dnspython).

Answers are cached for ``GATEWAY_DISCOVERY_TTL_SECONDS`` and refreshed in the background, so a
request waits for discovery only the first time a service is used. Instances are taken in turn;
one that fails (connection refused, reset, connect timeout) ``GATEWAY_EJECT_AFTER_FAILURES``
times in a row is left out for ``GATEWAY_EJECTION_SECONDS``; if every instance is out, all are
tried again rather than none.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Instance:
    host: str
    port: int
    secure: bool = False

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def origin(self, scheme: str) -> str:
        """``scheme`` is the route's (http or ws); an instance marked secure upgrades it."""
        if self.secure:
            scheme = {"http": "https", "ws": "wss"}.get(scheme, scheme)
        return f"{scheme}://{self.address}"


def parse_instance(text: str, default_port: int = 80) -> Instance:
    """``host:port``, ``host`` or ``http(s)://host:port``."""
    if "//" not in text:
        text = "//" + text
    parts = urlsplit(text)
    secure = parts.scheme in ("https", "wss")
    port = parts.port or (443 if secure else default_port)
    if not parts.hostname:
        raise ValueError(f"not an instance address: {text!r}")
    return Instance(parts.hostname, port, secure)


class ServiceResolver:
    """The contract: the instances of a service, or None when this resolver does not know it
    (the next resolver is asked). Raising is a failed lookup."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    async def resolve(self, service: str) -> list[Instance] | None:
        raise NotImplementedError


class StaticResolver(ServiceResolver):
    async def resolve(self, service: str) -> list[Instance] | None:
        services: Mapping[str, Sequence[str]] = self.settings.GATEWAY_SERVICES or {}
        listed = services.get(service)
        if listed is None:
            return None
        return [parse_instance(item, int(self.settings.GATEWAY_DNS_PORT)) for item in listed]


class DnsResolver(ServiceResolver):
    async def resolve(self, service: str) -> list[Instance] | None:
        if self.settings.GATEWAY_DNS_MODE == "srv":
            return await self._srv(service)
        port = int(self.settings.GATEWAY_DNS_PORT)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(service, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            return None
        seen: dict[str, Instance] = {}
        for _family, _type, _proto, _name, sockaddr in infos:
            seen.setdefault(str(sockaddr[0]), Instance(str(sockaddr[0]), port))
        return list(seen.values()) or None

    async def _srv(self, service: str) -> list[Instance] | None:
        import dns.asyncresolver
        import dns.exception
        import dns.resolver

        name = f"{self.settings.GATEWAY_DNS_SRV_PREFIX}.{service}"
        try:
            answer = await self._dns_resolver().resolve(name, "SRV")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.DNSException as exc:
            raise LookupError(f"SRV lookup of {name} failed: {exc}") from exc
        records = sorted(answer, key=lambda r: (r.priority, -r.weight))  # type: ignore[attr-defined]
        best = records[0].priority if records else 0  # type: ignore[attr-defined]
        return [
            Instance(str(r.target).rstrip("."), int(r.port))  # type: ignore[attr-defined]
            for r in records
            if r.priority == best  # type: ignore[attr-defined]
        ] or None

    def _dns_resolver(self) -> Any:
        """The system's resolver, or the servers GATEWAY_DNS_NAMESERVERS names ("host:port")."""
        import dns.asyncresolver
        import dns.nameserver

        servers = list(self.settings.GATEWAY_DNS_NAMESERVERS or [])
        resolver = dns.asyncresolver.Resolver(configure=not servers)
        if servers:
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(instance.host, instance.port)
                for instance in (parse_instance(server, 53) for server in servers)
            ]
        return resolver


class NoInstances(LookupError):
    """No resolver knows the service, or it has no instances (the gateway answers 503)."""


class _Service:
    __slots__ = ("expires", "failures", "instances", "next", "out_until", "refreshing")

    def __init__(self, instances: list[Instance], expires: float) -> None:
        self.instances = instances
        self.expires = expires
        self.next = 0
        self.failures: dict[Instance, int] = {}
        self.out_until: dict[Instance, float] = {}
        self.refreshing = False


class ServiceRegistry:
    def __init__(
        self,
        resolvers: Sequence[ServiceResolver],
        ttl: float = 30.0,
        eject_after: int = 2,
        ejection_seconds: float = 30.0,
    ) -> None:
        self.resolvers = list(resolvers)
        self.ttl = ttl
        self.eject_after = eject_after
        self.ejection_seconds = ejection_seconds
        self._services: dict[str, _Service] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_settings(cls, settings: Any) -> ServiceRegistry:
        resolvers = [import_string(path)(settings) for path in settings.GATEWAY_SERVICE_RESOLVERS]
        return cls(
            resolvers,
            ttl=float(settings.GATEWAY_DISCOVERY_TTL_SECONDS),
            eject_after=int(settings.GATEWAY_EJECT_AFTER_FAILURES),
            ejection_seconds=float(settings.GATEWAY_EJECTION_SECONDS),
        )

    async def _lookup(self, service: str) -> list[Instance]:
        for resolver in self.resolvers:
            found = await resolver.resolve(service)
            if found:
                return found
        raise NoInstances(f"no instances of service {service!r}")

    async def _entry(self, service: str) -> _Service:
        entry = self._services.get(service)
        now = time.monotonic()
        if entry is not None:
            if entry.expires <= now and not entry.refreshing:
                entry.refreshing = True
                task = asyncio.get_running_loop().create_task(self._refresh(service, entry))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return entry
        lock = self._locks.setdefault(service, asyncio.Lock())
        async with lock:
            entry = self._services.get(service)
            if entry is None:
                entry = _Service(await self._lookup(service), time.monotonic() + self.ttl)
                self._services[service] = entry
        return entry

    async def _refresh(self, service: str, entry: _Service) -> None:
        try:
            instances = await self._lookup(service)
        except Exception as exc:
            logger.warning(
                "Refreshing instances of %s failed (%s); keeping the old ones", service, exc
            )
            entry.expires = time.monotonic() + min(self.ttl, 5.0)
        else:
            entry.instances = instances
            entry.expires = time.monotonic() + self.ttl
        finally:
            entry.refreshing = False

    async def choose(self, service: str) -> Instance:
        """The next instance in turn, skipping ejected ones (unless all are)."""
        entry = await self._entry(service)
        instances = entry.instances
        count = len(instances)
        now = time.monotonic()
        for _ in range(count):
            instance = instances[entry.next % count]
            entry.next += 1
            until = entry.out_until.get(instance)
            if until is None or until <= now:
                return instance
        instance = instances[entry.next % count]
        entry.next += 1
        return instance

    def report_failure(self, service: str, instance: Instance) -> None:
        entry = self._services.get(service)
        if entry is None:
            return
        failures = entry.failures.get(instance, 0) + 1
        entry.failures[instance] = failures
        if failures >= self.eject_after:
            entry.out_until[instance] = time.monotonic() + self.ejection_seconds
            entry.failures[instance] = 0
            logger.warning(
                "Instance %s of %s ejected for %.0fs after %d failure(s)",
                instance.address,
                service,
                self.ejection_seconds,
                failures,
            )

    def report_success(self, service: str, instance: Instance) -> None:
        entry = self._services.get(service)
        if entry is not None and entry.failures.get(instance):
            entry.failures[instance] = 0

    def ejected(self, service: str) -> list[Instance]:
        entry = self._services.get(service)
        now = time.monotonic()
        return [i for i, until in (entry.out_until.items() if entry else ()) if until > now]
