"""Two real daphne workers on one Redis and one PostgreSQL: a change made through any entry
point of one worker reaches the sockets of both, in order, with the right payload."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.helpers import jwt_for, next_topic_message, run_scenario
from tests.processes import Cluster, cluster, manage

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

PASSWORD = "e2e-password-123"
LAYERS = [
    "channels_redis.pubsub.RedisPubSubChannelLayer",
    "channels_redis.core.RedisChannelLayer",
]


def admin_add_route(base: str, route: dict[str, Any]) -> None:
    """Log in to the Django admin and submit the Route add form, as a person would."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
        login_page = client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
        assert token, login_page.text[:500]
        response = client.post(
            "/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": PASSWORD,
                "csrfmiddlewaretoken": token[1],
                "next": "/admin/",
            },
        )
        assert response.status_code == 302, response.text[:2000]
        add_page = client.get("/admin/tigateway_channels/route/add/")
        assert add_page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', add_page.text)
        form = {
            "csrfmiddlewaretoken": token[1],
            "id": route["id"],
            "uri": route["uri"],
            "predicates": json.dumps(route["predicates"]),
            "filters": json.dumps(route["filters"]),
            "status": route["status"],
            "order": str(route["order"]),
            "metadata": "{}",
            "_save": "Save",
        }
        response = client.post("/admin/tigateway_channels/route/add/", data=form)
        assert response.status_code == 302, response.text[:3000]


async def scenario(running: Cluster) -> None:
    first, second = running.workers
    token = await asyncio.to_thread(jwt_for, first.http, PASSWORD)
    route = {
        "id": "user-service-route",
        "uri": "http://user-service:8080",
        "predicates": ["Path=/api/users/**"],
        "filters": ["StripPrefix=2"],
        "status": "ACTIVE",
        "order": 0,
    }
    async with (
        websockets.connect(f"{first.ws}?token={token}&subscriptions=routes") as ws_first,
        websockets.connect(f"{second.ws}?token={token}&subscriptions=routes") as ws_second,
    ):
        for ws in (ws_first, ws_second):
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "ack", hello
            assert hello["data"]["result"]["topics"] == ["routes"]

        # 1. Created through the admin of the first worker (a logged-in HTTP POST).
        await asyncio.to_thread(admin_add_route, first.http, route)
        # 2. Updated through REST on the second worker.
        async with httpx.AsyncClient(base_url=second.http, timeout=10) as client:
            response = await client.patch(
                f"/api/tigateway/routes/{route['id']}/",
                json={"uri": "http://user-service-v2:8080"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
        # 3. Deleted over the WebSocket of the second worker.
        await ws_second.send(
            json.dumps(
                {"type": "route_delete", "id": "delete-001", "data": {"routeId": route["id"]}}
            )
        )

        for ws in (ws_first, ws_second):
            seen = [await next_topic_message(ws) for _ in range(3)]
            assert [m["data"]["action"] for m in seen] == ["created", "updated", "deleted"]
            created, updated, deleted = (m["data"]["route"] for m in seen)
            for key in ("id", "uri", "predicates", "filters", "status", "order"):
                assert created[key] == route[key]
            assert created["version"] == 1
            assert updated["uri"] == "http://user-service-v2:8080"
            assert updated["version"] == 2
            assert deleted["id"] == route["id"]
            offsets = [m["metadata"]["offset"] for m in seen]
            assert offsets == list(range(offsets[0], offsets[0] + 3))
            assert all(m["type"] == "route_update" for m in seen)


@pytest.mark.parametrize("layer", LAYERS, ids=["pubsub-layer", "core-layer"])
def test_changes_from_admin_rest_and_websocket_reach_both_workers(
    layer: str, tmp_path: Path
) -> None:
    with cluster(["daphne", "daphne"], tmp_path, layer=layer) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        run_scenario(running, scenario(running))
