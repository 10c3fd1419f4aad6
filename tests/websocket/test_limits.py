"""Limits that fit a control plane: a 1,000-route config fits in one message, a burst of
1,000 requests is answered in full and in order, and only a sustained flood is refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async

from tests.ws import Socket, open_socket
from tigateway_channels.models import Route

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def realistic_route(i: int) -> dict[str, Any]:
    """A route as Spring Cloud Gateway users write them (~390 bytes of JSON)."""
    service = f"order-service-{i:04d}"
    return {
        "id": f"{service}-route",
        "uri": f"lb://{service}",
        "predicates": [
            f"Path=/api/v1/orders-{i:04d}/**",
            "Method=GET,POST,PUT,DELETE",
            "Header=X-Tenant, \\w+",
        ],
        "filters": [
            "StripPrefix=2",
            f"AddRequestHeader=X-Service,{service}",
            f"RewritePath=/api/v1/orders-{i:04d}/(?<segment>.*), /${{segment}}",
        ],
        "order": i,
        "metadata": {"owner": "team-orders", "description": f"Orders API shard {i}"},
    }


async def replies_to(socket: Socket, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The next ``count`` replies (messages with a requestId), in arrival order."""
    replies = []
    while len(replies) < count:
        message = await socket.receive(timeout)
        if message["data"].get("requestId") is not None:
            replies.append(message)
    return replies


async def test_a_1000_route_config_is_accepted_in_one_message(
    make_user: Callable[..., Any],
) -> None:
    user = await sync_to_async(make_user)(
        "configs", "add_gatewayconfig", "change_gatewayconfig", "view_gatewayconfig"
    )
    socket = await open_socket(user)
    document = {
        "routes": [realistic_route(i) for i in range(1000)],
        "globalFilters": ["AddRequestHeader=X-Gateway,TiGateway"],
    }
    message = {
        "type": "config_update",
        "id": "all-routes",
        "data": {"configType": "route_config", "configId": "orders", "config": document},
    }
    frame = orjson.dumps(message).decode()
    assert 300_000 < len(frame) < 1024 * 1024  # far over the old 64 KiB limit

    await socket.send(frame)
    [reply] = await replies_to(socket, 1, timeout=60)

    assert reply["type"] == "ack", reply["data"]
    assert reply["data"]["result"]["version"] == 1
    assert await sync_to_async(Route.objects.count)() == 1000
    await socket.close()


async def test_1000_pings_in_a_burst_are_all_answered_in_order(operator: Any) -> None:
    socket = await open_socket(operator)
    for n in range(1000):
        await socket.send({"type": "ping", "id": n})

    replies = await replies_to(socket, 1000)

    assert [reply["type"] for reply in replies] == ["pong"] * 1000
    assert [reply["data"]["requestId"] for reply in replies] == list(range(1000))
    await socket.close()


async def test_1000_mixed_requests_in_a_burst_are_all_answered_in_order(operator: Any) -> None:
    socket = await open_socket(operator)
    kinds = [
        ("ping", None, "pong"),
        ("subscribe", {"topics": ["routes"]}, "ack"),
        ("route_delete", {"routeId": "missing"}, "error"),
        ("teleport", None, "error"),
        ("unsubscribe", {"topics": ["routes"]}, "ack"),
    ]
    expected = []
    for n in range(1000):
        message_type, data, reply_type = kinds[n % len(kinds)]
        frame: dict[str, Any] = {"type": message_type, "id": f"r{n}"}
        if data is not None:
            frame["data"] = data
        await socket.send(frame)
        expected.append((reply_type, f"r{n}"))

    replies = await replies_to(socket, 1000, timeout=20)

    assert [(reply["type"], reply["data"]["requestId"]) for reply in replies] == expected
    assert not any(reply["data"].get("code") == "RATE_LIMITED" for reply in replies)
    await socket.close()


async def test_requests_over_the_rate_are_paced_not_refused(operator: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"CLIENT_RATE_PER_SECOND": 100.0, "CLIENT_RATE_BURST": 5}
    socket = await open_socket(operator)
    started = time.monotonic()
    for n in range(40):
        await socket.send({"type": "ping", "id": n})

    replies = await replies_to(socket, 40)

    assert [(r["type"], r["data"]["requestId"]) for r in replies] == [
        ("pong", n) for n in range(40)
    ]
    # 5 at once, then 35 at 100 per second.
    assert time.monotonic() - started >= 0.3
    await socket.close()


async def test_a_full_queue_refuses_with_rate_limited_in_turn_and_the_socket_stays(
    operator: Any, settings: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "CLIENT_RATE_PER_SECOND": 50.0,
        "CLIENT_RATE_BURST": 1,
        "CLIENT_QUEUE_LIMIT": 3,
        "FLOOD_CLOSE_AFTER": 100,
    }
    socket = await open_socket(operator)
    for n in range(12):
        await socket.send({"type": "ping", "id": f"p{n}"})

    replies = await replies_to(socket, 12)

    assert [reply["data"]["requestId"] for reply in replies] == [f"p{n}" for n in range(12)]
    limited = [reply for reply in replies if reply["type"] == "error"]
    assert limited, "a queue of 3 cannot hold 12 frames sent at once"
    for reply in limited:
        assert reply["data"]["code"] == "RATE_LIMITED"
        details = reply["data"]["details"]
        assert details["reason"] and details["retryAfterMs"] >= 0
        assert details["limitPerSecond"] == 50.0
    assert await socket.request("ping") is not None  # still open, and answered
    await socket.close()


async def test_the_queue_is_bounded_by_size_too(operator: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "CLIENT_RATE_PER_SECOND": 20.0,
        "CLIENT_RATE_BURST": 1,
        "CLIENT_QUEUE_BYTES": 3000,
    }
    socket = await open_socket(operator)
    pad = "x" * 2000
    for n in range(4):
        await socket.send({"type": "ping", "id": f"p{n}", "data": {"pad": pad}})

    replies = await replies_to(socket, 4)

    # At most one is being answered and one waits: two frames of 2,000 exceed 3,000.
    assert [reply["data"]["requestId"] for reply in replies] == ["p0", "p1", "p2", "p3"]
    assert "RATE_LIMITED" in [reply["data"].get("code") for reply in replies]
    await socket.close()


@pytest.mark.parametrize("kind", ["too large", "binary", "not JSON"])
async def test_a_flood_of_frames_that_cannot_be_read_ends_in_4429(
    operator: Any, settings: Any, kind: str
) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "MAX_MESSAGE_BYTES": 100,
        "CLIENT_RATE_PER_SECOND": 10.0,
        "CLIENT_RATE_BURST": 5,
        "CLIENT_QUEUE_LIMIT": 10,
        "FLOOD_CLOSE_AFTER": 5,
    }
    socket = await open_socket(operator)
    for n in range(200):
        if kind == "too large":
            await socket.send({"type": "ping", "id": f"b{n}", "data": {"pad": "x" * 200}})
        elif kind == "binary":
            await socket.comm.send_to(bytes_data=b"\x00\x01" * 10)
        else:
            await socket.send(f'{{"id": "g{n}", oops')

    assert await socket.closed_with(timeout=10) == 4429
