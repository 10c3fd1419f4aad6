"""``metrics_query`` (the API document's 6.2) over the persisted buckets.

A query names a ``metric``, a ``timeRange``, an ``aggregation`` and a ``groupBy``; with a
``step`` it answers a series of points, without one a total per group. It reads one resolution
(10 s, 1 min or 1 h): the finest whose retention reaches the start of the range and that cuts
the range into at most ``MAX_BUCKETS`` buckets (and divides the step); the reply names it, the
range it actually covers (whole buckets), and whether part of the range was past retention.
Percentiles merge the sketches of every row they cover, never average percentiles.

Sync code (the ORM): handlers call it through a thread.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from tigateway_channels.conf import tigw_settings
from tigateway_channels.models import MetricBucket, MetricSample
from tigateway_channels.observability.buckets import RESOLUTIONS, moment, retention_seconds
from tigateway_channels.observability.query_fields import (
    TimeRange,
    invalid,
    string_list,
    time_range,
)
from tigateway_channels.observability.sketch import ALPHA, Latency
from tigateway_channels.protocol.envelope import utc_timestamp
from tigateway_channels.protocol.json_values import is_integer

# Buckets of the chosen resolution a range may span before a coarser one is used.
MAX_BUCKETS = 1500
DEFAULT_RANGE_SECONDS = 3600
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


@dataclass(frozen=True)
class Plan:
    """Which resolution answers, over which whole buckets, and what retention cut off."""

    resolution: int
    start: int
    end: int
    partial: bool
    retained_from: int


def plan(query: MetricsQuery, now: float) -> Plan:
    end = min(query.range.end.timestamp(), now) if query.range.end else now
    start = query.range.start.timestamp() if query.range.start else end - DEFAULT_RANGE_SECONDS
    if start >= end:
        raise invalid("timeRange.start", utc_timestamp(moment(start)), "is not in the past")
    fitting = [r for r in RESOLUTIONS if query.step is None or query.step % r == 0]
    chosen = None
    for resolution in fitting:
        retained = now - retention_seconds(resolution) <= start
        if retained and (end - start) / resolution <= MAX_BUCKETS:
            chosen = resolution
            break
    if chosen is None:  # nothing reaches the start: the coarsest the step allows
        chosen = fitting[-1]
    grain = query.step or chosen
    first = int(start // grain) * grain
    last = math.ceil(end / grain) * grain
    retained_from = int(now - retention_seconds(chosen))
    return Plan(chosen, first, last, first < retained_from, retained_from)


@dataclass
class Figures:
    """What the rows of one group and one point add up to."""

    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    latency: Latency | None = None
    # Samples: per bucket start, per (node, process): [count, sum].
    buckets: dict[int, dict[tuple[str, str], list[float]]] = field(default_factory=dict)


def run_metrics_query(query: MetricsQuery, now: float | None = None) -> dict[str, Any]:
    now = now if now is not None else dt.datetime.now(dt.UTC).timestamp()
    where = plan(query, now)
    if query.step is not None:
        points = (where.end - where.start) // query.step
        if points > tigw_settings.METRICS_QUERY_MAX_POINTS:
            raise invalid(
                "step",
                query.step,
                f"makes {points} points over this range; at most "
                f"{tigw_settings.METRICS_QUERY_MAX_POINTS} are answered",
            )
    if query.metric.kind in ("requests", "latency"):
        groups = _read_buckets(query, where)
    else:
        groups = _read_samples(query, where)
    series, truncated = _series(query, where, groups)
    result: dict[str, Any] = {
        "metric": query.metric.name,
        "aggregation": query.aggregation,
        "unit": _unit(query),
        "groupBy": list(query.group_by),
        "timeRange": {
            "start": utc_timestamp(query.range.start) if query.range.start else None,
            "end": utc_timestamp(query.range.end) if query.range.end else None,
        },
        "covered": {
            "start": utc_timestamp(moment(where.start)),
            "end": utc_timestamp(moment(where.end)),
        },
        "resolution": where.resolution,
        "step": query.step,
        "partial": where.partial,
        "retainedFrom": utc_timestamp(moment(where.retained_from)),
        "series": series,
        "truncated": truncated,
    }
    if query.aggregation in PERCENTILES:
        result["relativeError"] = ALPHA
    return result


def _unit(query: MetricsQuery) -> str:
    if query.aggregation == "rate":
        return f"{query.metric.unit}/s" if query.metric.kind == "counter" else "requests/s"
    if query.metric.kind == "latency" and query.aggregation == "count":
        return "requests"
    return query.metric.unit


GroupKey = tuple[Any, ...]


def _point(query: MetricsQuery, where: Plan, start: float) -> int:
    return int((start - where.start) // query.step) if query.step else 0


def _read_buckets(query: MetricsQuery, where: Plan) -> dict[GroupKey, dict[int, Figures]]:
    rows = MetricBucket.objects.filter(
        resolution=where.resolution, start__gte=moment(where.start), start__lt=moment(where.end)
    )
    classes = query.filters.get("statusClasses")
    wanted = [c for c in query.metric.classes if classes is None or c in classes]
    if len(wanted) < len(ALL_CLASSES):
        rows = rows.filter(status_class__in=wanted)
    if "routeIds" in query.filters:
        rows = rows.filter(route_id__in=query.filters["routeIds"])
    if "methods" in query.filters:
        rows = rows.filter(method__in=query.filters["methods"])
    if "nodes" in query.filters:
        rows = rows.filter(node__in=query.filters["nodes"])
    sketches = query.aggregation in PERCENTILES
    columns = [*query.group_by, "start", "count", "sum_ms", "min_ms", "max_ms"]
    if sketches:
        columns.append("sketch")
    width = len(query.group_by)
    groups: dict[GroupKey, dict[int, Figures]] = {}
    for row in rows.values_list(*columns).iterator(chunk_size=5000):
        key = tuple(row[:width])
        start, count, total, low, high = row[width : width + 5]
        figures = groups.setdefault(key, {}).setdefault(
            _point(query, where, start.timestamp()), Figures()
        )
        figures.count += count
        figures.sum += total
        figures.min = min(figures.min, low)
        figures.max = max(figures.max, high)
        if sketches:
            if figures.latency is None:
                figures.latency = Latency()
            figures.latency.merge(Latency.decode(orjson.loads(row[-1])))
    return groups


def _read_samples(query: MetricsQuery, where: Plan) -> dict[GroupKey, dict[int, Figures]]:
    rows = MetricSample.objects.filter(
        resolution=where.resolution,
        name=query.metric.sample,
        start__gte=moment(where.start),
        start__lt=moment(where.end),
    )
    if "nodes" in query.filters:
        rows = rows.filter(node__in=query.filters["nodes"])
    groups: dict[GroupKey, dict[int, Figures]] = {}
    for node, process, start, count, total in rows.values_list(
        "node", "process", "start", "count", "sum"
    ).iterator(chunk_size=5000):
        key = (node,) if query.group_by else ()
        at = start.timestamp()
        figures = groups.setdefault(key, {}).setdefault(_point(query, where, at), Figures())
        cell = figures.buckets.setdefault(int(at), {}).setdefault((node, process), [0.0, 0.0])
        cell[0] += count
        cell[1] += total
    return groups


def _value(query: MetricsQuery, figures: Figures, span: float, resolution: int) -> float | None:
    kind, aggregation = query.metric.kind, query.aggregation
    if kind in ("requests", "latency"):
        if (kind == "requests" and aggregation in ("sum", "count")) or aggregation == "count":
            return figures.count
        if aggregation == "rate":
            return round(figures.count / span, 6)
        if not figures.count:
            return None
        if aggregation == "sum":
            return round(figures.sum, 3)
        if aggregation == "avg":
            return round(figures.sum / figures.count, 3)
        if aggregation == "min":
            return round(figures.min, 3)
        if aggregation == "max":
            return round(figures.max, 3)
        assert figures.latency is not None
        value = figures.latency.quantile(PERCENTILES[aggregation])
        return None if value is None else round(value, 3)
    per_bucket = []
    total = 0.0
    for cells in figures.buckets.values():
        if kind == "cpu":
            seconds = sum(c[1] for c in cells.values())
            total += seconds
            per_bucket.append(100.0 * seconds / resolution)
        elif kind == "memory":
            per_bucket.append(sum(c[1] / c[0] for c in cells.values() if c[0]))
        elif kind == "routes":
            per_bucket.append(max(c[1] / c[0] for c in cells.values() if c[0]))
        else:
            total += sum(c[1] for c in cells.values())
    if kind == "counter":
        return round(total / span, 6) if aggregation == "rate" else round(total, 3)
    if not per_bucket:
        return None
    if aggregation == "min":
        return round(min(per_bucket), 3)
    if aggregation == "max":
        return round(max(per_bucket), 3)
    if kind == "cpu":  # over the whole span: the time without a report used no CPU
        return round(100.0 * total / span, 3)
    return round(sum(per_bucket) / len(per_bucket), 3)


def _label(group: str, value: Any) -> Any:
    if group == "status_class":
        return f"{value}xx" if value else "none"
    return value


def _series(
    query: MetricsQuery, where: Plan, groups: dict[GroupKey, dict[int, Figures]]
) -> tuple[list[dict[str, Any]], bool]:
    limit = tigw_settings.METRICS_QUERY_MAX_SERIES
    if query.step is not None:
        count = max(1, (where.end - where.start) // query.step)
        limit = min(limit, max(1, tigw_settings.METRICS_QUERY_MAX_POINTS // count))
    if not groups and not query.group_by:
        groups = {(): {}}  # no rows: the one total is still answered (0 requests, or null)
    ranked = sorted(
        groups.items(),
        key=lambda item: (-sum(f.count for f in item[1].values()), [str(v) for v in item[0]]),
    )
    series: list[dict[str, Any]] = []
    for key, by_point in ranked[:limit]:
        group = {name: _label(name, value) for name, value in zip(query.group_by, key, strict=True)}
        if query.step is None:
            merged = Figures()
            for figures in by_point.values():
                _merge(merged, figures)
            value = _value(query, merged, where.end - where.start, where.resolution)
            series.append({"group": group, "value": value})
            continue
        step = query.step
        points: list[dict[str, Any]] = []
        for index in range((where.end - where.start) // step):
            found = by_point.get(index)
            value = (
                _value(query, found, step, where.resolution) if found is not None else _empty(query)
            )
            at = utc_timestamp(moment(where.start + index * step))
            points.append({"timestamp": at, "value": value})
        series.append({"group": group, "points": points})
    return series, len(ranked) > limit


def _empty(query: MetricsQuery) -> float | None:
    """The value of a point with no rows: 0 for counts and rates, null for the rest."""
    if query.metric.kind in ("requests", "counter") or query.aggregation in ("count", "rate"):
        return 0
    return None


def _merge(into: Figures, figures: Figures) -> None:
    into.count += figures.count
    into.sum += figures.sum
    into.min = min(into.min, figures.min)
    into.max = max(into.max, figures.max)
    if figures.latency is not None:
        if into.latency is None:
            into.latency = Latency()
        into.latency.merge(figures.latency)
    for start, cells in figures.buckets.items():
        mine = into.buckets.setdefault(start, {})
        for key, (count, total) in cells.items():
            cell = mine.setdefault(key, [0.0, 0.0])
            cell[0] += count
            cell[1] += total
