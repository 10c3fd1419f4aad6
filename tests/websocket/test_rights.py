"""Rights follow the user, not the socket: an open socket loses what its user loses, at once,
and closes (4401, saying why) when its user or session is gone."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from tests.ws import Socket, connect, open_socket
from tigateway_channels.delivery import rights_signals
from tigateway_channels.delivery.hub import get_hub
from tigateway_channels.delivery.rights_events import rights_message
from tigateway_channels.models import GatewayConfig, Route
from tigateway_channels.services import configs as config_service
from tigateway_channels.services.rights import rights_cache

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def permissions(*codenames: str) -> list[Permission]:
    return list(
        Permission.objects.filter(
            content_type__app_label="tigateway_channels", codename__in=codenames
        )
    )


@sync_to_async
def set_permissions(user: Any, *codenames: str) -> None:
    user.user_permissions.set(permissions(*codenames))


@sync_to_async
def group_of(user: Any, *codenames: str) -> Group:
    """A group holding these permissions, with ``user`` in it."""
    group = Group.objects.create(name="readers")
    group.permissions.set(permissions(*codenames))
    user.groups.add(group)
    return group


@sync_to_async
def save_user(user: Any, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(user, name, value)
    user.save()


@sync_to_async
def create_route(route_id: str) -> None:
    Route.objects.create(id=route_id, uri="http://upstream:8080")


async def assert_session_ended(socket: Socket, reason: str) -> None:
    error = await socket.receive()
    assert error["type"] == "error", error
    assert error["data"]["code"] == "UNAUTHORIZED"
    assert error["data"]["details"]["reason"] == reason
    assert error["data"]["requestId"] is None
    assert await socket.closed_with() == 4401


async def assert_topic_lost(socket: Socket, topic: str, permission: str) -> None:
    error = await socket.receive()
    assert error["type"] == "error", error
    assert error["data"]["code"] == "FORBIDDEN"
    details = error["data"]["details"]
    assert (details["field"], details["value"]) == ("topics", topic)
    assert details["permission"] == f"tigateway_channels.{permission}"
    assert error["data"]["requestId"] is None


async def test_a_removed_permission_ends_the_subscription_and_the_right_at_once(
    make_user: Callable[..., Any],
) -> None:
    user = await sync_to_async(make_user)("ops", "view_route", "add_route", "view_events")
    socket = await open_socket(user, ["routes", "events"])

    await set_permissions(user, "view_events")

    await assert_topic_lost(socket, "routes", "view_route")
    topics = await socket.request("subscribe", {"topics": ["events"]})
    assert topics["data"]["result"]["topics"] == ["events"]
    await create_route("after-removal")
    assert await socket.nothing_more(0.3)  # no route_update reaches it any more
    create = await socket.request("route_create", {"route": {"id": "x", "uri": "http://a"}})
    assert create["data"]["code"] == "FORBIDDEN"
    again = await socket.request("subscribe", {"topics": ["routes"], "recover": {}})
    assert again["data"]["code"] == "FORBIDDEN"
    await socket.close()


async def test_a_granted_permission_works_without_reconnecting(
    make_user: Callable[..., Any],
) -> None:
    user = await sync_to_async(make_user)("ops", "view_route")
    socket = await open_socket(user, ["routes"])
    refused = await socket.request("route_create", {"route": {"id": "a", "uri": "http://a"}})
    assert refused["data"]["code"] == "FORBIDDEN"

    await set_permissions(user, "view_route", "add_route")

    created = await socket.request("route_create", {"route": {"id": "a", "uri": "http://a"}})
    assert created["type"] == "ack", created
    await socket.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda user: save_user(user, is_active=False), "the user was deactivated"),
        (lambda user: sync_to_async(user.delete)(), "the user was deleted"),
    ],
    ids=["deactivated", "deleted"],
)
async def test_the_sockets_of_a_deactivated_or_deleted_user_are_told_and_closed(
    operator: Any, make_user: Callable[..., Any], change: Any, reason: str
) -> None:
    first = await open_socket(operator, ["routes"])
    second = await open_socket(operator)
    bystander = await open_socket(await sync_to_async(make_user)("other", "view_route"), ["routes"])

    await change(operator)

    await assert_session_ended(first, reason)
    await assert_session_ended(second, reason)
    assert (await bystander.request("ping"))["type"] == "pong"
    await bystander.close()


async def test_a_request_of_a_deleted_user_is_refused_even_when_no_message_came(
    make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch heard nothing (the message was lost); the request's own check still refuses:
    the deleted user's config change is not saved under their name."""
    user = await sync_to_async(make_user)("gone", "view_gatewayconfig", "add_gatewayconfig")
    socket = await open_socket(user)
    monkeypatch.setattr(rights_signals, "publish_rights_change", lambda **kwargs: None)
    await sync_to_async(user.delete)()
    rights_cache.clear()  # as RIGHTS_CACHE_SECONDS would, later

    reply = await socket.request(
        "config_update",
        {"configType": "route_config", "configId": "c", "config": {"routes": []}},
    )

    assert reply["data"]["code"] == "UNAUTHORIZED"
    assert reply["data"]["requestId"] == "req-1"
    assert reply["data"]["details"]["reason"] == "the user was deleted"
    assert await socket.closed_with() == 4401
    assert not await GatewayConfig.objects.filter(config_id="c").aexists()


