"""The Prometheus text format of the cluster's figures, without prometheus_client's files.

Each process keeps its own totals since it started (``NodeTotals``) and leaves them in the
backend every round, replacing the previous ones; the endpoint reads every node's latest
totals and writes them with a ``node`` label. A node's counters only grow while it lives, so
``rate()`` and ``sum by (...)`` in PromQL give the cluster's rates; a restarted process is a
new node (its name carries its pid), which Prometheus handles like any restarted target.

Histogram buckets come from the latency sketch: a request counts under the first ``le``
boundary at or above its sketch bucket's representative, so one within 1% of a boundary may be
counted on either side of it.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable
from typing import Any

import orjson

from tigateway_channels.observability.recorder import SeriesKey
from tigateway_channels.observability.sketch import Latency, bucket_value
from tigateway_channels.observability.wire import Delta

# Prometheus's default histogram boundaries, in milliseconds (exposed in seconds).
LE_MS = (5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class SeriesTotals:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(LE_MS) + 1)  # per boundary, not cumulative; last: +Inf

    def add(self, latency: Latency) -> None:
        self.count += latency.count
        self.sum += latency.sum
        self.buckets[0] += latency.zeros
        for index, n in latency.bins.items():
            self.buckets[bisect.bisect_left(LE_MS, bucket_value(index))] += n


class NodeTotals:
    """One node's totals since this process began reporting it."""

    def __init__(self, node: str, kind: str, via: str | None) -> None:
        # ``via``: the process an external gateway reported to (each keeps its own totals).
        self.node, self.kind, self.via = node, kind, via
        self.series: dict[SeriesKey, SeriesTotals] = {}
        self.system = {"cpu": 0.0, "gcCount": 0.0, "gcMs": 0.0}
        self.rss: float | None = None
        self.memory_percent: float | None = None
        self.logs_dropped = 0

    def add(self, delta: Delta) -> None:
        for key, latency in delta.series.items():
            totals = self.series.get(key)
            if totals is None:
                totals = self.series[key] = SeriesTotals()
            totals.add(latency)
        system = delta.system or {}
        for name in self.system:
            value = system.get(name)
            if isinstance(value, int | float):
                self.system[name] += value
        if isinstance(system.get("rss"), int | float):
            self.rss = float(system["rss"])
        if isinstance(system.get("mem"), int | float):
            self.memory_percent = float(system["mem"])

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "node": self.node,
                "kind": self.kind,
                "via": self.via,
                "updated": time.time(),
                "series": [
                    [*key, totals.count, totals.sum, totals.buckets]
                    for key, totals in self.series.items()
                ],
                "system": {
                    **self.system,
                    "rss": self.rss,
                    "mem": self.memory_percent,
                    "logsDropped": self.logs_dropped,
                },
            }
        )


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _status(klass: int) -> str:
    return f"{klass}xx" if klass else "none"


def render(totals: Iterable[bytes], route_status: dict[str, int] | None, since: float = 0.0) -> str:
    """The exposition text of every node's totals updated after ``since`` (epoch seconds),
    and the route counts."""
    nodes = []
    for raw in totals:
        try:
            node = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(node, dict) and float(node.get("updated") or 0) > since:
            nodes.append(node)
    nodes.sort(key=lambda n: str(n.get("node")))
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    family(
        "tigateway_requests_total",
        "counter",
        "Requests served, by node, route, method and status class.",
    )
    for node in nodes:
        for route, method, klass, count, _sum, _buckets in node.get("series", ()):
            labels = _series_labels(node, route, method, klass)
            lines.append(f"tigateway_requests_total{{{labels}}} {count}")
    family(
        "tigateway_request_duration_seconds",
        "histogram",
        "Time from a request's arrival to the end of its response.",
    )
    for node in nodes:
        for route, method, klass, count, total_ms, buckets in node.get("series", ()):
            labels = _series_labels(node, route, method, klass)
            running = 0
            for bound, n in zip((*LE_MS, math.inf), buckets, strict=True):
                running += n
                le = "+Inf" if math.isinf(bound) else _number(bound / 1000.0)
                lines.append(
                    f'tigateway_request_duration_seconds_bucket{{{labels},le="{le}"}} {running}'
                )
            lines.append(
                f"tigateway_request_duration_seconds_sum{{{labels}}} {_number(total_ms / 1000)}"
            )
            lines.append(f"tigateway_request_duration_seconds_count{{{labels}}} {count}")
    for name, key, kind, scale, help_text in (
        (
            "tigateway_process_cpu_seconds_total",
            "cpu",
            "counter",
            1.0,
            "CPU time (user and system) of the node's process.",
        ),
        ("tigateway_gc_collections_total", "gcCount", "counter", 1.0, "Garbage collections."),
        (
            "tigateway_gc_seconds_total",
            "gcMs",
            "counter",
            0.001,
            "Time spent in garbage collection.",
        ),
        (
            "tigateway_process_resident_memory_bytes",
            "rss",
            "gauge",
            1.0,
            "Resident memory of the node's process.",
        ),
        (
            "tigateway_log_records_dropped_total",
            "logsDropped",
            "counter",
            1.0,
            "Log records dropped because the log stream's queue was full.",
        ),
    ):
        family(name, kind, help_text)
        for node in nodes:
            value = (node.get("system") or {}).get(key)
            if isinstance(value, int | float):
                lines.append(f"{name}{{{_node_labels(node)}}} {_number(value * scale)}")
    family(
        "tigateway_node_last_report_seconds",
        "gauge",
        "When the node last reported (Unix time).",
    )
    for node in nodes:
        if isinstance(node.get("updated"), int | float):
            lines.append(
                f"tigateway_node_last_report_seconds{{{_node_labels(node)}}} "
                f"{_number(round(node['updated'], 3))}"
            )
    if route_status is not None:
        family("tigateway_routes", "gauge", "Routes by status.")
        for status, count in sorted(route_status.items()):
            lines.append(f'tigateway_routes{{status="{_label(status.upper())}"}} {count}')
    return "\n".join(lines) + "\n"


def _node_labels(node: dict[str, Any]) -> str:
    labels = f'node="{_label(node.get("node", ""))}",kind="{_label(node.get("kind", ""))}"'
    if node.get("via"):
        labels += f',via="{_label(node["via"])}"'
    return labels


def _series_labels(node: dict[str, Any], route: str, method: str, klass: int) -> str:
    return (
        f'{_node_labels(node)},route="{_label(route)}",method="{_label(method)}",'
        f'status="{_status(int(klass))}"'
    )
