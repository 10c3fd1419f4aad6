"""The route table: compiled ACTIVE routes in order, an index over them, and Weight groups.

A ``RouteTable`` is immutable. The follower builds a new one for every change and swaps one
reference, so a request sees either the old table or the new one, never a half-applied
change. ``TableBuilder`` keeps the compiled form of each route between builds: a change
recompiles only the route that changed.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tigateway_channels.gateway.chain import FilterChain, GatewayFilter
from tigateway_channels.gateway.context import GatewayContext
from tigateway_channels.gateway.exchange import Exchange
from tigateway_channels.gateway.filters import compile_filter
from tigateway_channels.gateway.index import RouteIndex, candidates, sort_key
from tigateway_channels.gateway.predicates import (
    HostPredicate,
    PathPredicate,
    Predicate,
    WeightPredicate,
    compile_predicate,
)
from tigateway_channels.scg import Definition, parse_filters, parse_predicates

logger = logging.getLogger(__name__)

ACTIVE = "ACTIVE"
# A ws(s):// route also serves plain HTTP requests, over http(s).
_HTTP = {"ws": "http", "wss": "https"}
_CONNECT_KEYS = ("connect-timeout", "connectTimeout")
_READ_KEYS = ("response-timeout", "responseTimeout", "read-timeout", "readTimeout")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a route sends requests: ``url`` (scheme://host:port), ``lb`` or ``forward``."""

    kind: str
    scheme: str = "http"
    host: str = ""
    port: int | None = None
    service: str = ""
    path: str = ""

    def origin(self, scheme: str | None = None) -> str:
        """``scheme://host:port`` of a ``url`` target (``scheme`` overrides the URI's)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme or self.scheme}://{host}" + (f":{self.port}" if self.port else "")


def parse_target(uri: str) -> Target:
    """A validated route ``uri`` as a target (``scg.uri`` normalised it)."""
    if uri.startswith("forward:"):
        rest = uri[len("forward:") :]
        return Target("forward", path=rest[2:] if rest.startswith("///") else rest)
    if uri.startswith("lb:"):
        scheme, _, rest = uri[3:].rpartition("//")
        scheme = scheme.rstrip(":") or "http"
        service = rest.split("/", 1)[0].split("?", 1)[0]
        return Target("lb", scheme=scheme, service=service)
    parts = urlsplit(uri)
    return Target("url", scheme=parts.scheme, host=parts.hostname or "", port=parts.port)


def _timeout(metadata: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    """SCG's per-route metadata, in milliseconds; a negative response timeout disables it."""
    for key in keys:
        if key in metadata:
            try:
                value = float(metadata[key])
            except (TypeError, ValueError):
                return None
            return value / 1000 if value >= 0 else float("inf")
    return None


def merge_filters(
    global_filters: list[Definition], route_filters: list[Definition]
) -> list[Definition]:
    """SCG's order: global filter #k and route filter #k both have order k; a stable sort puts
    the global one first (so global #2 runs after route #1)."""
    merged: list[tuple[int, int, Definition]] = [
        (position, 0, definition) for position, definition in enumerate(global_filters)
    ]
    merged += [(position, 1, definition) for position, definition in enumerate(route_filters)]
    merged.sort(key=lambda item: (item[0], item[1]))
    return [definition for _, _, definition in merged]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRoute:
    id: str
    order: int
    target: Target
    predicates: tuple[Predicate, ...]
    chain: FilterChain
    connect_timeout: float | None
    read_timeout: float | None
    path_prefixes: tuple[tuple[str, ...], ...] | None
    host_literals: tuple[str, ...] | None
    weight: tuple[str, int] | None
    source: Mapping[str, Any]
    http_origin: str  # scheme://host:port of a url target for plain HTTP ('' otherwise)

    def matches(self, exchange: Exchange) -> bool:
        for predicate in self.predicates:
            if not predicate(exchange):
                return False
        return True


