"""Runtime predicates, compiled once from validated definitions (``scg.parse_predicate``).

Each is a callable ``(exchange) -> bool`` with Spring Cloud Gateway's semantics
(spring-cloud-gateway.md §4). Nothing here compiles a regex or parses a date per request.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from tigateway_channels.gateway.exchange import Exchange, header_values
from tigateway_channels.gateway.patterns import HostPattern, PathPattern
from tigateway_channels.scg import Definition
from tigateway_channels.scg.javaregex import compile_java_regex
from tigateway_channels.scg.values import parse_zoned_datetime

Predicate = Callable[[Exchange], bool]


class PathPredicate:
    """Path: the first matching pattern wins and publishes its variables."""

    __slots__ = ("patterns", "trailing_slash")

    def __init__(self, args: dict[str, Any]) -> None:
        self.patterns = tuple(PathPattern(p) for p in args["patterns"])
        self.trailing_slash = bool(args.get("matchTrailingSlash", True))

    @property
    def prefixes(self) -> tuple[tuple[str, ...], ...]:
        return tuple(pattern.prefix for pattern in self.patterns)

    def __call__(self, exchange: Exchange) -> bool:
        segments = exchange.segments
        for pattern in self.patterns:
            if pattern.match(segments, exchange.variables, self.trailing_slash):
                return True
        return False


class HostPredicate:
    """Host: Ant patterns against the Host header (with its port, as SCG's default)."""

    __slots__ = ("include_port", "patterns")

    def __init__(self, args: dict[str, Any], include_port: bool = True) -> None:
        self.patterns = tuple(HostPattern(p) for p in args["patterns"])
        self.include_port = include_port

    @property
    def literals(self) -> tuple[str, ...] | None:
        """Every pattern's literal host, or None when one of them is a real pattern."""
        if self.include_port and all(p.literal is not None for p in self.patterns):
            return tuple(p.literal for p in self.patterns if p.literal is not None)
        return None

    def __call__(self, exchange: Exchange) -> bool:
        host = exchange.host
        if host is None:
            return False
        if not self.include_port:
            host = _strip_port(host)
        for pattern in self.patterns:
            if pattern.match(host, exchange.variables):
                return True
        return False


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def method_predicate(args: dict[str, Any]) -> Predicate:
    methods = frozenset(args["methods"])

    def matches(exchange: Exchange) -> bool:
        return exchange.method in methods

    return matches


def split_header_value(value: str) -> list[str]:
    """Comma-separated pieces, trimmed, empty ones dropped; commas inside quotes are kept."""
    if "," not in value:
        value = value.strip()
        return [value] if value else []
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            pieces.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    pieces.append("".join(current).strip())
    return [piece for piece in pieces if piece]


def header_predicate(args: dict[str, Any]) -> Predicate:
    name = args["header"].lower().encode("latin-1")
    regexp = args.get("regexp")
    pattern = compile_java_regex(regexp) if regexp is not None else None

    def matches(exchange: Exchange) -> bool:
        for raw in header_values(exchange.incoming_headers, name):
            for piece in split_header_value(raw.decode("latin-1")):
                if pattern is None or pattern.fullmatch(piece):
                    return True
        return False

    return matches


def query_params(query: str) -> list[tuple[str, str | None]]:
    """Decoded (name, value) pairs; a parameter without '=' has no value (None)."""
    pairs: list[tuple[str, str | None]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, eq, value = part.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value) if eq else None))
    return pairs


def query_predicate(args: dict[str, Any]) -> Predicate:
    param = args["param"]
    regexp = args.get("regexp")
    pattern = compile_java_regex(regexp) if regexp is not None else None

    def matches(exchange: Exchange) -> bool:
        query = exchange.scope.get("query_string", b"").decode("latin-1")
        if not query:
            return False
        for name, value in query_params(query):
            if name != param:
                continue
            if pattern is None:
                return True
            if value is not None and pattern.fullmatch(value):
                return True
        return False

    return matches


def cookies(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    found = []
    for raw in header_values(headers, b"cookie"):
        for part in raw.decode("latin-1").split(";"):
            name, eq, value = part.strip().partition("=")
            if eq:
                found.append((name.strip(), value.strip()))
    return found


def cookie_predicate(args: dict[str, Any]) -> Predicate:
    wanted = args["name"]
    pattern = compile_java_regex(args["regexp"])

    def matches(exchange: Exchange) -> bool:
        for name, value in cookies(exchange.incoming_headers):
            if name == wanted and pattern.fullmatch(value):
                return True
        return False

    return matches


def remote_addr_predicate(args: dict[str, Any]) -> Predicate:
    networks = tuple(ipaddress.ip_network(source, strict=False) for source in args["sources"])

    def matches(exchange: Exchange) -> bool:
        if exchange.client is None:
            return False
        try:
            address = ipaddress.ip_address(exchange.client)
        except ValueError:
            return False
        return any(address in network for network in networks)

    return matches


def _instant(value: str) -> float:
    return parse_zoned_datetime(value).timestamp()


def after_predicate(args: dict[str, Any]) -> Predicate:
    moment = _instant(args["datetime"])
    return lambda exchange: time.time() > moment


def before_predicate(args: dict[str, Any]) -> Predicate:
    moment = _instant(args["datetime"])
    return lambda exchange: time.time() < moment


def between_predicate(args: dict[str, Any]) -> Predicate:
    first, second = _instant(args["datetime1"]), _instant(args["datetime2"])
    return lambda exchange: first < time.time() < second


class WeightPredicate:
    """True only on the route this request drew for the group (drawn by the route table)."""

    __slots__ = ("group", "route_id", "weight")

    def __init__(self, args: dict[str, Any], route_id: str) -> None:
        self.group = args["weight.group"]
        self.weight = int(args.get("weight.weight", 0))
        self.route_id = route_id

    def __call__(self, exchange: Exchange) -> bool:
        return exchange.weight_choice(self.group) == self.route_id


def compile_predicate(
    definition: Definition, route_id: str, *, host_include_port: bool = True
) -> Predicate:
    """The runtime predicate of one validated definition."""
    name, args = definition.name, definition.args
    if name == "Path":
        return PathPredicate(args)
    if name == "Host":
        return HostPredicate(args, host_include_port)
    if name == "Weight":
        return WeightPredicate(args, route_id)
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"predicate {name!r} has no runtime behaviour")
    return factory(args)


_FACTORIES: dict[str, Callable[[dict[str, Any]], Predicate]] = {
    "Method": method_predicate,
    "Header": header_predicate,
    "Query": query_predicate,
    "Cookie": cookie_predicate,
    "RemoteAddr": remote_addr_predicate,
    "After": after_predicate,
    "Before": before_predicate,
    "Between": between_predicate,
}
