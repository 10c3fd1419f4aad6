"""Every error that answers a request carries ``data.requestId`` and the spec 9.1 ``details``:
always a ``reason``, and ``field`` and ``value`` wherever a field is at fault."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async

from tests.ws import Socket, connect, open_socket
from tigateway_channels.models import Route
from tigateway_channels.services import configs as config_service
from tigateway_channels.services import routes as route_service
from tigateway_channels.websocket.handlers.registry import HANDLERS, Handler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

EVERYTHING = (
    "view_route",
    "add_route",
    "change_route",
    "delete_route",
    "view_gatewayconfig",
    "add_gatewayconfig",
    "change_gatewayconfig",
    "rollback_gatewayconfig",
)
ROUTE = {"id": "r", "uri": "lb://user-service", "predicates": ["Path=/r/**"]}
KEY = {"configType": "route_config", "configId": "c"}

# (frame, code, field at fault or None). Frames are sent as text, ids chosen per case.
CASES: list[tuple[Any, str, str | None]] = [
    ('{"type": "ping", "id": "e1", "data": [1]}', "INVALID_MESSAGE_FORMAT", "data"),
    ('{"type": 5, "id": "e2"}', "INVALID_MESSAGE_FORMAT", "type"),
    ({"type": "teleport", "id": "e3"}, "INVALID_MESSAGE_FORMAT", "type"),
    ({"type": "route_create", "id": "e4", "data": {}}, "INVALID_MESSAGE_FORMAT", "data.route"),
    (
        {"type": "route_create", "id": "e5", "data": {"route": {**ROUTE, "uri": "nope"}}},
        "INVALID_ROUTE_CONFIG",
        "uri",
    ),
    ({"type": "route_create", "id": "e6", "data": {"route": ROUTE}}, "ROUTE_ALREADY_EXISTS", "id"),
    (
        {"type": "route_update", "id": "e7", "data": {"routeId": "ghost", "updates": {}}},
        "ROUTE_NOT_FOUND",
        "routeId",
    ),
    (
        {"type": "route_update", "id": "e8", "data": {"routeId": "r", "updates": {}, "version": 9}},
        "VERSION_CONFLICT",
        "version",
    ),
    (
        {"type": "route_delete", "id": "e9", "data": {"routeId": "r", "version": 9}},
        "VERSION_CONFLICT",
        "version",
    ),
    (
        {"type": "config_get", "id": "e10", "data": {**KEY, "configId": "ghost"}},
        "CONFIG_NOT_FOUND",
        "configId",
    ),
    (
        {"type": "config_get", "id": "e11", "data": {**KEY, "version": 9}},
        "CONFIG_NOT_FOUND",
        "version",
    ),
    (
        {"type": "config_rollback", "id": "e12", "data": {**KEY, "toVersion": 9}},
        "CONFIG_NOT_FOUND",
        "toVersion",
    ),
    (
        {"type": "config_update", "id": "e13", "data": {**KEY, "config": {"bogus": 1}}},
        "CONFIG_VALIDATION_ERROR",
        "bogus",
    ),
    (
        {"type": "config_update", "id": "e14", "data": {**KEY, "config": {}, "version": 9}},
        "VERSION_CONFLICT",
        "version",
    ),
    (
        {"type": "config_update", "id": 15, "data": {**KEY, "configType": "nope", "config": {}}},
        "CONFIG_VALIDATION_ERROR",
        "configType",
    ),
    (
        {"type": "subscribe", "id": "e16", "data": {"topics": ["nope"]}},
        "INVALID_SUBSCRIPTION",
        "topics",
    ),
    (
        {
            "type": "subscribe",
            "id": "e17",
            "data": {"topics": ["routes"], "filters": {"routes": 1}},
        },
        "INVALID_SUBSCRIPTION",
        "filters.routes",
    ),
    (
        {
            "type": "subscribe",
            "id": "e18",
            "data": {"topics": ["routes"], "filters": {"logs": {"level": "INFO"}}},
        },
        "INVALID_SUBSCRIPTION",
        "filters.logs",
    ),
    (
        {
            "type": "subscribe",
            "id": "e19",
            "data": {"topics": ["routes"], "recover": {"routes": {"offset": 1, "epoch": 5}}},
        },
        "INVALID_SUBSCRIPTION",
        "recover.routes.epoch",
    ),
    ({"type": "subscribe", "id": "e20", "data": {"topics": []}}, "INVALID_SUBSCRIPTION", "topics"),
]


@pytest.fixture
def everything(make_user: Callable[..., Any]) -> Any:
    return make_user("everything", *EVERYTHING)


async def socket_with_a_route_and_a_config(user: Any) -> Socket:
    await sync_to_async(route_service.create_route)(ROUTE)
    await sync_to_async(config_service.save_config)("route_config", "c", {"routes": []})
    return await open_socket(user)


def assert_answers(reply: dict[str, Any], request_id: Any, code: str, field: str | None) -> None:
    assert reply["type"] == "error", reply
    data = reply["data"]
    assert data["code"] == code, data
    assert "requestId" in data and data["requestId"] == request_id
    details = data["details"]
    assert isinstance(details["reason"], str) and details["reason"]
    if field is not None:
        assert details["field"] == field, details
        assert "value" in details


@pytest.mark.parametrize(("frame", "code", "field"), CASES)
async def test_each_request_error_has_request_id_reason_field_and_value(
    everything: Any, frame: Any, code: str, field: str | None
) -> None:
    socket = await socket_with_a_route_and_a_config(everything)
    request_id = frame["id"] if isinstance(frame, dict) else frame.split('"id": "')[1][:2]
    await socket.send(frame)

    assert_answers(await socket.receive(), request_id, code, field)
    await socket.close()


async def test_unparseable_frames_answer_with_a_null_request_id_and_the_field(
    everything: Any,
) -> None:
    socket = await socket_with_a_route_and_a_config(everything)
    for frame, field in (("{not json", "$"), ("[1]", "$"), ('{"type": "ping", "id": {}}', "id")):
        await socket.send(frame)
        assert_answers(await socket.receive(), None, "INVALID_MESSAGE_FORMAT", field)
    await socket.close()


async def test_binary_frame_error_carries_the_id_it_could_read(everything: Any) -> None:
    socket = await socket_with_a_route_and_a_config(everything)
    await socket.comm.send_to(bytes_data=b'{"type": "ping", "id": "bin-1"}')
    assert_answers(await socket.receive(), "bin-1", "INVALID_MESSAGE_FORMAT", "$")
    await socket.close()


async def test_permission_errors_carry_request_id_reason_and_permission(
    make_user: Callable[..., Any],
) -> None:
    viewer = await sync_to_async(make_user)("viewer", "view_route")
    socket = await socket_with_a_route_and_a_config(viewer)
    await socket.send({"type": "route_delete", "id": "f1", "data": {"routeId": "r"}})
    reply = await socket.receive()
    assert_answers(reply, "f1", "FORBIDDEN", None)
    assert reply["data"]["details"]["permission"] == "tigateway_channels.delete_route"
    await socket.close()


async def test_anonymous_write_is_forbidden_with_request_id_and_reason(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOW_ANONYMOUS_READ": True}
    socket, _ = await connect()
    await socket.send({"type": "route_create", "id": "u1", "data": {"route": ROUTE}})
    assert_answers(await socket.receive(), "u1", "FORBIDDEN", None)
    await socket.close()


async def test_internal_error_has_request_id_and_a_reason_without_server_details(
    everything: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(conn: Any, message: Any) -> Any:
        raise RuntimeError("secret server detail")

    monkeypatch.setitem(HANDLERS, "ping", Handler(explode, "pong"))
    socket = await socket_with_a_route_and_a_config(everything)
    await socket.send({"type": "ping", "id": "i1"})
    reply = await socket.receive()
    assert_answers(reply, "i1", "INTERNAL_ERROR", None)
    assert "secret" not in str(reply["data"])
    await socket.close()


async def test_too_large_and_rate_limited_errors_carry_the_request_id(
    everything: Any, settings: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "MAX_MESSAGE_BYTES": 200,
        "CLIENT_RATE_PER_SECOND": 20.0,
        "CLIENT_RATE_BURST": 1,
        "CLIENT_QUEUE_LIMIT": 1,
    }
    socket = await socket_with_a_route_and_a_config(everything)
    await socket.send({"type": "ping", "id": "big", "data": {"pad": "x" * 300}})
    assert_answers(await socket.receive(), "big", "MESSAGE_TOO_LARGE", "$")

    for n in range(6):
        await socket.send({"type": "ping", "id": f"p{n}"})
    replies = [await socket.receive() for _ in range(6)]
    limited = [reply for reply in replies if reply["type"] == "error"]
    assert limited
    for reply in limited:
        assert_answers(reply, reply["data"]["requestId"], "RATE_LIMITED", None)
        assert reply["data"]["requestId"] in {f"p{n}" for n in range(6)}
    await socket.close()


def nested(levels: int) -> str:
    return '{"a":[' * levels + "1" + "]}" * levels


# Where any user can put a value: a route, a predicate, a filter, its values, the id, a
# route id, an unknown field of a config, a config type. "@" is where the deep value goes.
DEEP_PLACES = [
    ('{"type":"route_create","id":"d1","data":{"route":@}}', "INVALID_ROUTE_CONFIG"),
    (
        '{"type":"route_create","id":"d2","data":{"route":{"id":"r2","uri":"http://a",'
        '"predicates":[@]}}}',
        "INVALID_ROUTE_CONFIG",
    ),
    (
        '{"type":"subscribe","id":"d3","data":{"topics":["routes"],"filters":{"routes":@}}}',
        "INVALID_SUBSCRIPTION",
    ),
    (
        '{"type":"subscribe","id":"d4","data":{"topics":["routes"],'
        '"filters":{"routes":{"status":@}}}}',
        "INVALID_SUBSCRIPTION",
    ),
    (
        '{"type":"route_update","id":@,"data":{"routeId":"r","updates":{}}}',
        "INVALID_MESSAGE_FORMAT",
    ),
    ('{"type":"route_delete","id":"d6","data":{"routeId":@}}', "INVALID_MESSAGE_FORMAT"),
    (
        '{"type":"config_update","id":"d7","data":{"configType":"route_config","configId":"c",'
        '"config":{"bogus":@}}}',
        "CONFIG_VALIDATION_ERROR",
    ),
    (
        '{"type":"config_get","id":"d8","data":{"configType":@,"configId":"c"}}',
        "INVALID_MESSAGE_FORMAT",
    ),
]
DEEP_FRAMES = [(place.replace("@", nested(251)), code) for place, code in DEEP_PLACES]


@pytest.mark.parametrize(("frame", "code"), DEEP_FRAMES)
async def test_a_value_nested_past_the_encoder_limit_gets_its_error_and_the_socket_stays(
    everything: Any, frame: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    socket = await socket_with_a_route_and_a_config(everything)
    await socket.send(frame)

    reply = await socket.receive()
    assert reply["type"] == "error" and reply["data"]["code"] == code, reply["data"]
    if '"id":"d' in frame:
        assert reply["data"]["requestId"] == frame.split('"id":"')[1][:2]
    assert len(orjson.dumps(reply)) < 10_000
    assert (await socket.request("ping"))["type"] == "pong"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    await socket.close()


async def test_an_unexpected_failure_is_internal_error_with_the_incident_of_its_log_line(
    everything: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(conn: Any, message: Any) -> Any:
        raise RuntimeError("secret server detail")

    monkeypatch.setitem(HANDLERS, "ping", Handler(explode, "pong"))
    socket = await socket_with_a_route_and_a_config(everything)
    await socket.send({"type": "ping", "id": "i2"})
    reply = await socket.receive()

    assert_answers(reply, "i2", "INTERNAL_ERROR", None)
    incident = reply["data"]["details"]["incident"]
    [record] = [r for r in caplog.records if r.exc_info]
    assert incident in record.getMessage()
    assert "secret server detail" in str(record.exc_info[1])
    monkeypatch.undo()
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()


async def test_an_ack_that_cannot_be_encoded_is_internal_error_not_silence(
    everything: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def unencodable(conn: Any, message: Any) -> Any:
        return {"big": 2**70}

    monkeypatch.setitem(HANDLERS, "ping", Handler(unencodable, "pong"))
    socket = await socket_with_a_route_and_a_config(everything)
    await socket.send({"type": "ping", "id": "i3"})

    assert_answers(await socket.receive(), "i3", "INTERNAL_ERROR", None)
    assert await socket.nothing_more(0.1)
    await socket.close()


UNSTORABLE: list[tuple[Any, str, str]] = [
    (
        {
            "type": "route_create",
            "id": "s1",
            "data": {"route": {**ROUTE, "id": "s", "predicates": None}},
        },
        "INVALID_ROUTE_CONFIG",
        "predicates",
    ),
    (
        {
            "type": "route_create",
            "id": "s2",
            "data": {"route": {**ROUTE, "id": "s", "filters": None}},
        },
        "INVALID_ROUTE_CONFIG",
        "filters",
    ),
    (
        {
            "type": "route_create",
            "id": "s3",
            "data": {"route": {**ROUTE, "id": "s", "metadata": {"a": [{"b": "x\x00"}]}}},
        },
        "INVALID_ROUTE_CONFIG",
        "metadata.a[0].b",
    ),
    (
        {
            "type": "route_update",
            "id": "s4",
            "data": {"routeId": "r", "updates": {"filters": ["SetPath=/\x00"]}},
        },
        "INVALID_ROUTE_CONFIG",
        "filters[0]",
    ),
    (
        {"type": "route_update", "id": "s5", "data": {"routeId": "r\x00", "updates": {}}},
        "INVALID_MESSAGE_FORMAT",
        "routeId",
    ),
    (
        {"type": "route_delete", "id": "s6", "data": {"routeId": "\x00"}},
        "INVALID_MESSAGE_FORMAT",
        "routeId",
    ),
    (
        {"type": "config_get", "id": "s7", "data": {**KEY, "configType": "route_config\x00"}},
        "CONFIG_VALIDATION_ERROR",
        "configType",
    ),
    (
        {"type": "config_update", "id": "s8", "data": {**KEY, "configType": "\x00", "config": {}}},
        "CONFIG_VALIDATION_ERROR",
        "configType",
    ),
    (
        {
            "type": "config_update",
            "id": "s9",
            "data": {**KEY, "config": {"routes": [{**ROUTE, "id": "s", "metadata": {"k\x00": 1}}]}},
        },
        "CONFIG_VALIDATION_ERROR",
        "routes[0].metadata.k\x00",
    ),
    (
        {
            "type": "config_rollback",
            "id": "s10",
            "data": {**KEY, "configType": "a\x00", "toVersion": 1},
        },
        "CONFIG_VALIDATION_ERROR",
        "configType",
    ),
]


@pytest.mark.parametrize(("frame", "code", "field"), UNSTORABLE)
async def test_input_the_database_cannot_store_gets_the_fields_error_and_changes_nothing(
    everything: Any, frame: Any, code: str, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    socket = await socket_with_a_route_and_a_config(everything)
    await socket.send(frame)

    reply = await socket.receive()
    assert_answers(reply, frame["id"], code, None)
    issues = reply["data"]["details"].get("errors") or [reply["data"]["details"]]
    assert field in [issue["field"] for issue in issues], reply["data"]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert await sync_to_async(Route.objects.filter(pk="s").exists)() is False
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()
