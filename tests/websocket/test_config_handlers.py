"""Config requests over the WebSocket API: get, update, rollback, delete, their permissions,
and the config_update/route_update notifications every change pushes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.ws import Socket, connect, open_socket
from tigateway_channels.models import GatewayConfig, Route
from tigateway_channels.services import configs as config_service

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CONFIG_PERMISSIONS = (
    "view_gatewayconfig",
    "add_gatewayconfig",
    "change_gatewayconfig",
    "delete_gatewayconfig",
    "rollback_gatewayconfig",
    "view_route",
)
CONFIG_KEYS = {"configType", "configId", "version", "createdAt", "updatedAt", "updatedBy", "config"}


def route(route_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": route_id,
        "uri": f"http://{route_id}.internal:8080",
        "predicates": [f"Path=/api/{route_id}/**"],
        **fields,
    }


@pytest.fixture
def config_admin(make_user: Callable[..., Any]) -> Any:
    return make_user("config-admin", *CONFIG_PERMISSIONS)


save = sync_to_async(config_service.save_config)


def update(config_id: str, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"configType": "route_config", "configId": config_id, "config": config, **extra}


async def topic_messages(socket: Socket, count: int) -> list[dict[str, Any]]:
    return [await socket.receive_topic() for _ in range(count)]


async def test_config_get_replies_with_the_config_in_an_ack(config_admin: Any) -> None:
    await save("route_config", "users", {"routes": [route("users")]}, user=config_admin)
    socket = await open_socket(config_admin)

    reply = await socket.request("config_get", {"configType": "route_config", "configId": "users"})

    assert reply["type"] == "ack"
    assert reply["data"]["requestType"] == "config_get"
    result = reply["data"]["result"]
    assert set(result) == CONFIG_KEYS
    assert result["configId"] == "users" and result["version"] == 1
    assert result["updatedBy"] == "config-admin"
    assert result["config"] == {"id": "users", "routes": [route("users")]}
    await socket.close()


async def test_config_get_of_an_older_version_and_of_missing_ones(config_admin: Any) -> None:
    await save("route_config", "users", {"routes": [route("users")]})
    await save("route_config", "users", {"routes": []})
    socket = await open_socket(config_admin)
    key = {"configType": "route_config", "configId": "users"}

    old = await socket.request("config_get", {**key, "version": 1})
    gone = await socket.request("config_get", {**key, "version": 9})
    missing = await socket.request("config_get", {**key, "configId": "nope"})

    assert old["data"]["result"]["version"] == 1
    assert old["data"]["result"]["config"] == {"id": "users", "routes": [route("users")]}
    assert gone["data"]["code"] == "CONFIG_NOT_FOUND"
    assert gone["data"]["details"]["version"] == 9
    assert missing["data"]["code"] == "CONFIG_NOT_FOUND"
    assert missing["data"]["details"] == {
        "field": "configId",
        "value": "nope",
        "reason": "no route_config config has this id",
        "configType": "route_config",
        "configId": "nope",
    }
    await socket.close()


async def test_config_update_creates_updates_and_pushes_configs_and_routes(
    config_admin: Any,
) -> None:
    listener = await open_socket(config_admin, ["config", "routes"])
    socket = await open_socket(config_admin)

    created = await socket.request("config_update", update("users", {"routes": [route("a")]}))
    updated = await socket.request(
        "config_update", update("users", {"routes": [route("b")]}, version=1)
    )

    assert created["type"] == "ack" and created["data"]["result"]["version"] == 1
    assert updated["data"]["result"]["version"] == 2
    messages = await topic_messages(listener, 5)
    configs = [m for m in messages if m["type"] == "config_update"]
    routes = [m for m in messages if m["type"] == "route_update"]
    assert [m["data"]["action"] for m in configs] == ["created", "updated"]
    assert set(configs[1]["data"]) == CONFIG_KEYS | {"action"}
    assert configs[1]["data"]["configType"] == "route_config"
    assert configs[1]["data"]["version"] == 2
    assert configs[1]["data"]["config"] == {"id": "users", "routes": [route("b")]}
    assert [(m["data"]["action"], m["data"]["route"]["id"]) for m in routes] == [
        ("created", "a"),
        ("deleted", "a"),
        ("created", "b"),
    ]
    await listener.close()
    await socket.close()


async def test_config_update_reports_every_error_and_changes_nothing(config_admin: Any) -> None:
    socket = await open_socket(config_admin)
    routes = [route(f"r{i}") for i in range(10)]
    routes[2]["predicates"] = ["Nope=/x"]
    routes[6]["uri"] = "not a uri"

    reply = await socket.request(
        "config_update",
        update("users", {"routes": routes, "globalFilters": ["StripPrefix=1", "Bogus=1"]}),
    )

    assert reply["type"] == "error"
    assert reply["data"]["code"] == "CONFIG_VALIDATION_ERROR"
    details = reply["data"]["details"]
    assert details["field"] == "routes[2].predicates[0]"
    assert [e["field"] for e in details["errors"]] == [
        "routes[2].predicates[0]",
        "routes[6].uri",
        "globalFilters[1]",
    ]
    assert not await sync_to_async(Route.objects.exists)()
    await socket.close()


async def test_config_update_with_a_stale_version_is_a_version_conflict(
    config_admin: Any,
) -> None:
    await save("route_config", "users", {"routes": []})
    await save("route_config", "users", {"routes": [route("a")]})
    socket = await open_socket(config_admin)

    reply = await socket.request("config_update", update("users", {"routes": []}, version=1))

    assert reply["data"]["code"] == "VERSION_CONFLICT"
    assert reply["data"]["details"]["currentVersion"] == 2
    await socket.close()


async def test_rollback_restores_routes_and_pushes_route_and_config_updates(
    config_admin: Any,
) -> None:
    await save("route_config", "users", {"routes": [route("users"), route("orders")]})
    await save("route_config", "users", {"routes": [route("users", uri="http://v2.internal")]})
    listener = await open_socket(config_admin, ["config", "routes"])
    socket = await open_socket(config_admin)

    reply = await socket.request(
        "config_rollback",
        {"configType": "route_config", "configId": "users", "toVersion": 1, "version": 2},
    )

    assert reply["type"] == "ack", reply
    assert reply["data"]["result"]["version"] == 3
    assert reply["data"]["result"]["config"]["routes"][1]["id"] == "orders"
    messages = await topic_messages(listener, 3)
    config_messages = [m for m in messages if m["type"] == "config_update"]
    route_messages = {
        m["data"]["route"]["id"]: m["data"] for m in messages if m["type"] == "route_update"
    }
    assert [m["data"]["action"] for m in config_messages] == ["rolled_back"]
    assert config_messages[0]["data"]["version"] == 3
    assert route_messages["users"]["action"] == "updated"
    assert route_messages["users"]["route"]["uri"] == "http://users.internal:8080"
    assert route_messages["orders"]["action"] == "created"
    await listener.close()
    await socket.close()


async def test_config_delete_removes_the_config_and_its_routes(config_admin: Any) -> None:
    await save("route_config", "users", {"routes": [route("users")]})
    listener = await open_socket(config_admin, ["config", "routes"])
    socket = await open_socket(config_admin)

    reply = await socket.request(
        "config_delete", {"configType": "route_config", "configId": "users", "version": 1}
    )

    assert reply["data"]["result"]["configId"] == "users"
    messages = await topic_messages(listener, 2)
    assert {(m["type"], m["data"]["action"]) for m in messages} == {
        ("route_update", "deleted"),
        ("config_update", "deleted"),
    }
    assert not await sync_to_async(Route.objects.exists)()
    await listener.close()
    await socket.close()


async def test_config_filters_select_by_type_and_id(config_admin: Any) -> None:
    listener = await open_socket(config_admin)
    reply = await listener.request(
        "subscribe", {"topics": ["config"], "filters": {"config": {"configIds": ["wanted"]}}}
    )
    assert reply["type"] == "ack"

    await save("route_config", "other", {"routes": []})
    await save("route_config", "wanted", {"routes": []})

    message = await listener.receive_topic()
    assert message["data"]["config"]["id"] == "wanted"
    assert await listener.nothing_more()
    await listener.close()


@pytest.mark.parametrize(
    ("codenames", "request_type", "data", "permission"),
    [
        ((), "config_get", {}, "view_gatewayconfig"),
        (("change_gatewayconfig",), "config_update", {"configId": "new"}, "add_gatewayconfig"),
        (("add_gatewayconfig",), "config_update", {}, "change_gatewayconfig"),
        (("change_gatewayconfig",), "config_rollback", {"toVersion": 1}, "rollback"),
        (("change_gatewayconfig",), "config_delete", {}, "delete_gatewayconfig"),
    ],
    ids=["get", "create", "change", "rollback", "delete"],
)
async def test_each_request_needs_its_permission(
    make_user: Callable[..., Any],
    codenames: tuple[str, ...],
    request_type: str,
    data: dict[str, Any],
    permission: str,
) -> None:
    await save("route_config", "users", {"routes": [route("users")]})
    user = await sync_to_async(make_user)("limited", *codenames)
    socket = await open_socket(user)
    body = {"configType": "route_config", "configId": "users", "config": {"routes": []}, **data}

    reply = await socket.request(request_type, body)

    assert reply["data"]["code"] == "FORBIDDEN", reply
    assert permission in reply["data"]["details"]["permission"]
    assert await sync_to_async(Route.objects.filter(pk="users").exists)()
    await socket.close()


async def test_subscribing_to_config_needs_view_permission(
    make_user: Callable[..., Any],
) -> None:
    user = await sync_to_async(make_user)("routes-only", "view_route")
    socket = await open_socket(user)

    reply = await socket.request("subscribe", {"topics": ["config"]})

    assert reply["data"]["code"] == "FORBIDDEN"
    await socket.close()


async def test_anonymous_sockets_may_read_configs_but_never_write(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOW_ANONYMOUS_READ": True}
    await save("route_config", "users", {"routes": []})
    socket, first = await connect()
    assert first["data"]["result"]["auth"] == "anonymous"

    got = await socket.request("config_get", {"configType": "route_config", "configId": "users"})
    write = await socket.request("config_update", update("users", {"routes": [route("x")]}))

    assert got["type"] == "ack"
    assert write["data"]["code"] == "FORBIDDEN"
    await socket.close()


async def test_malformed_config_requests_are_invalid_message_format(config_admin: Any) -> None:
    socket = await open_socket(config_admin)

    no_id = await socket.request("config_get", {"configType": "route_config"})
    not_object = await socket.request(
        "config_update", {"configType": "route_config", "configId": "x", "config": [1]}
    )
    unknown_type = await socket.request("config_update", update("x", {}, configType="nope"))

    assert no_id["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    assert no_id["data"]["details"]["field"] == "data.configId"
    assert not_object["data"]["details"]["field"] == "data.config"
    assert unknown_type["data"]["code"] == "CONFIG_VALIDATION_ERROR"
    assert unknown_type["data"]["details"]["field"] == "configType"
    await socket.close()


async def test_config_update_notification_fits_a_handler_written_from_spec_5_1(
    config_admin: Any,
) -> None:
    listener = await open_socket(config_admin, ["config"])
    document = {
        "routes": [route("users")],
        "globalFilters": [
            {"name": "AddRequestHeader", "args": {"name": "X-Gateway", "value": "TiGateway"}}
        ],
    }
    await save("route_config", "user-service-config", document, user=config_admin)

    message = await listener.receive_topic()

    # What the specification's client reads, at the places 5.1 shows it.
    data = message["data"]
    assert (data["configType"], data["action"]) == ("route_config", "created")
    assert data["config"]["id"] == "user-service-config"
    assert data["config"]["routes"][0]["uri"] == "http://users.internal:8080"
    assert data["config"]["globalFilters"] == document["globalFilters"]
    # What the product adds sits beside the document, never inside it.
    assert (data["configId"], data["version"], data["updatedBy"]) == (
        "user-service-config",
        1,
        "config-admin",
    )
    assert set(data["config"]) == {"id", "routes", "globalFilters"}
    await listener.close()


async def test_config_from_config_get_can_be_sent_back_with_config_update(
    config_admin: Any,
) -> None:
    await save("route_config", "users", {"routes": [route("users")]})
    socket = await open_socket(config_admin)
    key = {"configType": "route_config", "configId": "users"}
    got = (await socket.request("config_get", key))["data"]["result"]
    got["config"]["routes"][0]["order"] = 7

    reply = await socket.request(
        "config_update", {**key, "config": got["config"], "version": got["version"]}
    )

    assert reply["type"] == "ack", reply
    assert reply["data"]["result"]["version"] == 2
    assert reply["data"]["result"]["config"]["id"] == "users"
    stored = await sync_to_async(config_service.get_config)("route_config", "users")
    assert stored["config"]["routes"][0]["order"] == 7
    revision = await sync_to_async(
        lambda: GatewayConfig.objects.get().revisions.get(version=2).document
    )()
    assert "id" not in revision  # the id is the key, not part of the stored document
    await socket.close()


async def test_config_update_with_another_id_in_the_document_is_a_field_error(
    config_admin: Any,
) -> None:
    await save("route_config", "users", {"routes": []})
    socket = await open_socket(config_admin)

    reply = await socket.request(
        "config_update", update("users", {"id": "orders", "routes": [route("x", uri="nope")]})
    )

    assert reply["data"]["code"] == "CONFIG_VALIDATION_ERROR"
    details = reply["data"]["details"]
    assert (details["field"], details["value"]) == ("id", "orders")
    assert "configId 'users'" in details["reason"]
    assert [e["field"] for e in details["errors"]] == ["id", "routes[0].uri"]
    assert not await sync_to_async(Route.objects.exists)()
    await socket.close()


async def test_config_snapshot_after_a_failed_recovery_has_the_notification_shape(
    config_admin: Any,
) -> None:
    listener = await open_socket(config_admin, ["config"])
    await save("route_config", "users", {"routes": [route("users")]}, user=config_admin)
    notification = (await listener.receive_topic())["data"]
    socket = await open_socket(config_admin)

    reply = await socket.request(
        "subscribe",
        {"topics": ["config"], "recover": {"config": {"offset": 0, "epoch": "not-the-epoch"}}},
    )

    [snapshot] = reply["data"]["result"]["snapshot"]["config"]["configs"]
    assert snapshot == {key: value for key, value in notification.items() if key != "action"}
    await listener.close()
    await socket.close()
