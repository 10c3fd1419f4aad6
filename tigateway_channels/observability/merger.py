"""The elected merger: one process per deployment turns every process's deltas into one tick
per round, so the cost of the live figures grows with processes, not with workers x subscribers.

A worker competes for the merger's lease (``ObservabilityBackend.lead``) while it has ``metrics``
subscribers; the holder renews it every round and, after each round, reads the deltas appended
since the last committed tick, merges them by route, adds what it knows of every node (from the
node descriptions each process leaves: stale after ``METRICS_STALE_SECONDS`` of silence, left out
after ``METRICS_NODE_FORGET_SECONDS``) and the route counts, and commits the tick with the new
cursor in one atomic step. A merger that loses its lease mid-round commits nothing, so a delta is
counted in exactly one tick whoever merges it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from tigateway_channels.conf import tigw_settings
from tigateway_channels.observability.backends import ObservabilityBackend
from tigateway_channels.observability.wire import Delta, RouteFigures, Tick

logger = logging.getLogger(__name__)

DELTAS_PER_ROUND = 100_000
# Deltas this many rounds old are counted as late: persisted, but not in the live stream.
LATE_ROUNDS = 30


def lease_seconds() -> float:
    """How long a silent merger keeps the lease: three rounds, at least two seconds."""
    return max(2.0, 3 * tigw_settings.METRICS_FLUSH_SECONDS)


class Merger:
    def __init__(self, backend: ObservabilityBackend, me: str, deployment: str) -> None:
        self._backend = backend
        self._me = me
        self._deployment = deployment
        self.leading = False

    def resign(self) -> None:
        if self.leading:
            self.leading = False
            self._backend.resign(self._me)

    def round(self, slot: int, route_status: dict[str, int] | None) -> Tick | None:
        """Merge and commit tick ``slot`` if this process holds the lease (sync: a thread)."""
        backend = self._backend
        self.leading = backend.lead(self._me, lease_seconds())
        if not self.leading:
            return None
        seconds = tigw_settings.METRICS_FLUSH_SECONDS
        expected = backend.cursor()
        entries = backend.read_deltas(expected, DELTAS_PER_ROUND)
        tick = Tick(self._deployment, slot, seconds, route_status=route_status)
        now = time.time()
        activity: dict[str, dict[str, Any]] = {}
        for _entry_id, raw in entries:
            try:
                delta = Delta.decode(raw)
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
                logger.warning("Dropped a metrics delta that could not be read")
                continue
            if delta.until < now - LATE_ROUNDS * seconds:
                tick.late += 1
                continue
            node = activity.setdefault(delta.node, {"requests": 0, "system": {}})
            for (route, _method, klass), latency in delta.series.items():
                figures = tick.routes.get(route)
                if figures is None:
                    figures = tick.routes[route] = RouteFigures()
                figures.add(klass, latency)
                node["requests"] += latency.count
            _add_system(node["system"], delta.system)
        tick.nodes = self._nodes(activity, now)
        cursor = entries[-1][0] if entries else expected
        if not backend.commit_tick(self._me, expected, cursor, tick.encode()):
            self.leading = False
            return None
        return tick

    def _nodes(self, activity: dict[str, dict[str, Any]], now: float) -> list[dict[str, Any]]:
        """Every node heard from within the forget horizon, with this round's activity."""
        stale_after = tigw_settings.METRICS_STALE_SECONDS
        forget_after = tigw_settings.METRICS_NODE_FORGET_SECONDS
        known: dict[str, dict[str, Any]] = {}
        forgotten = []
        for key, raw in self._backend.nodes().items():
            try:
                description = orjson.loads(raw)
                last_seen = float(description["lastSeen"])
                name = str(description["node"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                forgotten.append(key)
                continue
            if now - last_seen > forget_after:
                forgotten.append(key)
                continue
            entry = known.get(name)
            if entry is None or last_seen > entry["lastSeen"]:
                known[name] = {
                    "node": name,
                    "kind": description.get("kind", ""),
                    "host": description.get("host", ""),
                    "lastSeen": last_seen,
                }
        if forgotten:
            self._backend.forget_nodes(forgotten)
        for name in activity:
            known.setdefault(name, {"node": name, "kind": "", "host": "", "lastSeen": now})
        nodes = []
        for name, entry in sorted(known.items()):
            mine = activity.get(name, {"requests": 0, "system": {}})
            nodes.append(
                {
                    **entry,
                    "stale": now - entry["lastSeen"] > stale_after,
                    "requests": mine["requests"],
                    "system": mine["system"],
                }
            )
        return nodes


def _add_system(into: dict[str, Any], system: dict[str, Any] | None) -> None:
    """Counters add up over the round; memory is the latest report."""
    for name, value in (system or {}).items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if name in ("cpu", "gcCount", "gcMs"):
            into[name] = into.get(name, 0) + value
        else:
            into[name] = value
