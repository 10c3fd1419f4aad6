"""What a ``metrics_query`` may ask (the API document's 6.2): the metrics, their
aggregations and groups, and the reading of a request's ``data`` into a ``MetricsQuery``.
Pure: no database (``metrics_query.py`` answers it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tigateway_channels.observability.query_fields import (
    TimeRange,
    invalid,
    string_list,
    time_range,
)
from tigateway_channels.protocol.json_values import is_integer

REQUEST_GROUPS = ("route_id", "method", "status_class", "node")
COUNTER = ("sum", "count", "rate")
DISTRIBUTION = ("avg", "count", "sum", "min", "max", "rate", "p50", "p90", "p95", "p99")
GAUGE = ("avg", "min", "max")
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
ALL_CLASSES = (0, 1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # requests, latency, cpu, memory, counter (gc), routes
    aggregations: tuple[str, ...]
    default: str
    unit: str
    group_by: tuple[str, ...] = ()
    classes: tuple[int, ...] = ALL_CLASSES
    sample: str = ""


def _requests(name: str, classes: tuple[int, ...], default: str = "sum") -> Metric:
    aggregations = ("rate",) if default == "rate" else COUNTER
    return Metric(name, "requests", aggregations, default, "requests", REQUEST_GROUPS, classes)


METRICS = {
    metric.name: metric
    for metric in (
        _requests("requests", ALL_CLASSES),
        _requests("requests.total", ALL_CLASSES),
        _requests("requests.success", (1, 2, 3)),
        _requests("requests.error", (0, 4, 5)),
        _requests("requests.client_error", (4,)),
        _requests("requests.server_error", (0, 5)),
        _requests("requests.rate", ALL_CLASSES, "rate"),
        Metric("response_time", "latency", DISTRIBUTION, "avg", "ms", REQUEST_GROUPS),
        Metric("system.cpu_usage", "cpu", GAUGE, "avg", "percent", ("node",), sample="cpu_seconds"),
        Metric(
            "system.memory_usage",
            "memory",
            GAUGE,
            "avg",
            "percent",
            ("node",),
            sample="memory_percent",
        ),
        Metric(
            "system.gc_count",
            "counter",
            COUNTER,
            "sum",
            "collections",
            ("node",),
            sample="gc_count",
        ),
        Metric(
            "system.gc_time", "counter", ("sum", "rate"), "sum", "ms", ("node",), sample="gc_ms"
        ),
        *(
            Metric(f"routes.{status}", "routes", GAUGE, "avg", "routes", sample=f"routes_{status}")
            for status in ("active", "inactive", "error", "pending")
        ),
    )
}

_STEP = re.compile(r"^(\d{1,7})(s|m|h|d)$")
_STEP_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class MetricsQuery:
    metric: Metric
    aggregation: str
    group_by: tuple[str, ...]
    range: TimeRange
    step: int | None
    filters: dict[str, list[Any]] = field(default_factory=dict)


def parse_step(value: Any) -> int | None:
    """Seconds, as an integer or a string such as ``10s``, ``5m``, ``1h``, ``1d``; a multiple
    of 10 s (the finest resolution)."""
    if value is None:
        return None
    seconds: int | None = None
    if is_integer(value):
        seconds = value
    elif isinstance(value, str) and (match := _STEP.match(value)):
        seconds = int(match[1]) * _STEP_UNITS[match[2]]
    if seconds is None or seconds < 10 or seconds % 10:
        raise invalid(
            "step", value, "must be a number of seconds (or 10s, 5m, 1h, 1d), a multiple of 10"
        )
    return seconds


def parse_metrics_query(data: dict[str, Any]) -> MetricsQuery:
    name = data.get("metric")
    if not isinstance(name, str) or name not in METRICS:
        raise invalid("metric", name, f"must be one of {', '.join(METRICS)}")
    metric = METRICS[name]
    aggregation = data.get("aggregation", metric.default)
    if aggregation not in metric.aggregations:
        raise invalid(
            "aggregation",
            aggregation,
            f"{name} can be aggregated by {', '.join(metric.aggregations)}",
        )
    group_by = string_list(data, "groupBy", REQUEST_GROUPS, limit=4) or []
    for position, group in enumerate(group_by):
        if group not in metric.group_by:
            allowed = ", ".join(metric.group_by) or "nothing"
            raise invalid(f"groupBy[{position}]", group, f"{name} can be grouped by {allowed}")
    filters: dict[str, list[Any]] = {}
    spec = data.get("filters")
    if spec is not None:
        if not isinstance(spec, dict):
            raise invalid("filters", spec, "must be an object")
        for key in spec:
            if key not in ("routeIds", "methods", "nodes", "statusClasses"):
                raise invalid(
                    f"filters.{key[:64]}",
                    spec[key],
                    "unknown filter; accepted: routeIds, methods, nodes, statusClasses",
                )
            if key != "nodes" and metric.kind not in ("requests", "latency"):
                raise invalid(f"filters.{key}", spec[key], f"{name} has no {key}")
            if key == "nodes" and "node" not in metric.group_by:
                raise invalid(f"filters.{key}", spec[key], f"{name} has no nodes")
        for key in ("routeIds", "methods", "nodes"):
            values = string_list(spec, key, limit=1000)
            if values is not None:
                filters[key] = values
        classes = string_list(
            spec, "statusClasses", ("none", "1xx", "2xx", "3xx", "4xx", "5xx"), limit=6
        )
        if classes is not None:
            filters["statusClasses"] = [0 if c == "none" else int(c[0]) for c in classes]
    return MetricsQuery(
        metric,
        aggregation,
        tuple(group_by),
        time_range(data),
        parse_step(data.get("step")),
        filters,
    )
