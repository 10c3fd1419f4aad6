"""What crosses processes: a process's ``Delta`` (one round of its figures) and the merger's
``Tick`` (one round of the whole cluster's), each encoded once with orjson.

Pure: no I/O, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tigateway_channels.observability.recorder import SeriesKey
from tigateway_channels.observability.sketch import Latency

WIRE_VERSION = 1
STATUS_CLASSES = 6  # 0 (no response), 1xx ... 5xx


@dataclass(slots=True)
class Delta:
    """One round of one node's figures, as one process hands them to the cluster.

    ``node`` is who served the requests (a gateway process, a worker, an external gateway);
    ``process`` is who reports them (the same process, or the worker that took an external
    report). ``since``/``until`` bound when they were recorded (epoch seconds).
    """

    node: str
    process: str
    kind: str
    host: str
    since: float
    until: float
    series: dict[SeriesKey, Latency] = field(default_factory=dict)
    # cpu (seconds), rss (bytes), mem (percent of the machine), gcCount, gcMs; None for an
    # external report without system figures.
    system: dict[str, Any] | None = None

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": WIRE_VERSION,
                "node": self.node,
                "process": self.process,
                "kind": self.kind,
                "host": self.host,
                "since": self.since,
                "until": self.until,
                "series": [[*key, latency.encode()] for key, latency in self.series.items()],
                "system": self.system,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Delta:
        data = orjson.loads(raw)
        if data.get("v") != WIRE_VERSION:
            raise ValueError(f"unknown delta version {data.get('v')!r}")
        series: dict[SeriesKey, Latency] = {}
        for route, method, klass, encoded in data["series"]:
            series[(str(route), str(method), int(klass))] = Latency.decode(encoded)
        return cls(
            node=str(data["node"]),
            process=str(data["process"]),
            kind=str(data["kind"]),
            host=str(data.get("host") or ""),
            since=float(data["since"]),
            until=float(data["until"]),
            series=series,
            system=data.get("system"),
        )


@dataclass(slots=True)
class RouteFigures:
    """One route over some time: requests per status class, and their latency."""

    classes: list[int] = field(default_factory=lambda: [0] * STATUS_CLASSES)
    latency: Latency = field(default_factory=Latency)

    def add(self, klass: int, latency: Latency) -> None:
        self.classes[klass] += latency.count
        self.latency.merge(latency)

    def merge(self, other: RouteFigures) -> None:
        for klass, n in enumerate(other.classes):
            self.classes[klass] += n
        self.latency.merge(other.latency)

    @property
    def success(self) -> int:
        return self.classes[1] + self.classes[2] + self.classes[3]

    @property
    def client_error(self) -> int:
        return self.classes[4]

    @property
    def server_error(self) -> int:
        return self.classes[5] + self.classes[0]

    def encode(self) -> list[Any]:
        return [self.classes, self.latency.encode()]

    @classmethod
    def decode(cls, data: Any) -> RouteFigures:
        classes, latency = data
        if len(classes) != STATUS_CLASSES:
            raise ValueError("a route's figures need one count per status class")
        return cls([int(n) for n in classes], Latency.decode(latency))


@dataclass(slots=True)
class Tick:
    """One round of the whole cluster, merged by the elected merger.

    ``slot`` numbers rounds (``floor(epoch seconds / seconds)``), so every worker that reads
    the same ticks cuts the same windows. ``nodes`` describes every node heard from lately:
    ``{"node", "kind", "host", "lastSeen", "stale", "requests", "system"}`` where ``system``
    holds this round's CPU seconds and collections and the latest memory.
    """

    deployment: str
    slot: int
    seconds: float
    routes: dict[str, RouteFigures] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    route_status: dict[str, int] | None = None
    late: int = 0

    @property
    def start(self) -> float:
        return self.slot * self.seconds

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": WIRE_VERSION,
                "deployment": self.deployment,
                "slot": self.slot,
                "seconds": self.seconds,
                "routes": {route: figures.encode() for route, figures in self.routes.items()},
                "nodes": self.nodes,
                "routeStatus": self.route_status,
                "late": self.late,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Tick:
        data = orjson.loads(raw)
        if data.get("v") != WIRE_VERSION:
            raise ValueError(f"unknown tick version {data.get('v')!r}")
        return cls(
            deployment=str(data["deployment"]),
            slot=int(data["slot"]),
            seconds=float(data["seconds"]),
            routes={
                str(route): RouteFigures.decode(figures)
                for route, figures in data["routes"].items()
            },
            nodes=list(data.get("nodes") or []),
            route_status=data.get("routeStatus"),
            late=int(data.get("late") or 0),
        )
