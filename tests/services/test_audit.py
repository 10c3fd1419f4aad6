"""Audit: changes over REST and WebSocket are in the admin's history with the user, and every
notification says who made the change (metadata.actor)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from rest_framework.test import APIClient

from tests.ws import open_socket, token_for
from tigateway_channels.models import GatewayConfig, OutboxMessage, Route
from tigateway_channels.services import configs as config_service
from tigateway_channels.services import routes as route_service

ROUTE = {"id": "audited", "uri": "http://upstream:8080", "predicates": ["Path=/a/**"]}


def history(model: type[Any], pk: Any) -> list[tuple[str, int, str]]:
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id=str(pk)
    ).order_by("pk")
    return [(e.user.get_username(), e.action_flag, e.get_change_message()) for e in entries]


def last_actor(topic: str) -> dict[str, Any]:
    frame = OutboxMessage.objects.filter(topic=topic).order_by("-offset").first()
    assert frame is not None
    return orjson.loads(frame.frame)["metadata"]["actor"]


@pytest.mark.django_db(transaction=True)
async def test_websocket_route_changes_are_in_the_admin_history_with_the_user(
    operator: Any,
) -> None:
    socket = await open_socket(operator)
    created = await socket.request("route_create", {"route": ROUTE})
    assert created["type"] == "ack", created
    actor = await sync_to_async(last_actor)("routes")
    assert actor == {"user": "operator", "source": "websocket"}
    updated = await socket.request(
        "route_update", {"routeId": "audited", "updates": {"uri": "http://v2:8080"}}
    )
    assert updated["type"] == "ack", updated
    entries = await sync_to_async(history)(Route, "audited")
    deleted = await socket.request("route_delete", {"routeId": "audited"})
    assert deleted["type"] == "ack", deleted
    await socket.close()
    assert entries == [
        ("operator", ADDITION, "Created over the WebSocket API."),
        ("operator", CHANGE, "Updated over the WebSocket API: uri."),
    ]
    after = await sync_to_async(history)(Route, "audited")
    assert after[-1] == ("operator", DELETION, "Deleted over the WebSocket API.")


def test_rest_config_changes_and_rollback_show_on_the_history_page(
    make_user: Any, admin_client: Any
) -> None:
    editor = make_user(
        "editor",
        "view_gatewayconfig",
        "add_gatewayconfig",
        "change_gatewayconfig",
        "rollback_gatewayconfig",
        "add_route",
        "change_route",
        "delete_route",
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(editor)}")
    base = "/api/tigateway/configs/"
    body = {"configType": "route_config", "configId": "shop", "config": {"routes": [ROUTE]}}
    assert api.post(base, body, format="json").status_code == 201
    second = {"config": {"routes": []}}
    assert api.put(f"{base}route_config/shop/", second, format="json").status_code == 200
    rolled = api.post(f"{base}route_config/shop/rollback/", {"toVersion": 1}, format="json")
    assert rolled.status_code == 200, rolled.content
    config = GatewayConfig.objects.get(config_id="shop")
    assert [entry[:2] for entry in history(GatewayConfig, config.pk)] == [
        ("editor", ADDITION),
        ("editor", CHANGE),
        ("editor", CHANGE),
    ]
    assert "Rolled back over the REST API" in history(GatewayConfig, config.pk)[-1][2]
    assert last_actor("config") == {"user": "editor", "source": "rest"}
    # The routes the config applied carry the same actor.
    assert last_actor("routes") == {"user": "editor", "source": "rest"}
    page = admin_client.get(
        reverse("admin:tigateway_channels_gatewayconfig_history", args=[config.pk])
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert (
        "doesn\u2019t have a change history" not in text and "Rolled back over the REST API" in text
    )


def test_a_shell_change_has_no_user_and_no_history_entry(db: Any) -> None:
    route_service.create_route(ROUTE)
    assert last_actor("routes") == {"user": None, "source": "shell"}
    assert history(Route, "audited") == []


def test_an_admin_edit_is_logged_once_by_the_admin(admin_client: Any, admin_user: Any) -> None:
    config_service.save_config("route_config", "shop", {"routes": []})
    config = GatewayConfig.objects.get(config_id="shop")
    change_url = reverse("admin:tigateway_channels_gatewayconfig_change", args=[config.pk])
    response = admin_client.post(
        change_url,
        {
            "document": orjson.dumps({"routes": [ROUTE]}).decode(),
            "expected_version": str(config.version),
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert [entry[:2] for entry in history(GatewayConfig, config.pk)] == [("admin", CHANGE)]
    assert last_actor("config") == {"user": "admin", "source": "admin"}
