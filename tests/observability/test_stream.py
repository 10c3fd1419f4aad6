"""The metrics stream in one process: recorded requests reach a subscriber's metrics message,
at its interval, with every figure of the API document's 6.1."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async

from tests.ws import open_socket
from tigateway_channels.delivery.sockets import Subscription
from tigateway_channels.delivery.topics import SubscriptionFilter
from tigateway_channels.observability.backends.memory import MemoryBackend
from tigateway_channels.observability.recorder import record_request
from tigateway_channels.observability.sketch import Latency
from tigateway_channels.observability.stream import MetricsStream
from tigateway_channels.observability.wire import RouteFigures, Tick


async def next_metrics(socket: Any, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        message = await socket.receive(timeout)
        if message["type"] == "metrics":
            return message


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_subscriber_gets_metrics_with_every_figure_of_the_document(
    fast_rounds: dict[str, Any], make_user: Any
) -> None:
    user = await sync_to_async(make_user)("watcher", "view_metrics")
    socket = await open_socket(user)
    reply = await socket.request(
        "subscribe", {"topics": ["metrics"], "filters": {"metrics": {"interval": 1000}}}
    )
    assert reply["type"] == "ack", reply
    await next_metrics(socket)  # the stream runs; start counting from the next window
    for n in range(50):
        record_request("users", "GET", 200 if n % 10 else 503, 10.0 + n)
    seen: list[dict[str, Any]] = []
    total = 0
    async with asyncio.timeout(10):
        while total < 50:
            message = await next_metrics(socket)
            seen.append(message)
            total += message["data"]["metrics"]["requests"]["total"]
    assert total == 50
    data = next(m for m in seen if m["data"]["metrics"]["requests"]["total"])["data"]
    metrics = data["metrics"]
    assert set(metrics) == {"requests", "response_time", "routes", "system"}
    assert {"total", "success", "error", "rate"} <= set(metrics["requests"])
    assert {"avg", "p50", "p95", "p99", "max"} <= set(metrics["response_time"])
    assert {"active", "inactive", "error"} <= set(metrics["routes"])
    assert {"cpu_usage", "memory_usage", "gc_count", "gc_time"} <= set(metrics["system"])
    assert data["window"]["seconds"] == pytest.approx(1.0)
    assert data["byRoute"][0]["routeId"] == "users"
    assert "worker" in {node["kind"] for node in data["nodes"]}
    message = seen[-1]
    assert message["metadata"]["topic"] == "metrics"
    await socket.close()


class FakeWriter:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def push(self, frame: str) -> None:
        self.frames.append(orjson.loads(frame))


class FakeSocket:
    def __init__(self, interval: int | None) -> None:
        options = {"interval": interval} if interval else {}
        self.subscriptions = {"metrics": Subscription(SubscriptionFilter(options=options))}
        self.writer = FakeWriter()


class FakeHub:
    deployment = "dep"
    worker_id = "w:1"

    def __init__(self, sockets: list[FakeSocket]) -> None:
        self._sockets = sockets

    def sockets(self) -> list[FakeSocket]:
        return self._sockets


def tick(slot: int, requests: int) -> bytes:
    figures = RouteFigures()
    figures.add(2, Latency.from_values([5.0] * requests))
    return Tick("dep", slot, 1.0, routes={"users": figures} if requests else {}).encode()


@pytest.fixture
def one_second_rounds(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"METRICS_FLUSH_SECONDS": 1.0}


@pytest.mark.usefixtures("one_second_rounds")
def test_each_interval_gets_its_aligned_windows_and_a_late_subscriber_a_full_first_one() -> None:
    every_second, every_five = FakeSocket(1000), FakeSocket(5000)
    hub = FakeHub([every_second])
    stream = MetricsStream(hub, MemoryBackend())  # type: ignore[arg-type]
    for slot in range(100, 103):
        stream.on_tick(tick(slot, slot - 99))  # 1, 2, 3 requests
    hub._sockets.append(every_five)  # joins in the middle of the window 100-104
    for slot in range(103, 106):
        stream.on_tick(tick(slot, 1))
    totals = [f["data"]["metrics"]["requests"]["total"] for f in every_second.writer.frames]
    assert totals == [1, 2, 3, 1, 1, 1]
    [five] = every_five.writer.frames
    assert five["data"]["metrics"]["requests"]["total"] == 1 + 2 + 3 + 1 + 1
    assert five["data"]["window"]["complete"] is True
    assert five["data"]["window"]["seconds"] == 5.0
    assert five["data"]["window"]["start"].endswith(":40.000Z")  # slot 100 = 100 s after epoch


@pytest.mark.usefixtures("one_second_rounds")
def test_a_window_whose_last_tick_never_came_is_sent_incomplete() -> None:
    socket = FakeSocket(3000)
    stream = MetricsStream(FakeHub([socket]), MemoryBackend())  # type: ignore[arg-type]
    stream.on_tick(tick(99, 4))
    stream.on_tick(tick(102, 1))  # 100 and 101 lost (the merger changed hands)
    first = socket.writer.frames[0]["data"]
    assert first["metrics"]["requests"]["total"] == 4
    assert first["window"]["complete"] is False and first["window"]["ticks"] == 1
