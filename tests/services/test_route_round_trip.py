"""What the server sends can be sent back: a route taken from a ``route_update`` notification
is accepted by ``route_create`` and ``route_update`` (WebSocket and REST)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from rest_framework.test import APIClient

from tests.ws import Socket, open_socket
from tigateway_channels.models import Route
from tigateway_channels.services import routes as route_service

ROUTE = {
    "id": "user-service-route",
    "uri": "http://user-service:8080",
    "predicates": ["Path=/api/users/**"],
    "filters": ["StripPrefix=2"],
}


async def notified_route(socket: Socket) -> dict[str, Any]:
    """Create the route and return it as the route_update notification carried it."""
    await socket.request("subscribe", {"topics": ["routes"]})
    await socket.send({"type": "route_create", "id": "create", "data": {"route": ROUTE}})
    # The notification may come before or after the ack; keep it whichever comes first.
    replies = [await socket.receive(), await socket.receive()]
    [message] = [reply for reply in replies if reply["type"] == "route_update"]
    route: dict[str, Any] = message["data"]["route"]
    assert {"createdAt", "updatedAt", "version", "status"} <= set(route)
    return route


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_notified_route_is_accepted_by_route_update_with_its_version(
    operator: Any,
) -> None:
    socket = await open_socket(operator)
    route = await notified_route(socket)
    route["order"] = 5

    reply = await socket.request("route_update", {"routeId": route["id"], "updates": route})

    assert reply["type"] == "ack", reply
    assert (reply["data"]["result"]["order"], reply["data"]["result"]["version"]) == (5, 2)
    # The same object again: its version is now stale, so the update is refused.
    stale = await socket.request("route_update", {"routeId": route["id"], "updates": route})
    assert stale["data"]["code"] == "VERSION_CONFLICT"
    assert stale["data"]["details"]["expectedVersion"] == 1
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_notified_route_is_accepted_by_route_create(operator: Any) -> None:
    socket = await open_socket(operator)
    route = await notified_route(socket)
    await socket.request("route_delete", {"routeId": route["id"]})

    reply = await socket.request("route_create", {"route": {**route, "version": 7}})

    assert reply["type"] == "ack", reply
    created = reply["data"]["result"]
    assert created["version"] == 1  # a new route starts at 1 whatever version it carried
    assert created["createdAt"] != "2000-01-01T00:00:00.000Z"
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_server_times_sent_back_are_ignored_even_when_changed(operator: Any) -> None:
    socket = await open_socket(operator)
    route = await notified_route(socket)
    changed = {**route, "createdAt": "2000-01-01T00:00:00.000Z", "updatedAt": 5, "order": 1}

    reply = await socket.request("route_update", {"routeId": route["id"], "updates": changed})

    assert reply["type"] == "ack", reply
    assert reply["data"]["result"]["createdAt"] == route["createdAt"]
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("updates", "extra", "field"),
    [
        ({"id": "another-route"}, {}, "id"),
        ({"version": "1"}, {}, "version"),
        ({"version": 1}, {"version": 2}, "version"),
    ],
    ids=["other-id", "version-not-integer", "versions-disagree"],
)
async def test_read_only_values_that_cannot_be_honoured_are_field_errors(
    operator: Any, updates: dict[str, Any], extra: dict[str, Any], field: str
) -> None:
    socket = await open_socket(operator)
    route = await notified_route(socket)

    reply = await socket.request(
        "route_update", {"routeId": route["id"], "updates": {**route, **updates}, **extra}
    )

    assert reply["data"]["code"] == "INVALID_ROUTE_CONFIG", reply
    details = reply["data"]["details"]
    assert (details["field"], details["value"]) == (field, updates[field])
    assert details["reason"]
    stored = await sync_to_async(Route.objects.get)(pk=route["id"])
    assert stored.version == 1
    await socket.close()


@pytest.mark.django_db
def test_rest_post_accepts_a_route_fetched_with_get(operator: Any) -> None:
    api = APIClient()
    api.force_login(operator)
    route_service.create_route(ROUTE)
    fetched = api.get(reverse("tigateway:route-detail", args=[ROUTE["id"]])).json()
    api.delete(reverse("tigateway:route-detail", args=[ROUTE["id"]]))

    response = api.post(reverse("tigateway:route-list"), fetched, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["version"] == 1


@pytest.mark.django_db
def test_rest_patch_with_a_stale_version_inside_the_route_is_409(operator: Any) -> None:
    api = APIClient()
    api.force_login(operator)
    route_service.create_route(ROUTE)
    fetched = api.get(reverse("tigateway:route-detail", args=[ROUTE["id"]])).json()
    route_service.update_route(ROUTE["id"], {"order": 3})

    response = api.patch(
        reverse("tigateway:route-detail", args=[ROUTE["id"]]), fetched, format="json"
    )

    assert response.status_code == 409
    assert response.json()["details"]["currentVersion"] == 2
