"""Every client message type and error code, and that a bad message never closes the socket."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from tests.ws import Socket, connect, open_socket, token_for
from tigateway_channels.websocket.handlers.registry import HANDLERS, Handler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ROUTE = {
    "id": "user-service-route",
    "uri": "http://user-service:8080",
    "predicates": ["Path=/api/users/**"],
    "filters": ["StripPrefix=2"],
}


async def still_open(socket: Socket) -> None:
    pong = await socket.request("ping")
    assert pong["type"] == "pong"


async def test_ping_gets_pong_with_request_id(operator: Any) -> None:
    socket = await open_socket(operator)
    await socket.send({"type": "ping", "id": "ping-1"})
    pong = await socket.receive()
    assert pong["type"] == "pong"
    assert pong["data"]["requestId"] == "ping-1"
    assert {"type", "id", "timestamp", "data", "metadata"} <= set(pong)
    assert pong["timestamp"].endswith("Z")
    await socket.close()


async def test_client_pong_and_error_are_acknowledged(operator: Any) -> None:
    socket = await open_socket(operator)
    assert (await socket.request("pong"))["type"] == "ack"
    reply = await socket.request("error", {"code": "X", "message": "client side problem"})
    assert reply["type"] == "ack"
    await socket.close()


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ("{not json", "$"),
        ("[1, 2, 3]", "$"),
        ('"just a string"', "$"),
        ('{"id": "a"}', "type"),
        ('{"type": 5, "id": "a"}', "type"),
        ('{"type": "teleport", "id": "a"}', "type"),
        ('{"type": "ping", "id": "a", "data": [1]}', "data"),
        ('{"type": "ping", "id": {"x": 1}}', "id"),
    ],
)
async def test_malformed_messages_get_invalid_message_format_and_socket_stays_open(
    operator: Any, frame: str, field: str
) -> None:
    socket = await open_socket(operator)
    await socket.send(frame)
    error = await socket.receive()
    assert error["type"] == "error"
    assert error["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    assert error["data"]["details"]["field"] == field
    await still_open(socket)
    await socket.close()


async def test_unknown_type_error_keeps_request_id(operator: Any) -> None:
    socket = await open_socket(operator)
    reply = await socket.request("teleport")
    assert reply["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    assert "route_create" in reply["data"]["details"]["expected"]
    await socket.close()


async def test_binary_frame_is_rejected(operator: Any) -> None:
    socket = await open_socket(operator)
    await socket.comm.send_to(bytes_data=b"\x00\x01")
    error = await socket.receive()
    assert error["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    await still_open(socket)
    await socket.close()


async def test_huge_message_gets_message_too_large_with_its_request_id(operator: Any) -> None:
    socket = await open_socket(operator)
    await socket.send({"type": "ping", "id": "big", "data": {"pad": "x" * (1024 * 1024)}})
    error = await socket.receive()
    assert error["data"]["code"] == "MESSAGE_TOO_LARGE"
    assert error["data"]["requestId"] == "big"
    details = error["data"]["details"]
    assert details["limit"] == 1024 * 1024
    assert details["field"] == "$" and details["value"] > 1024 * 1024
    assert details["reason"]
    await still_open(socket)
    await socket.close()


async def test_oversized_frame_is_answered_in_its_turn(operator: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"MAX_MESSAGE_BYTES": 1000}
    socket = await open_socket(operator)
    await socket.send({"type": "ping", "id": "before"})
    await socket.send({"id": "big", "type": "ping", "data": {"pad": "x" * 2000}})
    await socket.send({"type": "ping", "id": "after"})
    replies = [await socket.receive() for _ in range(3)]
    assert [(r["type"], r["data"]["requestId"]) for r in replies] == [
        ("pong", "before"),
        ("error", "big"),
        ("pong", "after"),
    ]
    await socket.close()


async def test_sustained_flood_gets_rate_limited_then_4429(operator: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "CLIENT_RATE_PER_SECOND": 1.0,
        "CLIENT_RATE_BURST": 1,
        "CLIENT_QUEUE_LIMIT": 3,
        "FLOOD_CLOSE_AFTER": 5,
    }
    socket = await open_socket(operator)
    for n in range(20):
        await socket.send({"type": "ping", "id": f"p{n}"})
    replies = []
    while True:
        output = await socket.comm.receive_output(3)
        if output["type"] == "websocket.close":
            break
        replies.append(orjson.loads(output["text"]))
    assert output["code"] == 4429
    last = replies[-1]
    assert last["data"]["code"] == "RATE_LIMITED"
    assert last["data"]["details"]["reason"].startswith("flooding")
    # The frame whose arrival made it a flood: one of those after the queue filled up.
    assert last["data"]["requestId"] in {f"p{n}" for n in range(5, 20)}
    assert replies[0]["type"] == "pong" and replies[0]["data"]["requestId"] == "p0"
    sent_order = [int(reply["data"]["requestId"][1:]) for reply in replies]
    assert sent_order == sorted(sent_order)


async def test_handler_crash_is_internal_error_and_socket_stays(
    operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(conn: Any, message: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(HANDLERS, "ping", Handler(explode, "pong"))
    socket = await open_socket(operator)
    reply = await socket.request("ping")
    assert reply["data"]["code"] == "INTERNAL_ERROR"
    assert "boom" not in reply["data"]["message"]
    monkeypatch.undo()
    await still_open(socket)
    await socket.close()


async def test_subscribe_and_unsubscribe_reply_with_topics(operator: Any) -> None:
    socket = await open_socket(operator)
    reply = await socket.request(
        "subscribe",
        {"topics": ["routes"], "filters": {"routes": {"status": ["ACTIVE", "PENDING"]}}},
    )
    assert reply["type"] == "ack"
    assert reply["data"]["requestType"] == "subscribe"
    assert reply["data"]["result"]["topics"] == ["routes"]
    assert reply["data"]["result"]["filters"]["routes"]["status"] == ["ACTIVE", "PENDING"]
    reply = await socket.request("unsubscribe", {"topics": ["routes"]})
    assert reply["data"]["result"]["topics"] == []
    await socket.close()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"topics": ["nope"]}, "INVALID_SUBSCRIPTION"),
        ({"topics": []}, "INVALID_SUBSCRIPTION"),
        ({"topics": "routes"}, "INVALID_MESSAGE_FORMAT"),
        ({}, "INVALID_MESSAGE_FORMAT"),
        (
            {"topics": ["routes"], "filters": {"routes": {"status": ["SLEEPY"]}}},
            "INVALID_SUBSCRIPTION",
        ),
        ({"topics": ["routes"], "filters": {"routes": {"colour": "red"}}}, "INVALID_SUBSCRIPTION"),
        (
            {"topics": ["routes"], "filters": {"metrics": {"interval": 5000}}},
            "INVALID_SUBSCRIPTION",
        ),
        (
            {"topics": ["metrics"], "filters": {"metrics": {"interval": "fast"}}},
            "INVALID_SUBSCRIPTION",
        ),
    ],
)
async def test_bad_subscriptions_are_rejected(operator: Any, data: Any, code: str) -> None:
    socket = await open_socket(operator)
    reply = await socket.request("subscribe", data)
    assert reply["type"] == "error"
    assert reply["data"]["code"] == code
    assert "field" in reply["data"]["details"]
    await still_open(socket)
    await socket.close()


async def test_subscribing_to_routes_needs_view_route(nobody: Any) -> None:
    socket = await open_socket(nobody)
    reply = await socket.request("subscribe", {"topics": ["routes"]})
    assert reply["data"]["code"] == "FORBIDDEN"
    assert reply["data"]["details"]["permission"] == "tigateway_channels.view_route"
    await socket.close()


async def test_route_create_update_delete_round_trip(operator: Any) -> None:
    socket = await open_socket(operator)
    created = await socket.request("route_create", {"route": ROUTE})
    assert created["type"] == "ack"
    route = created["data"]["result"]
    assert route["id"] == "user-service-route"
    assert route["status"] == "ACTIVE"
    assert route["version"] == 1
    assert route["createdAt"].endswith("Z")

    updated = await socket.request(
        "route_update",
        {
            "routeId": "user-service-route",
            "updates": {
                "uri": "http://updated-service:8080",
                "filters": ["StripPrefix=2", "AddRequestHeader=X-Service,new-service"],
            },
        },
    )
    assert updated["data"]["result"]["uri"] == "http://updated-service:8080"
    assert updated["data"]["result"]["version"] == 2
    assert updated["data"]["result"]["predicates"] == ["Path=/api/users/**"]

    deleted = await socket.request("route_delete", {"routeId": "user-service-route"})
    assert deleted["type"] == "ack"
    assert deleted["data"]["result"]["id"] == "user-service-route"
    missing = await socket.request("route_delete", {"routeId": "user-service-route"})
    assert missing["data"]["code"] == "ROUTE_NOT_FOUND"
    await socket.close()


async def test_route_create_errors(operator: Any) -> None:
    socket = await open_socket(operator)
    await socket.request("route_create", {"route": ROUTE})
    duplicate = await socket.request("route_create", {"route": ROUTE})
    assert duplicate["data"]["code"] == "ROUTE_ALREADY_EXISTS"

    bad = await socket.request(
        "route_create", {"route": {"id": "bad", "uri": "invalid-uri", "predicates": ["Nope=1"]}}
    )
    assert bad["data"]["code"] == "INVALID_ROUTE_CONFIG"
    details = bad["data"]["details"]
    assert details["field"] == "uri"
    assert details["value"] == "invalid-uri"
    assert details["reason"]
    assert {issue["field"] for issue in details["errors"]} >= {"uri", "predicates[0]"}

    no_route = await socket.request("route_create", {"route": "nope"})
    assert no_route["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    await socket.close()


async def test_route_update_errors(operator: Any) -> None:
    socket = await open_socket(operator)
    await socket.request("route_create", {"route": ROUTE})
    conflict = await socket.request(
        "route_update",
        {"routeId": ROUTE["id"], "updates": {"order": 5}, "version": 7},
    )
    assert conflict["data"]["code"] == "VERSION_CONFLICT"
    assert conflict["data"]["details"]["currentVersion"] == 1
    ok = await socket.request(
        "route_update", {"routeId": ROUTE["id"], "updates": {"order": 5}, "version": 1}
    )
    assert ok["data"]["result"]["version"] == 2
    missing = await socket.request("route_update", {"routeId": "ghost", "updates": {"order": 1}})
    assert missing["data"]["code"] == "ROUTE_NOT_FOUND"
    bad = await socket.request("route_update", {"routeId": ROUTE["id"], "updates": {"id": "new"}})
    assert bad["data"]["code"] == "INVALID_ROUTE_CONFIG"
    wrong_type = await socket.request("route_update", {"routeId": 42, "updates": {}})
    assert wrong_type["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    assert wrong_type["data"]["details"]["field"] == "data.routeId"
    await socket.close()


@pytest.mark.parametrize(
    ("message_type", "data", "permission"),
    [
        ("route_create", {"route": ROUTE}, "tigateway_channels.add_route"),
        (
            "route_update",
            {"routeId": "r", "updates": {"order": 1}},
            "tigateway_channels.change_route",
        ),
        ("route_delete", {"routeId": "r"}, "tigateway_channels.delete_route"),
    ],
)
async def test_route_writes_need_their_permission(
    viewer: Any, message_type: str, data: Any, permission: str
) -> None:
    socket = await open_socket(viewer)
    reply = await socket.request(message_type, data)
    assert reply["data"]["code"] == "FORBIDDEN"
    assert reply["data"]["details"]["permission"] == permission
    await socket.close()


async def test_every_request_with_an_id_gets_exactly_one_reply(operator: Any) -> None:
    socket = await open_socket(operator)
    frames = [
        {"type": "ping", "id": "a"},
        {"type": "subscribe", "id": "b", "data": {"topics": ["routes"]}},
        {"type": "route_create", "id": "c", "data": {"route": {**ROUTE, "id": "one"}}},
        {"type": "route_delete", "id": "d", "data": {"routeId": "missing"}},
        {"type": "teleport", "id": "e"},
        {"type": "unsubscribe", "id": "f", "data": {"topics": ["routes"]}},
    ]
    for frame in frames:
        await socket.send(frame)
    replies: dict[str, int] = {}
    while sum(replies.values()) < len(frames):
        message = await socket.receive()
        request_id = message["data"].get("requestId")
        if request_id is not None:
            replies[request_id] = replies.get(request_id, 0) + 1
    assert replies == {frame["id"]: 1 for frame in frames}
    assert await socket.nothing_more()
    await socket.close()


async def test_a_client_id_with_a_newline_logs_as_one_line(
    operator: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "CLIENT_RATE_PER_SECOND": 1.0,
        "CLIENT_RATE_BURST": 1,
        "CLIENT_QUEUE_LIMIT": 1,
        "FLOOD_CLOSE_AFTER": 2,
    }
    forged = "web-1\n[ERROR] forged line"
    socket, first = await connect(token=token_for(operator), clientId=forged)
    assert first["type"] == "ack", first
    caplog.set_level(logging.INFO, logger="tigateway_channels")
    await socket.send({"type": "error", "id": "e1", "data": {"message": "bad\n[ERROR] forged"}})
    assert (await socket.receive())["type"] == "ack"
    for n in range(5):  # a flood: its close is logged with the client id
        await socket.send({"type": "ping", "id": f"p{n}"})
    assert await socket.closed_with() == 4429

    logged = [r.getMessage() for r in caplog.records if "web-1" in r.getMessage()]
    assert any("reported an error" in line for line in logged), logged
    assert any("Closing socket" in line for line in logged), logged
    for line in logged:
        assert "\n" not in line and "web-1\\x0a[ERROR] forged line" in line, line
