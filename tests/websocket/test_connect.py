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


async def test_no_credentials_is_an_anonymous_session_that_stays_open(db: Any) -> None:
    socket, first = await connect()
    assert first["type"] == "ack"
    assert first["data"]["result"]["auth"] == "anonymous"
    assert first["data"]["result"]["user"] is None
    pong = await socket.request("ping")
    assert pong["type"] == "pong"
    await socket.close()


async def test_anonymous_subscribe_to_a_protected_topic_is_forbidden(db: Any) -> None:
    socket, _ = await connect()
    reply = await socket.request("subscribe", {"topics": ["routes"]})
    assert reply["type"] == "error"
    assert reply["data"]["code"] == "FORBIDDEN"
    assert reply["data"]["requestId"] == "req-1"
    assert reply["data"]["details"]["permission"] == "tigateway_channels.view_route"
    assert "token" in reply["data"]["details"]["reason"]
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()


async def test_anonymous_rights_come_from_permissions(db: Any, settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "tests.websocket.test_connect.AnonymousMayViewRoutes",
    ]
    socket, _ = await connect()
    reply = await socket.request("subscribe", {"topics": ["routes"]})
    assert reply["type"] == "ack", reply
    assert (await socket.request("subscribe", {"topics": ["config"]}))["data"]["code"] == (
        "FORBIDDEN"
    )
    await socket.close()


class AnonymousMayViewRoutes:
    """A project's backend that lets anonymous users view routes (Django asks every backend)."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def has_perm(self, user: Any, perm: str, obj: Any = None) -> bool:
        return not user.is_authenticated and perm == "tigateway_channels.view_route"


async def test_anonymous_read_setting_lets_anonymous_connect_and_subscribe(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOW_ANONYMOUS_READ": True}
    socket, first = await connect()
    assert first["type"] == "ack"
    assert first["data"]["result"]["auth"] == "anonymous"
    reply = await socket.request("subscribe", {"topics": ["routes"]})
    assert reply["type"] == "ack"
    create = await socket.request("route_create", {"route": {"id": "x", "uri": "http://a"}})
    assert create["data"]["code"] == "FORBIDDEN"
    await socket.close()


async def assert_refused_token_leaves_an_anonymous_session(socket: Any, first: Any) -> Any:
    """The connect ack, then UNAUTHORIZED naming the token; the socket stays usable."""
    assert first["type"] == "ack"
    assert first["data"]["result"]["auth"] == "anonymous"
    refused = await socket.receive()
    assert refused["type"] == "error"
    assert refused["data"]["code"] == "UNAUTHORIZED"
    details = refused["data"]["details"]
    assert details["field"] == "token"
    assert details["reason"]
    assert details["value"].endswith("characters)")
    assert (await socket.request("ping"))["type"] == "pong"
    forbidden = await socket.request("subscribe", {"topics": ["routes"]})
    assert forbidden["data"]["code"] == "FORBIDDEN"
    await socket.close()
    return details


async def test_forged_token_gets_unauthorized_and_an_anonymous_session(operator: Any) -> None:
    good = token_for(operator)
    header, payload, _signature = good.split(".")
    socket, first = await connect(token=f"{header}.{payload}.forgedsignature")
    details = await assert_refused_token_leaves_an_anonymous_session(socket, first)
    assert "forgedsignature" not in details["value"]


async def test_expired_token_gets_unauthorized_and_an_anonymous_session(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator, lifetime=dt.timedelta(seconds=-5)))
    details = await assert_refused_token_leaves_an_anonymous_session(socket, first)
    assert "expired" in details["reason"].lower()


async def test_token_expiring_during_connection_closes_with_4401(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator, lifetime=dt.timedelta(seconds=1)))
    assert first["type"] == "ack"
    # Less than AUTH_EXPIRY_WARNING_SECONDS left: the warning comes at once, then the close.
    warning = await socket.receive(timeout=4)
    assert warning["type"] == "auth_expiring"
    expired = await socket.receive(timeout=4)
    assert expired["data"]["code"] == "UNAUTHORIZED"
    assert expired["data"]["message"] == "Token expired"
    assert await socket.closed_with() == 4401


async def test_garbage_token_is_unauthorized_not_a_crash(operator: Any) -> None:
    socket, first = await connect(token="x" * 10000)
    await assert_refused_token_leaves_an_anonymous_session(socket, first)


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
    socket, ack = await connect(token=token_for(operator), subscriptions='["nope"]')
    assert ack["data"]["requestType"] == "connect"  # the connect ack always comes first
    assert ack["data"]["result"]["topics"] == []
    error = await socket.receive()
    assert error["type"] == "error"
    assert error["data"]["code"] == "INVALID_SUBSCRIPTION"
    pong = await socket.request("ping")
    assert pong["type"] == "pong"
    await socket.close()


async def test_connect_ack_comes_before_the_first_health_update(make_user: Any) -> None:
    watcher = await sync_to_async(make_user)("watcher", "view_health")
    socket, first = await connect(token=token_for(watcher), subscriptions="health")
    assert first["type"] == "ack"
    assert first["data"]["result"]["topics"] == ["health"]
    health = await socket.receive(timeout=5)
    assert health["type"] == "health_update"
    await socket.close()


async def ack_then_errors(
    socket: Any, first: dict[str, Any], count: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The connect ack comes first; the errors about the parameters follow it."""
    assert first["type"] == "ack", first
    errors = [await socket.receive() for _ in range(count)]
    assert all(error["type"] == "error" for error in errors), errors
    return errors, first


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
    socket_errors, ack = await ack_then_errors(socket, _, 2)
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
    errors, ack = await ack_then_errors(socket, first, 1)
    assert ack["data"]["result"]["topics"] == ["routes"]
    [error] = errors
    assert error["data"]["code"] == "FORBIDDEN"
    details = error["data"]["details"]
    assert (details["field"], details["value"]) == ("subscriptions", "metrics")
    assert details["permission"] == "tigateway_channels.view_metrics"
    await socket.close()


async def test_an_over_long_client_id_is_an_error_and_the_socket_stays(operator: Any) -> None:
    socket, first = await connect(token=token_for(operator), clientId="c" * 500)
    errors, ack = await ack_then_errors(socket, first, 1)

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
