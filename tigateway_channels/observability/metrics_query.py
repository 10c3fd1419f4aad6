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
from dataclasses import dataclass, field
from typing import Any

import orjson

from tigateway_channels.conf import tigw_settings
from tigateway_channels.models import MetricBucket, MetricSample
from tigateway_channels.observability.buckets import RESOLUTIONS, moment, retention_seconds
from tigateway_channels.observability.metric_requests import (
    ALL_CLASSES,
    PERCENTILES,
    MetricsQuery,
    parse_metrics_query,
)
from tigateway_channels.observability.query_fields import invalid
from tigateway_channels.observability.sketch import ALPHA, Latency
from tigateway_channels.protocol.envelope import utc_timestamp

# Buckets of the chosen resolution a range may span before a coarser one is used.
MAX_BUCKETS = 1500
DEFAULT_RANGE_SECONDS = 3600

__all__ = ["MetricsQuery", "parse_metrics_query", "run_metrics_query"]


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
