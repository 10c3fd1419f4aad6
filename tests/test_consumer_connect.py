"""Connecting: credentials, origins, query parameters, token expiry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.ws import connect, session_cookie_for, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_jwt_in_query_authenticates(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator), clientId="admin-client-001")
    assert first["type"] == "ack"
    assert first["data"]["requestType"] == "connect"
    assert first["data"]["result"]["user"] == "operator"
    assert first["data"]["result"]["auth"] == "jwt"
    assert first["data"]["result"]["clientId"] == "admin-client-001"
    assert first["metadata"]["source"] == "tigateway"
    await socket.close()


async def test_session_cookie_authenticates(operator: Any) -> None:
    socket, first = await connect(cookie=await session_cookie_for(operator))
    assert first["data"]["result"]["auth"] == "session"
    assert first["data"]["result"]["user"] == "operator"
    await socket.close()


async def test_no_credentials_gets_unauthorized_then_4401(db: Any) -> None:
    socket, first = await connect()
    assert first["type"] == "error"
    assert first["data"]["code"] == "UNAUTHORIZED"
    assert await socket.closed_with() == 4401


async def test_anonymous_read_setting_lets_anonymous_connect_and_subscribe(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOW_ANONYMOUS_READ": True}
    socket, first = await connect()
    assert first["type"] == "ack"
    assert first["data"]["result"]["auth"] == "anonymous"
    reply = await socket.request("subscribe", {"topics": ["routes"]})
    assert reply["type"] == "ack"
    create = await socket.request("route_create", {"route": {"id": "x", "uri": "http://a"}})
    assert create["data"]["code"] == "UNAUTHORIZED"
    await socket.close()


async def test_forged_token_gets_unauthorized_then_4401(operator: Any) -> None:
    good = token_for(operator)
    header, payload, _signature = good.split(".")
    socket, first = await connect(token=f"{header}.{payload}.forgedsignature")
    assert first["data"]["code"] == "UNAUTHORIZED"
    assert first["data"]["details"]["field"] == "token"
    assert await socket.closed_with() == 4401


async def test_expired_token_gets_unauthorized_then_4401(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator, lifetime=dt.timedelta(seconds=-5)))
    assert first["data"]["code"] == "UNAUTHORIZED"
    assert await socket.closed_with() == 4401


async def test_token_expiring_during_connection_closes_with_4401(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator, lifetime=dt.timedelta(seconds=1)))
    assert first["type"] == "ack"
    expired = await socket.receive(timeout=4)
    assert expired["data"]["code"] == "UNAUTHORIZED"
    assert expired["data"]["message"] == "Token expired"
    assert await socket.closed_with() == 4401


async def test_garbage_token_is_unauthorized_not_a_crash(operator: Any) -> None:
    socket, first = await connect(token="x" * 10000)
    assert first["data"]["code"] == "UNAUTHORIZED"
    assert await socket.closed_with() == 4401


async def test_browser_origin_outside_allowed_hosts_is_closed_4403(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator), origin="https://evil.example")
    assert first["data"]["code"] == "FORBIDDEN"
    assert await socket.closed_with() == 4403


async def test_allowed_origin_connects(operator: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOWED_ORIGINS": ["https://admin.example.com"]}
    socket, first = await connect(token=token_for(operator), origin="https://admin.example.com")
    assert first["type"] == "ack"
    await socket.close()


async def test_origin_matching_allowed_hosts_connects(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator), origin="http://localhost:8000")
    assert first["type"] == "ack"
    await socket.close()


@pytest.mark.parametrize("subscriptions", ['["routes"]', "routes", " routes , "])
async def test_subscriptions_query_parameter_subscribes(operator: Any, subscriptions: str) -> None:
    socket, first = await connect(token=token_for(operator), subscriptions=subscriptions)
    assert first["data"]["result"]["topics"] == ["routes"]
    await socket.close()


async def test_bad_subscriptions_query_parameter_is_reported_and_socket_stays(
    operator: Any,
) -> None:
    socket, first = await connect(token=token_for(operator), subscriptions='["nope"]')
    assert first["type"] == "error"
    assert first["data"]["code"] == "INVALID_SUBSCRIPTION"
    ack = await socket.receive()
    assert ack["data"]["requestType"] == "connect"
    assert ack["data"]["result"]["topics"] == []
    pong = await socket.request("ping")
    assert pong["type"] == "pong"
    await socket.close()


async def read_until_ack(socket: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The errors sent before the connect ack, and the ack."""
    errors = []
    while True:
        message = await socket.receive()
        if message["type"] == "ack":
            return errors, message
        errors.append(message)


@pytest.mark.parametrize(
    "pairs",
    [
        [("subscriptions", "routes"), ("subscriptions", '["config"]'), ("subscriptions", "events")],
        [("subscriptions", '["routes", "config"]'), ("subscriptions", "events,routes")],
        [("subscriptions", "routes,config,events")],
    ],
    ids=["three-values", "array-and-list", "one-list"],
)
async def test_subscriptions_given_several_times_are_merged(
    make_user: Any, pairs: list[tuple[str, str]]
) -> None:
    user = await sync_to_async(make_user)(
        "reader", "view_route", "view_gatewayconfig", "view_events"
    )
    socket, first = await connect(token=token_for(user), query_pairs=pairs)
    assert first["type"] == "ack", first
    assert first["data"]["result"]["topics"] == ["routes", "config", "events"]
    await socket.close()


async def test_an_unknown_topic_costs_only_itself(operator: Any) -> None:
    socket, _ = await connect(
        token=token_for(operator),
        query_pairs=[("subscriptions", "nope,routes"), ("subscriptions", '["routes", 5]')],
    )
    socket_errors, ack = await read_until_ack_after(socket, _)
    assert ack["data"]["result"]["topics"] == ["routes"]
    details = [error["data"]["details"] for error in socket_errors]
    assert [(d["field"], d["value"]) for d in details] == [
        ("subscriptions", 5),
        ("subscriptions", "nope"),
    ]
    assert all(error["data"]["code"] == "INVALID_SUBSCRIPTION" for error in socket_errors)
    assert all(error["data"]["requestId"] is None for error in socket_errors)
    await socket.close()


async def test_a_forbidden_topic_costs_only_itself(viewer: Any) -> None:
    socket, first = await connect(token=token_for(viewer), subscriptions='["metrics", "routes"]')
    errors, ack = await read_until_ack_after(socket, first)
    assert ack["data"]["result"]["topics"] == ["routes"]
    [error] = errors
    assert error["data"]["code"] == "FORBIDDEN"
    details = error["data"]["details"]
    assert (details["field"], details["value"]) == ("subscriptions", "metrics")
    assert details["permission"] == "tigateway_channels.view_metrics"
    await socket.close()


async def test_an_over_long_client_id_is_an_error_and_the_socket_stays(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator), clientId="c" * 500)
    errors, ack = await read_until_ack_after(socket, first)

    [error] = errors
    assert error["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    details = error["data"]["details"]
    assert details["field"] == "clientId"
    assert details["value"] == "c" * 64 + "..."
    assert "128" in details["reason"] and "500" in details["reason"]
    assert ack["data"]["result"]["clientId"] is None
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()


async def test_a_client_id_of_128_characters_is_kept(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator), clientId="c" * 128)
    assert first["type"] == "ack"
    assert first["data"]["result"]["clientId"] == "c" * 128
    await socket.close()


async def read_until_ack_after(
    socket: Any, first: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if first["type"] == "ack":
        return [], first
    errors, ack = await read_until_ack(socket)
    return [first, *errors], ack