def compile_route(
    route: Mapping[str, Any], global_filters: list[Definition], context: GatewayContext
) -> CompiledRoute:
    """Compile one route (as routes travel: ``id``, ``uri``, ``predicates``, ...); raises on a
    route this gateway cannot serve."""
    route_id = str(route["id"])
    definitions = parse_predicates(route.get("predicates") or [])
    predicates = tuple(
        compile_predicate(d, route_id, host_include_port=context.host_include_port)
        for d in definitions
    )
    filters = merge_filters(global_filters, parse_filters(route.get("filters") or []))
    chain = FilterChain(tuple(compile_filter(d, route_id, context) for d in filters))
    path = next((p for p in predicates if isinstance(p, PathPredicate)), None)
    host = next((p for p in predicates if isinstance(p, HostPredicate)), None)
    weight = next((p for p in predicates if isinstance(p, WeightPredicate)), None)
    metadata = route.get("metadata") or {}
    target = parse_target(str(route["uri"]))
    return CompiledRoute(
        id=route_id,
        order=int(route.get("order") or 0),
        target=target,
        predicates=predicates,
        chain=chain,
        connect_timeout=_timeout(metadata, _CONNECT_KEYS),
        read_timeout=_timeout(metadata, _READ_KEYS),
        path_prefixes=path.prefixes if path is not None else None,
        host_literals=host.literals if host is not None else None,
        weight=(weight.group, weight.weight) if weight is not None else None,
        source=route,
        http_origin=target.origin(_HTTP.get(target.scheme)) if target.kind == "url" else "",
    )


class RouteTable:
    """Immutable: the routes in order (``order`` ascending, then id), indexed.

    ``changed`` derives the next table from this one, sharing what the change does not touch.
    """

    __slots__ = ("_by_id", "_index", "_ordered", "_weighted", "_weights", "failed")

    def __init__(
        self, routes: Iterable[CompiledRoute] = (), failed: Mapping[str, str] | None = None
    ) -> None:
        self._by_id: dict[str, CompiledRoute] = {route.id: route for route in routes}
        self.failed = dict(failed or {})
        self._index = RouteIndex(self._by_id.values())
        self._weighted = {r.id: r for r in self._by_id.values() if r.weight is not None}
        self._weights = _weight_groups(self._weighted.values())
        self._ordered: tuple[CompiledRoute, ...] | None = None

    def changed(
        self, upserts: Iterable[CompiledRoute], removed: Iterable[str], failed: Mapping[str, str]
    ) -> RouteTable:
        """The table with ``upserts`` added or replacing routes of the same id, and the routes
        of ``removed`` ids taken out."""
        upserts = list(upserts)
        gone = [self._by_id[i] for i in {*removed, *(r.id for r in upserts)} if i in self._by_id]
        table = RouteTable.__new__(RouteTable)
        table._by_id = dict(self._by_id)
        for route in gone:
            del table._by_id[route.id]
        table._by_id.update((route.id, route) for route in upserts)
        table.failed = dict(failed)
        table._index = self._index.changed(gone, upserts)
        table._weighted = dict(self._weighted)
        for route in gone:
            table._weighted.pop(route.id, None)
        table._weighted.update((r.id, r) for r in upserts if r.weight is not None)
        weights_changed = any(r.weight is not None for r in (*gone, *upserts))
        table._weights = (
            _weight_groups(table._weighted.values()) if weights_changed else self._weights
        )
        table._ordered = None
        return table

    @property
    def routes(self) -> tuple[CompiledRoute, ...]:
        """Every route in table order (built on demand; the hot path uses the index)."""
        if self._ordered is None:
            self._ordered = tuple(sorted(self._by_id.values(), key=sort_key))
        return self._ordered

    def __len__(self) -> int:
        return len(self._by_id)

    def lookup(self, exchange: Exchange) -> CompiledRoute | None:
        """The first route, in order, whose predicates all hold."""
        exchange.table = self
        for route in candidates(self._index, exchange.host, exchange.segments):
            if exchange.variables:
                exchange.variables = {}
            if route.matches(exchange):
                exchange.route = route
                return route
        return None

    def draw_weight(self, group: str, draw: float) -> str | None:
        """The route a uniform draw in [0, 1) picks in a Weight group (None if all weigh 0)."""
        found = self._weights.get(group)
        if found is None:
            return None
        bounds, ids = found
        total = bounds[-1]
        if total <= 0:
            return None
        return ids[bisect.bisect_right(bounds, draw * total)]


