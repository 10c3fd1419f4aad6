"""Route URIs in every Spring Cloud Gateway form, through every entry point: WebSocket
``route_create``, REST, the admin form and a ``route_config``, all judged by ``spec/uri.py``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from rest_framework.test import APIClient

from tests.ws import connect, token_for
from tigateway_channels.models import Route
from tigateway_channels.protocol.errors import GatewayError
from tigateway_channels.services import configs as config_service

ACCEPTED = [
    ("lb://user-service", "lb://user-service"),
    ("lb:ws://chat-service", "lb:ws://chat-service"),
    ("lb:wss://Chat.Example", "lb:wss://chat.example"),
    ("forward:/fallback", "forward:/fallback"),
    ("https://users.internal:8443", "https://users.internal:8443"),
]
REFUSED = [
    ("lb://user_service", "service name"),
    ("lb://user-service:8080", "port"),
    ("lb:http://user-service", "lb://service"),
    ("forward:fallback", "absolute path"),
    ("lb://admin:secret@user-service", "user:password"),
]


def route(uri: str) -> dict[str, Any]:
    return {"id": "r1", "uri": uri, "predicates": ["Path=/api/**"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(("uri", "stored"), ACCEPTED)
async def test_route_create_accepts_every_gateway_uri_form(
    operator: Any, uri: str, stored: str
) -> None:
    socket, _ = await connect(token=token_for(operator))
    reply = await socket.request("route_create", {"route": route(uri)})
    assert reply["type"] == "ack", reply
    assert reply["data"]["result"]["uri"] == stored
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(("uri", "word"), REFUSED)
async def test_route_create_refuses_bad_uris_on_the_uri_field(
    operator: Any, uri: str, word: str
) -> None:
    socket, _ = await connect(token=token_for(operator))
    reply = await socket.request("route_create", {"route": route(uri)})
    assert reply["data"]["code"] == "INVALID_ROUTE_CONFIG"
    details = reply["data"]["details"]
    assert (details["field"], details["value"]) == ("uri", uri)
    assert word in details["reason"]
    assert not await sync_to_async(Route.objects.exists)()
    await socket.close()


@pytest.mark.django_db
@pytest.mark.parametrize(("uri", "stored"), ACCEPTED)
def test_rest_accepts_every_gateway_uri_form(operator: Any, uri: str, stored: str) -> None:
    api = APIClient()
    api.force_login(operator)
    response = api.post(reverse("tigateway:route-list"), route(uri), format="json")
    assert response.status_code == 201, response.json()
    assert Route.objects.get(pk="r1").uri == stored


@pytest.mark.django_db
@pytest.mark.parametrize(("uri", "word"), REFUSED)
def test_rest_refuses_bad_uris_on_the_uri_field(operator: Any, uri: str, word: str) -> None:
    api = APIClient()
    api.force_login(operator)
    response = api.post(reverse("tigateway:route-list"), route(uri), format="json")
    assert response.status_code == 400
    [reason] = response.json()["errors"]["uri"]
    assert word in reason


def admin_form(uri: str) -> dict[str, Any]:
    return {
        "id": "r1",
        "uri": uri,
        "status": "ACTIVE",
        "order": "0",
        "predicates": json.dumps(["Path=/api/**"]),
        "filters": "[]",
        "metadata": "{}",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("uri", "stored"), ACCEPTED)
def test_admin_accepts_every_gateway_uri_form(admin_client: Any, uri: str, stored: str) -> None:
    response = admin_client.post(reverse("admin:tigateway_channels_route_add"), admin_form(uri))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Route.objects.get(pk="r1").uri == stored


@pytest.mark.django_db
@pytest.mark.parametrize(("uri", "word"), REFUSED)
def test_admin_refuses_bad_uris_on_the_uri_field(admin_client: Any, uri: str, word: str) -> None:
    response = admin_client.post(reverse("admin:tigateway_channels_route_add"), admin_form(uri))
    assert response.status_code == 200
    [reason] = response.context["adminform"].form.errors["uri"]
    assert word in reason
    assert not Route.objects.exists()


@pytest.mark.django_db
def test_admin_uri_help_names_every_form(admin_client: Any) -> None:
    page = admin_client.get(reverse("admin:tigateway_channels_route_add")).content.decode()
    assert "lb://service-name" in page and "forward:/path" in page


@pytest.mark.django_db
def test_route_config_accepts_gateway_uris_and_refuses_bad_ones_by_path() -> None:
    config_service.save_config(
        "route_config",
        "mixed",
        {"routes": [route(uri) | {"id": f"r{i}"} for i, (uri, _) in enumerate(ACCEPTED)]},
    )
    assert sorted(Route.objects.values_list("uri", flat=True)) == sorted(s for _, s in ACCEPTED)

    document = {"routes": [route(uri) | {"id": f"bad{i}"} for i, (uri, _) in enumerate(REFUSED)]}
    with pytest.raises(GatewayError) as caught:
        config_service.save_config("route_config", "bad", document)
    issues = caught.value.details["errors"]
    assert [issue["field"] for issue in issues] == [f"routes[{i}].uri" for i in range(len(REFUSED))]
    assert all(word in issue["reason"] for issue, (_, word) in zip(issues, REFUSED, strict=True))
