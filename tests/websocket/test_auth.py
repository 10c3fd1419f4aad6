"""Where a token is presented (query, Authorization header, subprotocol), renewing it with an
``auth`` request, and the ``auth_expiring`` warning before it expires."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from tests.ws import Socket, application, connect, open_socket, session_cookie_for, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def connect_with(
    *, headers: list[tuple[bytes, bytes]] | None = None, subprotocols: list[str] | None = None
) -> tuple[Socket, str | None, dict[str, Any]]:
    """A socket opened with these headers and offered subprotocols: the socket, the accepted
    subprotocol and the first server message."""
    communicator = WebsocketCommunicator(
        application, "/ws/tigateway", headers=headers, subprotocols=subprotocols
    )
    connected, subprotocol = await communicator.connect(timeout=5)
    assert connected
    socket = Socket(communicator)
    return socket, subprotocol, await socket.receive()


async def test_authorization_bearer_header_authenticates(operator: Any) -> None:
    headers = [(b"authorization", f"Bearer {token_for(operator)}".encode())]
    socket, subprotocol, first = await connect_with(headers=headers)
    assert first["data"]["result"]["auth"] == "jwt"
    assert first["data"]["result"]["user"] == "operator"
    assert subprotocol is None
    await socket.close()


async def test_a_bearer_subprotocol_authenticates_and_only_the_protocol_is_echoed(
    operator: Any,
) -> None:
    token = token_for(operator)
    socket, subprotocol, first = await connect_with(
        subprotocols=["tigateway.v1", f"bearer.{token}"]
    )
    assert subprotocol == "tigateway.v1"
    assert first["data"]["result"]["auth"] == "jwt"
    assert token not in str(socket.comm.response_headers)
    await socket.close()


async def test_tigateway_subprotocol_alone_is_accepted(operator: Any) -> None:
    socket, subprotocol, first = await connect_with(subprotocols=["tigateway.v1"])
    assert subprotocol == "tigateway.v1"
    assert first["data"]["result"]["auth"] == "anonymous"
    await socket.close()


@pytest.mark.parametrize("place", ["header", "subprotocol"])
async def test_a_refused_token_says_where_it_came_from(operator: Any, place: str) -> None:
    bad = token_for(operator)[:-4] + "AAAA"
    if place == "header":
        socket, _, first = await connect_with(
            headers=[(b"authorization", f"Bearer {bad}".encode())]
        )
    else:
        socket, _, first = await connect_with(subprotocols=["tigateway.v1", f"bearer.{bad}"])
    assert first["data"]["result"]["auth"] == "anonymous"
    refused = await socket.receive()
    assert refused["data"]["code"] == "UNAUTHORIZED"
    details = refused["data"]["details"]
    assert (details["field"], details["source"]) == ("token", place)
    assert bad not in str(refused)
    await socket.close()


async def test_the_header_wins_over_the_query_and_another_scheme_is_ignored(
    operator: Any, viewer: Any
) -> None:
    header = [(b"authorization", f"Bearer {token_for(viewer)}".encode())]
    communicator = WebsocketCommunicator(
        application, f"/ws/tigateway?token={token_for(operator)}", headers=header
    )
    assert (await communicator.connect(timeout=5))[0]
    first = await Socket(communicator).receive()
    assert first["data"]["result"]["user"] == "viewer"
    await communicator.disconnect()

    basic = [(b"authorization", b"Basic dXNlcjpwYXNz")]
    socket, _, first = await connect_with(headers=basic)
    assert first["data"]["result"]["auth"] == "anonymous"
    assert await socket.nothing_more(0.2)  # not a token: nothing refused
    await socket.close()


async def test_auth_renews_the_token_in_place_and_keeps_subscriptions(operator: Any) -> None:
    socket = await open_socket(operator, ["routes"])
    fresh = token_for(operator, lifetime=dt.timedelta(minutes=30))

    reply = await socket.request("auth", {"token": fresh})

    assert reply["type"] == "ack", reply
    result = reply["data"]["result"]
    assert (result["user"], result["auth"]) == ("operator", "jwt")
    assert result["expiresAt"].endswith("Z")
    topics = await socket.request("subscribe", {"topics": ["routes"]})
    assert topics["data"]["result"]["topics"] == ["routes"]
    await socket.close()


async def test_auth_renewal_moves_the_expiry(operator: Any) -> None:
    socket, _ = await connect(token=token_for(operator, lifetime=dt.timedelta(seconds=1)))
    assert (await socket.receive())["type"] == "auth_expiring"

    reply = await socket.request("auth", {"token": token_for(operator)})

    assert reply["type"] == "ack"
    assert await socket.nothing_more(1.5)  # the old exp passed: no close, no error
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()


async def test_auth_with_another_users_token_is_refused_and_changes_nothing(
    operator: Any, viewer: Any
) -> None:
    socket = await open_socket(operator, ["routes"])
    token = token_for(viewer)

    reply = await socket.request("auth", {"token": token})

    assert reply["data"]["code"] == "UNAUTHORIZED"
    assert reply["data"]["details"]["field"] == "token"
    assert token not in str(reply)
    create = await socket.request("route_create", {"route": {"id": "a", "uri": "http://a"}})
    assert create["type"] == "ack"  # still the operator
    await socket.close()


async def test_auth_with_a_bad_token_is_refused_and_the_socket_goes_on(operator: Any) -> None:
    socket = await open_socket(operator)
    reply = await socket.request("auth", {"token": "not-a-token"})
    assert reply["data"]["code"] == "UNAUTHORIZED"
    assert reply["data"]["details"]["value"] == "not-a-token"[:12] + "... (11 characters)"
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()


async def test_auth_gives_an_anonymous_socket_its_user(
    settings: Any, make_user: Callable[..., Any]
) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOW_ANONYMOUS_READ": True}
    user = await sync_to_async(make_user)("events-only", "view_events", "add_route")
    socket, first = await connect(subscriptions="routes,events")
    assert first["data"]["result"]["topics"] == ["routes", "events"]

    reply = await socket.request("auth", {"token": token_for(user)})

    assert reply["data"]["result"]["user"] == "events-only"
    # What the anonymous session could read and the user may not, ends.
    lost = await socket.receive()
    assert lost["data"]["code"] == "FORBIDDEN"
    assert lost["data"]["details"]["value"] == "routes"
    create = await socket.request("route_create", {"route": {"id": "a", "uri": "http://a"}})
    assert create["type"] == "ack"
    await socket.close()


async def test_a_session_socket_may_switch_to_a_token_of_its_user(operator: Any) -> None:
    socket, first = await connect(cookie=await session_cookie_for(operator))
    assert first["data"]["result"]["auth"] == "session"
    reply = await socket.request("auth", {"token": token_for(operator)})
    assert reply["data"]["result"]["auth"] == "jwt"
    await socket.close()


async def test_auth_expiring_comes_the_configured_time_before_exp(
    operator: Any, settings: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {"AUTH_EXPIRY_WARNING_SECONDS": 1.5}
    socket, first = await connect(token=token_for(operator, lifetime=dt.timedelta(seconds=3)))
    assert first["type"] == "ack"
    assert await socket.nothing_more(0.5)  # not yet: 1.5 s before exp

    warning = await socket.receive(timeout=3)

    assert warning["type"] == "auth_expiring"
    expires_at = dt.datetime.fromisoformat(warning["data"]["expiresAt"].replace("Z", "+00:00"))
    left = (expires_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert 0 < left <= 2.5
    assert "requestId" not in warning["data"]
    expired = await socket.receive(timeout=4)
    assert expired["data"]["message"] == "Token expired"
    assert await socket.closed_with() == 4401


async def test_a_session_socket_gets_no_expiry_warning(operator: Any) -> None:
    socket, _ = await connect(cookie=await session_cookie_for(operator))
    assert await socket.nothing_more(0.3)
    await socket.close()