def _weight_groups(
    routes: Iterable[CompiledRoute],
) -> dict[str, tuple[list[float], list[str]]]:
    """Cumulative weights per group, the group's routes in table order."""
    groups: dict[str, tuple[list[float], list[str]]] = {}
    for route in sorted(routes, key=sort_key):
        assert route.weight is not None
        group, weight = route.weight
        bounds, ids = groups.setdefault(group, ([], []))
        bounds.append((bounds[-1] if bounds else 0.0) + weight)
        ids.append(route.id)
    return groups


class TableBuilder:
    """The follower's state: routes and global filters by source, compiled on demand.

    A change marks its route dirty; ``build`` compiles only dirty routes and makes a new table
    of the compiled ACTIVE ones, so a change costs one compile plus a sort and an index build,
    whatever the size of the table.
    """

    def __init__(self, context: GatewayContext) -> None:
        self.context = context
        self.routes: dict[str, Mapping[str, Any]] = {}
        self.global_filters: dict[str, list[Any]] = {}
        self._active: dict[str, CompiledRoute] = {}
        self._failed: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._globals: list[Definition] | None = None
        self._table: RouteTable | None = None  # the last table built, to derive the next from

    def reset(
        self, routes: Iterable[Mapping[str, Any]], global_filters: Mapping[str, list[Any]]
    ) -> None:
        self.routes = {str(route["id"]): route for route in routes}
        self.global_filters = dict(global_filters)
        self._globals = None
        self._recompile_all()

    def _recompile_all(self) -> None:
        self._active.clear()
        self._failed.clear()
        self._dirty = set(self.routes)
        self._table = None

    def put_route(self, route: Mapping[str, Any]) -> None:
        route_id = str(route["id"])
        self.routes[route_id] = route
        self._dirty.add(route_id)

    def delete_route(self, route_id: str) -> None:
        self.routes.pop(route_id, None)
        self._dirty.add(route_id)

    def set_global_filters(self, config_id: str, filters: list[Any] | None) -> None:
        old = self.global_filters.get(config_id)
        if filters:
            self.global_filters[config_id] = list(filters)
        else:
            self.global_filters.pop(config_id, None)
        if self.global_filters.get(config_id) != old:
            self._globals = None
            self._recompile_all()

    def _global_definitions(self) -> list[Definition]:
        """Every route_config's globalFilters, configs in id order, each in its own order."""
        if self._globals is None:
            definitions: list[Definition] = []
            for config_id in sorted(self.global_filters):
                try:
                    definitions += parse_filters(self.global_filters[config_id])
                except ValueError as exc:
                    logger.error("globalFilters of route_config %s ignored: %s", config_id, exc)
            self._globals = definitions
        return self._globals

    def build(self) -> RouteTable:
        globals_ = self._global_definitions()
        upserts: list[CompiledRoute] = []
        removed: list[str] = []
        for route_id in self._dirty:
            if self._active.pop(route_id, None) is not None:
                removed.append(route_id)
            self._failed.pop(route_id, None)
            route = self.routes.get(route_id)
            if route is None or route.get("status", ACTIVE) != ACTIVE:
                continue
            try:
                compiled = compile_route(route, globals_, self.context)
            except Exception as exc:
                logger.error("Route %s cannot be served and is skipped: %s", route_id, exc)
                self._failed[route_id] = str(exc)
                continue
            self._active[route_id] = compiled
            upserts.append(compiled)
        self._dirty = set()
        if self._table is None:
            self._table = RouteTable(self._active.values(), self._failed)
        else:
            self._table = self._table.changed(upserts, removed, self._failed)
        return self._table


__all__ = [
    "CompiledRoute",
    "GatewayFilter",
    "RouteTable",
    "TableBuilder",
    "Target",
    "compile_route",
    "merge_filters",
    "parse_target",
]