async def test_cached_rights_expire_after_rights_cache_seconds(
    make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {"RIGHTS_CACHE_SECONDS": 0.3}
    user = await sync_to_async(make_user)("ops", "view_route", "add_route")
    socket = await open_socket(user, ["routes"])
    monkeypatch.setattr(rights_signals, "publish_rights_change", lambda **kwargs: None)

    await set_permissions(user, "view_route")  # nobody is told
    cached = await socket.request("route_create", {"route": {"id": "a", "uri": "http://a"}})
    await asyncio.sleep(0.4)
    expired = await socket.request("route_create", {"route": {"id": "b", "uri": "http://b"}})

    assert cached["type"] == "ack"  # within the TTL, the cached rights answered
    assert expired["data"]["code"] == "FORBIDDEN"
    await socket.close()


async def test_group_changes_reach_the_sockets_of_its_members(
    make_user: Callable[..., Any],
) -> None:
    user = await sync_to_async(make_user)("member")
    group = await group_of(user, "view_route", "view_events")
    socket = await open_socket(user, ["routes", "events"])

    await sync_to_async(lambda: group.permissions.remove(*permissions("view_events")))()
    await assert_topic_lost(socket, "events", "view_events")

    await sync_to_async(group.user_set.remove)(user)  # from the group's side
    await assert_topic_lost(socket, "routes", "view_route")
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()


async def test_a_deleted_group_takes_its_rights_along(make_user: Callable[..., Any]) -> None:
    user = await sync_to_async(make_user)("member")
    group = await group_of(user, "view_route")
    socket = await open_socket(user, ["routes"])

    await group.adelete()

    await assert_topic_lost(socket, "routes", "view_route")
    await socket.close()


def logged_in_client(user: Any) -> tuple[Client, bytes]:
    client = Client()
    client.force_login(user)
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_logging_out_closes_that_sessions_sockets_only(operator: Any) -> None:
    client, cookie = await sync_to_async(logged_in_client)(operator)
    _, other_cookie = await sync_to_async(logged_in_client)(operator)
    socket, first = await connect(cookie=cookie)
    other, _ = await connect(cookie=other_cookie)
    by_token = await open_socket(operator)
    assert first["data"]["result"]["auth"] == "session"

    await sync_to_async(client.logout)()

    await assert_session_ended(
        socket, "the session ended: logged out, expired, or the password changed"
    )
    assert (await other.request("ping"))["type"] == "pong"
    assert (await by_token.request("ping"))["type"] == "pong"
    await other.close()
    await by_token.close()


async def test_a_password_change_ends_the_users_other_sessions(operator: Any) -> None:
    _, cookie = await sync_to_async(logged_in_client)(operator)
    socket, _ = await connect(cookie=cookie)

    await sync_to_async(operator.set_password)("a-new-password-123")
    await save_user(operator)

    await assert_session_ended(
        socket, "the session ended: logged out, expired, or the password changed"
    )


async def test_a_session_socket_closes_when_its_session_expires(operator: Any) -> None:
    _, cookie = await sync_to_async(logged_in_client)(operator)
    session = await sync_to_async(SessionStore)(cookie.decode().split("=", 1)[1])
    await sync_to_async(session.set_expiry)(dt.timedelta(seconds=1))
    await sync_to_async(session.save)()
    socket, first = await connect(cookie=cookie)
    assert first["data"]["result"]["auth"] == "session"

    await assert_session_ended(socket, "the session expired")


async def test_sockets_are_rechecked_when_the_channel_layer_comes_back(
    viewer: Any, settings: Any
) -> None:
    """A rights message lost while Redis was down: once it is back, every socket is checked."""
    from tests.fakes import SwitchableLayer

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.fakes.SwitchableLayer"}}
    settings.TIGATEWAY_CHANNELS = {"HEALTH_INTERVAL_SECONDS": 0.05}
    try:
        socket = await open_socket(viewer, ["routes"])
        SwitchableLayer.reachable = False
        await until(lambda: layer_status() == "DOWN")
        await set_permissions(viewer)  # its message is lost
        assert await socket.nothing_more(0.2)
        SwitchableLayer.reachable = True

        await assert_topic_lost(socket, "routes", "view_route")
        await socket.close()
    finally:
        SwitchableLayer.reachable = True


def layer_status() -> str | None:
    health = get_hub().last_health
    return health["components"]["channelLayer"]["status"] if health else None


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_rights_message_of_another_deployment_is_dropped(viewer: Any) -> None:
    socket = await open_socket(viewer, ["routes"])
    hub = get_hub()
    dropped = hub.foreign_dropped
    user_key = str(viewer.pk)

    hub.on_channel_message(rights_message("another-deployment", users=[user_key], everyone=True))
    await get_user_model().objects.filter(pk=viewer.pk).aupdate(is_active=False)  # no signal

    assert hub.foreign_dropped == dropped + 1
    assert await socket.nothing_more(0.3)
    await socket.close()


async def test_an_anonymous_read_socket_loses_its_topics_when_the_setting_goes(
    settings: Any, db: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOW_ANONYMOUS_READ": True}
    socket, _ = await connect(subscriptions="routes")
    settings.TIGATEWAY_CHANNELS = {"ALLOW_ANONYMOUS_READ": False}

    get_hub().on_channel_message(rights_message(get_hub().deployment, everyone=True))

    await assert_topic_lost(socket, "routes", "view_route")
    await socket.close()


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "missing"])
async def test_a_user_who_may_not_view_configs_cannot_tell_which_exist(
    nobody: Any, exists: bool
) -> None:
    if exists:
        await sync_to_async(config_service.save_config)("route_config", "secret", {"routes": []})
    socket = await open_socket(nobody)
    key = {"configType": "route_config", "configId": "secret"}

    update = await socket.request("config_update", {**key, "config": {"routes": []}})
    versioned = await socket.request("config_update", {**key, "config": {}, "version": 7})

    for reply in (update, versioned):
        assert reply["data"]["code"] == "FORBIDDEN"
        assert reply["data"]["details"] == {
            "permission": "tigateway_channels.change_gatewayconfig",
            "reason": "missing Django permission",
        }
        assert reply["data"]["message"] == (
            "You do not have permission to create or change gateway configs"
        )
    await socket.close()
