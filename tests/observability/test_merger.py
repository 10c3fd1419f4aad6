"""The merger and the backends: one lease holder per deployment, each delta in exactly one
tick, windows cut the same way by every worker; on the in-memory and the Redis backend."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.processes import REDIS_URL, require_redis
from tigateway_channels.observability.backends.base import ObservabilityBackend
from tigateway_channels.observability.backends.memory import MemoryBackend
from tigateway_channels.observability.backends.redis_streams import RedisBackend
from tigateway_channels.observability.merger import Merger
from tigateway_channels.observability.sketch import Latency
from tigateway_channels.observability.windows import Window
from tigateway_channels.observability.wire import Delta, Tick


def delta(node: str, route: str, values: list[float], status: int = 2, **system: Any) -> bytes:
    now = time.time()
    return Delta(
        node=node,
        process=f"{node}-process",
        kind="gateway",
        host="h",
        since=now - 1,
        until=now,
        series={(route, "GET", status): Latency.from_values(values)},
        system=system or {"cpu": 0.5, "rss": 100, "mem": 2.0, "gcCount": 1, "gcMs": 3.0},
    ).encode()


def redis_backend() -> Iterator[ObservabilityBackend]:
    require_redis()
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"tigw.test-{uuid.uuid4().hex[:8]}.obs"
    yield RedisBackend(client, prefix)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
def backend(request: Any) -> Iterator[ObservabilityBackend]:
    if request.param == "memory":
        yield MemoryBackend()
    else:
        yield from redis_backend()


def test_one_merger_holds_the_lease_and_every_delta_is_merged_once(
    backend: ObservabilityBackend,
) -> None:
    first, second = Merger(backend, "w1", "dep"), Merger(backend, "w2", "dep")
    backend.report([delta("gw-a", "users", [10.0, 20.0]), delta("gw-b", "users", [30.0])], {}, {})
    tick = first.round(100, {"active": 2})
    assert tick is not None and second.round(100, None) is None
    assert sum(tick.routes["users"].classes) == 3
    assert tick.routes["users"].latency.max == 30.0
    assert {n["node"]: n["requests"] for n in tick.nodes} == {"gw-a": 1 + 1, "gw-b": 1}
    assert tick.route_status == {"active": 2}
    again = first.round(101, None)
    assert again is not None and again.routes == {}  # nothing merged twice
    backend.report([delta("gw-a", "orders", [1.0])], {}, {})
    first.resign()
    taken = second.round(102, None)
    assert taken is not None and sum(taken.routes["orders"].classes) == 1
    ticks = [Tick.decode(raw) for _id, raw in backend.recent_ticks(10)]
    assert [t.slot for t in ticks] == [100, 101, 102]


def test_a_merger_that_lost_its_lease_commits_nothing(backend: ObservabilityBackend) -> None:
    backend.report([delta("gw-a", "users", [1.0])], {}, {})
    assert backend.lead("w1", 0.05)
    cursor = backend.cursor()
    entries = backend.read_deltas(cursor, 100)
    time.sleep(0.1)  # the lease ran out mid-round
    assert backend.lead("w2", 5)
    assert not backend.commit_tick("w1", cursor, entries[-1][0], b"{}")
    assert backend.commit_tick("w2", cursor, entries[-1][0], b"{}")
    assert not backend.commit_tick("w2", cursor, entries[-1][0], b"{}")  # the cursor moved


def test_ticks_are_read_in_order_after_a_position(backend: ObservabilityBackend) -> None:
    merger = Merger(backend, "w1", "dep")
    for slot in range(5):
        merger.round(slot, None)
    recent = backend.recent_ticks(2)
    assert [Tick.decode(raw).slot for _id, raw in recent] == [3, 4]
    merger.round(5, None)
    after = backend.read_ticks(recent[-1][0], 0.1)
    assert [Tick.decode(raw).slot for _id, raw in after] == [5]
    assert backend.read_ticks(after[-1][0], 0.05) == []


def test_nodes_go_stale_then_are_forgotten(backend: ObservabilityBackend, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "METRICS_STALE_SECONDS": 5.0,
        "METRICS_NODE_FORGET_SECONDS": 60.0,
    }
    now = time.time()
    backend.report(
        [],
        {
            "fresh": b'{"node": "fresh", "kind": "gateway", "lastSeen": %f}' % now,
            "quiet": b'{"node": "quiet", "kind": "gateway", "lastSeen": %f}' % (now - 10),
            "gone": b'{"node": "gone", "kind": "gateway", "lastSeen": %f}' % (now - 100),
        },
        {},
    )
    tick = Merger(backend, "w1", "dep").round(1, None)
    assert tick is not None
    assert {n["node"]: n["stale"] for n in tick.nodes} == {"fresh": False, "quiet": True}
    assert "gone" not in backend.nodes()


def test_counts_claims_and_duplicates(backend: ObservabilityBackend) -> None:
    assert [backend.count_in_window("x", 60) for _ in range(3)] == [1, 2, 3]
    assert backend.claim("prune", 60) and not backend.claim("prune", 60)
    assert backend.first_time("r-1", 60) and not backend.first_time("r-1", 60)


def test_a_window_adds_its_ticks_and_describes_the_cluster() -> None:
    backend = MemoryBackend()
    merger = Merger(backend, "w1", "dep")
    window = Window(first=10, length=2, seconds=1.0)
    backend.report([delta("gw-a", "users", [10.0] * 8), delta("gw-a", "users", [50.0], 5)], {}, {})
    first = merger.round(10, {"active": 3, "inactive": 1, "error": 0, "pending": 0})
    backend.report(
        [delta("gw-b", "orders", [5.0], 4, cpu=1.0, mem=3.0, gcCount=2, gcMs=4.0)], {}, {}
    )
    second = merger.round(11, None)
    assert first is not None and second is not None
    window.add(first)
    window.add(second)
    data = window.message(routes_limit=1)
    requests = data["metrics"]["requests"]
    assert requests == {
        "total": 10,
        "success": 8,
        "error": 2,
        "rate": 5.0,
        "client_error": 1,
        "server_error": 1,
    }
    assert data["metrics"]["response_time"]["max"] == 50.0
    assert data["metrics"]["routes"] == {"active": 3, "inactive": 1, "error": 0, "pending": 0}
    system = data["metrics"]["system"]
    assert system["cpu_usage"] == 100.0 * (0.5 + 0.5 + 1.0) / 2
    assert system["gc_count"] == 4
    assert data["window"]["complete"] is True and data["window"]["seconds"] == 2.0
    assert [r["routeId"] for r in data["byRoute"]] == ["users"] and data["byRouteTruncated"]
