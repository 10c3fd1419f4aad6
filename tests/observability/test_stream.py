"""The metrics stream in one process: recorded requests reach a subscriber's metrics message,
at its interval, with every figure of the API document's 6.1."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.ws import open_socket
from tigateway_channels.observability.recorder import record_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def next_metrics(socket: Any, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        message = await socket.receive(timeout)
        if message["type"] == "metrics":
            return message


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
