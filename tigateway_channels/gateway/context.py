"""What compiling a route needs beyond its definition: settings and shared services.

Built once per gateway process from the settings (``from_settings``); unit tests build one
with plain values. Filters look their key resolvers and limiters up here at compile time, so a
route that names an unknown bean fails to compile (and is skipped, with a log) instead of
failing every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.module_loading import import_string

from tigateway_channels.gateway.keyresolvers import (
    DEFAULT_RESOLVER,
    KeyResolver,
    build_key_resolvers,
)
from tigateway_channels.gateway.ratelimit import RateLimiter

DEFAULT_LIMITER = "redisRateLimiter"


@dataclass
class GatewayContext:
    key_resolvers: Mapping[str, KeyResolver] = field(
        default_factory=lambda: build_key_resolvers({})
    )
    limiters: Mapping[str, RateLimiter] = field(default_factory=dict)
    default_key_resolver: str = DEFAULT_RESOLVER
    deny_empty_key: bool = True
    empty_key_status: int = 403
    rate_limit_headers: bool = True
    retry_body_limit: int = 1024 * 1024
    host_include_port: bool = True
    original_status_header: bytes | None = None

    def key_resolver(self, name: str | None) -> KeyResolver:
        name = name or self.default_key_resolver
        try:
            return self.key_resolvers[name]
        except KeyError:
            known = ", ".join(sorted(self.key_resolvers))
            raise ValueError(f"unknown key resolver {name!r}; known: {known}") from None

    def rate_limiter(self, name: str | None) -> RateLimiter:
        name = name or DEFAULT_LIMITER
        try:
            return self.limiters[name]
        except KeyError:
            known = ", ".join(sorted(self.limiters)) or "none"
            raise ValueError(f"unknown rate limiter {name!r}; known: {known}") from None

    @classmethod
    def from_settings(cls, settings: Any, redis_url: str | None, namespace: str) -> GatewayContext:
        from tigateway_channels.gateway.ratelimit import RedisRateLimiter

        limiters: dict[str, RateLimiter] = {}
        if redis_url:
            limiters[DEFAULT_LIMITER] = RedisRateLimiter(redis_url, namespace)
        for name, path in (settings.GATEWAY_RATE_LIMITERS or {}).items():
            limiters[name] = import_string(path)()
        header = settings.GATEWAY_SET_STATUS_ORIGINAL_STATUS_HEADER
        return cls(
            key_resolvers=build_key_resolvers(settings.GATEWAY_KEY_RESOLVERS or {}),
            limiters=limiters,
            default_key_resolver=settings.GATEWAY_DEFAULT_KEY_RESOLVER,
            deny_empty_key=bool(settings.GATEWAY_RATE_LIMIT_DENY_EMPTY_KEY),
            empty_key_status=int(settings.GATEWAY_RATE_LIMIT_EMPTY_KEY_STATUS),
            rate_limit_headers=bool(settings.GATEWAY_RATE_LIMIT_HEADERS),
            retry_body_limit=int(settings.GATEWAY_RETRY_BODY_LIMIT_BYTES),
            host_include_port=bool(settings.GATEWAY_HOST_INCLUDE_PORT),
            original_status_header=header.lower().encode("latin-1") if header else None,
        )

    async def close(self) -> None:
        for limiter in self.limiters.values():
            close = getattr(limiter, "close", None)
            if close is not None:
                await close()
