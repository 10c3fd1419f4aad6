"""A metrics message's window: the cluster's ticks from ``first`` to ``first + length - 1``,
and the 6.1 ``metrics`` data they make.

Windows are cut on tick numbers (``slot``), so every worker that reads the same ticks sends the
same figures for the same window, whichever worker its subscriber is on. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tigateway_channels.observability.sketch import ALPHA, Latency
from tigateway_channels.observability.wire import RouteFigures, Tick
from tigateway_channels.protocol.envelope import utc_timestamp

ROUTE_STATUSES = ("active", "inactive", "error", "pending")


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def response_time(latency: Latency) -> dict[str, Any]:
    """6.1's ``response_time`` (ms), plus ``min``, ``p90`` and ``count``; null without requests."""
    return {
        "avg": _round(latency.avg),
        "p50": _round(latency.quantile(0.5)),
        "p90": _round(latency.quantile(0.9)),
        "p95": _round(latency.quantile(0.95)),
        "p99": _round(latency.quantile(0.99)),
        "max": _round(latency.max) if latency.count else None,
        "min": _round(latency.min) if latency.count else None,
        "count": latency.count,
    }


def requests(figures: RouteFigures, seconds: float) -> dict[str, Any]:
    """6.1's ``requests``: ``success`` are 1xx-3xx, ``error`` 4xx, 5xx and requests that got no
    response (``client_error`` and ``server_error`` split it); ``rate`` per second."""
    total = sum(figures.classes)
    return {
        "total": total,
        "success": figures.success,
        "error": figures.client_error + figures.server_error,
        "rate": round(total / seconds, 3) if seconds else 0.0,
        "client_error": figures.client_error,
        "server_error": figures.server_error,
    }


@dataclass
class NodeWindow:
    node: str
    kind: str = ""
    host: str = ""
    stale: bool = False
    last_seen: float | None = None
    requests: int = 0
    cpu_seconds: float = 0.0
    gc_count: float = 0.0
    gc_ms: float = 0.0
    memory_percent: float | None = None
    rss_bytes: float | None = None

    def add(self, entry: dict[str, Any]) -> None:
        self.kind = str(entry.get("kind") or self.kind)
        self.host = str(entry.get("host") or self.host)
        self.stale = bool(entry.get("stale"))
        if isinstance(entry.get("lastSeen"), int | float):
            self.last_seen = float(entry["lastSeen"])
        self.requests += int(entry.get("requests") or 0)
        system = entry.get("system") or {}
        self.cpu_seconds += _number(system.get("cpu"))
        self.gc_count += _number(system.get("gcCount"))
        self.gc_ms += _number(system.get("gcMs"))
        if isinstance(system.get("mem"), int | float):
            self.memory_percent = float(system["mem"])
        if isinstance(system.get("rss"), int | float):
            self.rss_bytes = float(system["rss"])


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


@dataclass
class Window:
    """What the ticks of one window add up to."""

    first: int
    length: int
    seconds: float  # one tick
    routes: dict[str, RouteFigures] = field(default_factory=dict)
    nodes: dict[str, NodeWindow] = field(default_factory=dict)
    slots: set[int] = field(default_factory=set)
    route_status: dict[str, int] | None = None
    late: int = 0
    sent: bool = False

    @property
    def last(self) -> int:
        return self.first + self.length - 1

    def covers(self, slot: int) -> bool:
        return self.first <= slot <= self.last

    def add(self, tick: Tick) -> None:
        self.slots.add(tick.slot)
        for route, figures in tick.routes.items():
            mine = self.routes.get(route)
            if mine is None:
                mine = self.routes[route] = RouteFigures()
            mine.merge(figures)
        for entry in tick.nodes:
            name = str(entry.get("node", ""))
            node = self.nodes.get(name)
            if node is None:
                node = self.nodes[name] = NodeWindow(name)
            node.add(entry)
        if tick.route_status is not None:
            self.route_status = tick.route_status
        self.late += tick.late

    def message(self, routes_limit: int) -> dict[str, Any]:
        """The ``metrics`` message's data: 6.1's figures, the window, the busiest routes and
        every node (see docs/observability.md for what each figure means)."""
        span = self.length * self.seconds
        total = RouteFigures()
        for figures in self.routes.values():
            total.merge(figures)
        start = dt.datetime.fromtimestamp(self.first * self.seconds, dt.UTC)
        end = start + dt.timedelta(seconds=span)
        live = [node for node in self.nodes.values() if not node.stale]
        memory = [n.memory_percent for n in live if n.memory_percent is not None]
        busiest = sorted(self.routes.items(), key=lambda item: (-sum(item[1].classes), item[0]))
        status = self.route_status or {}
        return {
            "timestamp": utc_timestamp(end),
            "metrics": {
                "requests": requests(total, span),
                "response_time": response_time(total.latency),
                "routes": {name: int(status.get(name, 0)) for name in ROUTE_STATUSES},
                "system": {
                    "cpu_usage": round(
                        100.0 * sum(n.cpu_seconds for n in self.nodes.values()) / span, 2
                    ),
                    "memory_usage": round(sum(memory), 2) if memory else None,
                    "gc_count": int(sum(n.gc_count for n in self.nodes.values())),
                    "gc_time": round(sum(n.gc_ms for n in self.nodes.values()), 3),
                },
            },
            "window": {
                "start": utc_timestamp(start),
                "end": utc_timestamp(end),
                "seconds": span,
                "ticks": len(self.slots),
                "complete": len(self.slots) == self.length,
                "lateDeltas": self.late,
            },
            "byRoute": [
                {
                    "routeId": route,
                    "requests": requests(figures, span),
                    "response_time": response_time(figures.latency),
                }
                for route, figures in busiest[:routes_limit]
            ],
            "byRouteTruncated": len(busiest) > routes_limit,
            "nodes": [
                {
                    "node": node.node,
                    "kind": node.kind,
                    "host": node.host,
                    "stale": node.stale,
                    "lastSeen": utc_timestamp(dt.datetime.fromtimestamp(node.last_seen, dt.UTC))
                    if node.last_seen is not None
                    else None,
                    "requests": node.requests,
                    "cpu_usage": round(100.0 * node.cpu_seconds / span, 2),
                    "memory_usage": _round(node.memory_percent, 2),
                    "memory_bytes": int(node.rss_bytes) if node.rss_bytes is not None else None,
                    "gc_count": int(node.gc_count),
                    "gc_time": round(node.gc_ms, 3),
                }
                for node in sorted(self.nodes.values(), key=lambda n: n.node)
            ],
            "relativeError": ALPHA,
        }
