"""Persisted figures: each process's time buckets (10 s, 1 min, 1 h), written idempotently.

A process keeps the full figures of every bucket it is still filling, per series and node, and
writes them with an upsert that *replaces* the row (``MetricBucket``, ``MetricSample``): the
row's key includes the writing process, so no other process ever writes it, and writing it
again (a retry, the next persist of a bucket still filling) leaves the same figures. Nothing is
read back; a query adds up the rows of all processes.

Old rows go by time: once a minute one process of the cluster deletes, per resolution, the rows
past its retention (an index range on ``(resolution, start)``), and the log records past theirs.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import orjson
from django.db import close_old_connections, connection
from django.db.models import Count

from tigateway_channels.conf import tigw_settings
from tigateway_channels.models import LogRecord, MetricBucket, MetricSample, Route, RouteStatus
from tigateway_channels.observability.sketch import Latency
from tigateway_channels.observability.wire import Delta

logger = logging.getLogger(__name__)

RESOLUTIONS = (10, 60, 3600)
# Rows per INSERT ... ON CONFLICT statement.
BATCH = 500
# Buckets a process keeps unwritten if the database stays away; beyond, the oldest go.
MAX_OPEN = 200_000

# Figures of a node that are not requests. Counters add what happened in a round; gauges
# record what was observed (count, sum, min and max of the observations).
COUNTERS = frozenset({"cpu_seconds", "gc_count", "gc_ms"})
GAUGES = frozenset(
    {
        "memory_percent",
        "rss_bytes",
        "routes_active",
        "routes_inactive",
        "routes_error",
        "routes_pending",
    }
)

SeriesRow = tuple[int, int, str, str, int, str]  # resolution, start, route, method, class, node
SampleRow = tuple[int, int, str, str]  # resolution, start, name, node


# The keys of METRICS_RETENTION_SECONDS, by resolution.
RESOLUTION_NAMES = {10: "10s", 60: "1m", 3600: "1h"}


def retention_seconds(resolution: int) -> int:
    return int(tigw_settings.METRICS_RETENTION_SECONDS[RESOLUTION_NAMES[resolution]])


def moment(epoch: int | float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


@dataclass(slots=True)
class SampleStat:
    count: int = 0
    sum: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)


@dataclass
class OpenBuckets:
    """One process's buckets still being filled or not yet written."""

    process: str
    series: dict[SeriesRow, Latency] = field(default_factory=dict)
    samples: dict[SampleRow, SampleStat] = field(default_factory=dict)
    dirty_series: set[SeriesRow] = field(default_factory=set)
    dirty_samples: set[SampleRow] = field(default_factory=set)
    dropped: int = 0

    def add(self, delta: Delta) -> None:
        """Count a round's figures in the buckets of the middle of the time they cover."""
        at = (delta.since + delta.until) / 2
        for resolution in RESOLUTIONS:
            start = int(at // resolution) * resolution
            for (route, method, klass), latency in delta.series.items():
                key = (resolution, start, route, method, klass, delta.node)
                mine = self.series.get(key)
                if mine is None:
                    self.series[key] = latency.copy()
                else:
                    mine.merge(latency)
                self.dirty_series.add(key)
            for name, value in system_samples(delta.system).items():
                self._sample((resolution, start, name, delta.node), value)

    def add_sample(self, name: str, node: str, value: float, at: float) -> None:
        for resolution in RESOLUTIONS:
            start = int(at // resolution) * resolution
            self._sample((resolution, start, name, node), value)

    def _sample(self, key: SampleRow, value: float) -> None:
        stat = self.samples.get(key)
        if stat is None:
            stat = self.samples[key] = SampleStat()
        stat.add(value)
        self.dirty_samples.add(key)

    def persist(self, now: float) -> int:
        """Write every bucket that changed since the last write; forget the ones that ended
        and are written. Returns the rows written. Raises when the database does (the
        buckets stay, to be written next time)."""
        if not connection.in_atomic_block:  # never inside a caller's transaction
            close_old_connections()
        series_keys, sample_keys = list(self.dirty_series), list(self.dirty_samples)
        rows = [self._bucket_row(key) for key in series_keys]
        for batch in range(0, len(rows), BATCH):
            MetricBucket.objects.bulk_create(
                rows[batch : batch + BATCH],
                update_conflicts=True,
                unique_fields=[
                    "resolution",
                    "start",
                    "route_id",
                    "method",
                    "status_class",
                    "node",
                    "process",
                ],
                update_fields=["count", "sum_ms", "min_ms", "max_ms", "sketch"],
            )
        samples = [self._sample_row(key) for key in sample_keys]
        for batch in range(0, len(samples), BATCH):
            MetricSample.objects.bulk_create(
                samples[batch : batch + BATCH],
                update_conflicts=True,
                unique_fields=["resolution", "start", "name", "node", "process"],
                update_fields=["count", "sum", "min", "max"],
            )
        self.dirty_series.difference_update(series_keys)
        self.dirty_samples.difference_update(sample_keys)
        self._forget_ended(now)
        return len(rows) + len(samples)

    def _forget_ended(self, now: float) -> None:
        for table, dirty in ((self.series, self.dirty_series), (self.samples, self.dirty_samples)):
            for key in [k for k in table if k[1] + k[0] < now and k not in dirty]:
                del table[key]  # type: ignore[arg-type]
        excess = len(self.series) + len(self.samples) - MAX_OPEN
        if excess > 0:  # the database has been away for long: let the oldest go
            for key in sorted(self.series, key=lambda k: k[1])[:excess]:
                del self.series[key]
                self.dirty_series.discard(key)
                self.dropped += 1

    def _bucket_row(self, key: SeriesRow) -> MetricBucket:
        resolution, start, route, method, klass, node = key
        latency = self.series[key]
        return MetricBucket(
            resolution=resolution,
            start=moment(start),
            route_id=route,
            method=method,
            status_class=klass,
            node=node,
            process=self.process,
            count=latency.count,
            sum_ms=latency.sum,
            min_ms=latency.min,
            max_ms=latency.max,
            sketch=orjson.dumps(latency.encode()).decode(),
        )

    def _sample_row(self, key: SampleRow) -> MetricSample:
        resolution, start, name, node = key
        stat = self.samples[key]
        return MetricSample(
            resolution=resolution,
            start=moment(start),
            name=name,
            node=node,
            process=self.process,
            count=stat.count,
            sum=stat.sum,
            min=stat.min,
            max=stat.max,
        )


def system_samples(system: dict[str, object] | None) -> dict[str, float]:
    """A round's system figures (``SystemSample.as_wire``) as sample names and values; what a
    node did not measure is left out."""
    if not system:
        return {}
    found: dict[str, float] = {}
    for name, wire in (
        ("cpu_seconds", "cpu"),
        ("memory_percent", "mem"),
        ("rss_bytes", "rss"),
        ("gc_count", "gcCount"),
        ("gc_ms", "gcMs"),
    ):
        value = system.get(wire)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = float(value)
    return found


def prune(now: dt.datetime) -> int:
    """Delete buckets, samples and log records past their retention."""
    deleted = 0
    for resolution in RESOLUTIONS:
        cutoff = now - dt.timedelta(seconds=retention_seconds(resolution))
        for model in (MetricBucket, MetricSample):
            count, _ = model.objects.filter(resolution=resolution, start__lt=cutoff).delete()
            deleted += count
    cutoff = now - dt.timedelta(seconds=tigw_settings.LOG_RETENTION_SECONDS)
    count, _ = LogRecord.objects.filter(timestamp__lt=cutoff).delete()
    return deleted + count


def route_counts() -> dict[str, int]:
    """Routes by status, lower-cased (``active``, ``inactive``, ``error``, ``pending``)."""
    found = {str(status).lower(): 0 for status in RouteStatus.values}
    rows = Route.objects.values_list("status").annotate(n=Count("id")).order_by()
    for status, n in rows:
        found[str(status).lower()] = int(n)
    return found
