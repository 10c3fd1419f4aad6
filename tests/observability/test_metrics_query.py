"""metrics_query over persisted buckets: totals, groups, steps, percentiles from merged
sketches, the resolution used and what retention cut off, and refused requests."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import pytest

from tigateway_channels.models import MetricBucket, MetricSample
from tigateway_channels.observability.buckets import OpenBuckets
from tigateway_channels.observability.metrics_query import parse_metrics_query, run_metrics_query
from tigateway_channels.observability.sketch import Latency
from tigateway_channels.observability.wire import Delta
from tigateway_channels.protocol.envelope import utc_timestamp
from tigateway_channels.protocol.errors import GatewayError

pytestmark = pytest.mark.django_db

NOW = 1_800_000_000.0  # a fixed "now", on a whole hour
T0 = NOW - 600


def iso(epoch: float) -> str:
    return utc_timestamp(dt.datetime.fromtimestamp(epoch, dt.UTC))


def persist(process: str, node: str, at: float, series: dict[Any, list[float]], **system: Any):
    buckets = OpenBuckets(process)
    buckets.add(
        Delta(
            node=node,
            process=process,
            kind="gateway",
            host="h",
            since=at - 0.5,
            until=at + 0.5,
            series={key: Latency.from_values(values) for key, values in series.items()},
            system=system or None,
        )
    )
    buckets.persist(NOW)
    return buckets


def query(**data: Any) -> dict[str, Any]:
    data.setdefault("timeRange", {"start": iso(T0 - 60), "end": iso(NOW)})
    return run_metrics_query(parse_metrics_query(data), now=NOW)


def test_totals_grouped_by_node_and_route_add_up_rows_of_every_process() -> None:
    persist("p1", "gw-a", T0 + 5, {("users", "GET", 2): [10.0] * 3, ("users", "GET", 5): [90.0]})
    persist("p2", "gw-b", T0 + 15, {("users", "GET", 2): [20.0] * 2, ("orders", "POST", 4): [5.0]})
    assert query(metric="requests")["series"] == [{"group": {}, "value": 7}]
    by_node = query(metric="requests", groupBy=["node"])["series"]
    assert by_node == [
        {"group": {"node": "gw-a"}, "value": 4},
        {"group": {"node": "gw-b"}, "value": 3},
    ]
    errors = query(metric="requests.error", groupBy=["route_id", "status_class"])["series"]
    assert {(s["group"]["route_id"], s["group"]["status_class"], s["value"]) for s in errors} == {
        ("users", "5xx", 1),
        ("orders", "4xx", 1),
    }
    assert query(metric="requests.success")["series"][0]["value"] == 5
    assert query(metric="response_time", aggregation="max")["series"][0]["value"] == 90.0
    average = query(metric="response_time", aggregation="avg")["series"][0]["value"]
    assert average == round((30 + 90 + 40 + 5) / 7, 3)  # values are given to 3 decimals


def test_percentiles_merge_the_sketches_of_every_row() -> None:
    rnd = random.Random(3)
    values = [math.exp(rnd.uniform(0, 7)) for _ in range(3000)]
    for n, start in enumerate(range(0, 3000, 500)):
        persist(
            f"p{n % 2}", f"gw-{n % 2}", T0 + 10 * n, {("r", "GET", 2): values[start : start + 500]}
        )
    ordered = sorted(values)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        result = query(metric="response_time", aggregation=name)
        truth = ordered[math.floor(q * (len(ordered) - 1))]
        assert abs(result["series"][0]["value"] - truth) <= 0.01 * truth + 0.001
        assert result["relativeError"] == 0.01


def test_a_series_has_one_point_per_step_with_zeros_where_nothing_was_served() -> None:
    persist("p1", "gw", T0 + 5, {("r", "GET", 2): [1.0, 2.0]})
    persist("p1", "gw", T0 + 125, {("r", "GET", 2): [3.0]})
    result = query(metric="requests", step="1m", timeRange={"start": iso(T0), "end": iso(T0 + 180)})
    assert result["resolution"] == 10 and result["step"] == 60
    points = result["series"][0]["points"]
    assert [p["value"] for p in points] == [2, 0, 1]
    assert points[0]["timestamp"] == iso(T0)
    rate = query(metric="requests.rate", timeRange={"start": iso(T0), "end": iso(T0 + 60)})
    assert rate["series"][0]["value"] == round(2 / 60, 6)


def test_writing_a_bucket_again_changes_nothing() -> None:
    buckets = persist("p1", "gw", T0 + 5, {("r", "GET", 2): [1.0, 2.0]})
    buckets.dirty_series.update(buckets.series)
    buckets.persist(NOW)
    assert query(metric="requests")["series"][0]["value"] == 2
    assert MetricBucket.objects.filter(resolution=10).count() == 1


def test_a_range_past_the_finest_retention_uses_a_coarser_resolution_and_says_so() -> None:
    day = 24 * 3600
    persist("p1", "gw", NOW - 2 * day, {("r", "GET", 2): [1.0]})
    result = query(metric="requests", timeRange={"start": iso(NOW - 3 * day), "end": iso(NOW)})
    assert result["resolution"] == 3600 and result["partial"] is False
    assert result["series"][0]["value"] == 1
    old = query(metric="requests", timeRange={"start": iso(NOW - 200 * day), "end": iso(NOW)})
    assert old["partial"] is True
    assert old["retainedFrom"] == iso(NOW - 90 * day)


def test_system_figures_are_summed_over_processes() -> None:
    persist("p1", "gw-a", T0 + 5, {}, cpu=2.0, mem=3.0, gcCount=4, gcMs=8.0)
    persist("p2", "gw-b", T0 + 5, {}, cpu=3.0, mem=1.5, gcCount=1, gcMs=2.0)
    window = {"start": iso(T0), "end": iso(T0 + 10)}
    cpu = query(metric="system.cpu_usage", timeRange=window)
    assert cpu["series"][0]["value"] == pytest.approx(50.0)  # 5 CPU seconds in 10 s
    memory = query(metric="system.memory_usage", timeRange=window, groupBy=["node"])
    assert {s["group"]["node"]: s["value"] for s in memory["series"]} == {"gw-a": 3.0, "gw-b": 1.5}
    assert query(metric="system.gc_count", timeRange=window)["series"][0]["value"] == 5
    assert query(metric="system.gc_time", timeRange=window)["series"][0]["value"] == 10.0
    assert MetricSample.objects.filter(resolution=60, name="cpu_seconds").count() == 2


def test_route_counts_take_the_latest_sample_of_any_process() -> None:
    buckets = OpenBuckets("p1")
    buckets.add_sample("routes_active", "cluster", 4, T0 + 1)
    buckets.persist(NOW)
    other = OpenBuckets("p2")
    other.add_sample("routes_active", "cluster", 4, T0 + 2)
    other.persist(NOW)
    result = query(metric="routes.active", timeRange={"start": iso(T0), "end": iso(T0 + 10)})
    assert result["series"][0]["value"] == 4


def test_the_number_of_groups_is_capped(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"METRICS_QUERY_MAX_SERIES": 2}
    persist("p", "gw", T0 + 5, {(f"r{n}", "GET", 2): [1.0] * (n + 1) for n in range(5)})
    result = query(metric="requests", groupBy=["route_id"])
    assert result["truncated"] is True
    assert [s["group"]["route_id"] for s in result["series"]] == ["r4", "r3"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"metric": "temperature"}, "data.metric"),
        ({"metric": "requests", "aggregation": "p99"}, "data.aggregation"),
        ({"metric": "system.cpu_usage", "groupBy": ["route_id"]}, "data.groupBy[0]"),
        ({"metric": "requests", "groupBy": ["colour"]}, "data.groupBy[0]"),
        ({"metric": "requests", "step": 7}, "data.step"),
        ({"metric": "requests", "step": "1 minute"}, "data.step"),
        ({"metric": "requests", "timeRange": {"start": "yesterday"}}, "data.timeRange.start"),
        (
            {"metric": "requests", "timeRange": {"start": "2024-09-23T09:00:00"}},
            "data.timeRange.start",
        ),
        (
            {"metric": "requests", "timeRange": {"start": iso(NOW), "end": iso(NOW - 60)}},
            "data.timeRange.end",
        ),
        ({"metric": "routes.active", "filters": {"routeIds": ["x"]}}, "data.filters.routeIds"),
    ],
)
def test_a_bad_query_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_metrics_query(data)
    assert caught.value.code == "INVALID_MESSAGE_FORMAT"
    assert caught.value.details["field"] == field


def test_too_many_points_are_refused() -> None:
    with pytest.raises(GatewayError) as caught:
        query(
            metric="requests",
            step=10,
            timeRange={"start": iso(NOW - 30 * 24 * 3600), "end": iso(NOW)},
        )
    assert caught.value.details["field"] == "data.step"
