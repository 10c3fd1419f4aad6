"""Configs across processes, on real PostgreSQL and Redis.

- Two real daphne workers: a config change made through REST or WebSocket on either worker
  reaches the ``config`` subscribers of both, in order.
- Two real processes updating one config with the same expected version at the same moment,
  on two PostgreSQL connections: exactly one wins, the other gets VERSION_CONFLICT.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.helpers import jwt_for, next_topic_message, run_scenario
from tests.processes import ROOT, Cluster, cluster, manage, postgres_database

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

PASSWORD = "e2e-password-123"
LAYERS = [
    "channels_redis.pubsub.RedisPubSubChannelLayer",
    "channels_redis.core.RedisChannelLayer",
]
ROUTE = {"id": "user-service-route", "uri": "http://user-service:8080"}


async def ws_request(ws: Any, message_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Send a request on a socket subscribed to nothing; its next message is the reply."""
    await ws.send(json.dumps({"type": message_type, "id": f"{message_type}-1", "data": data}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["type"] == "ack", reply
    return reply["data"]["result"]


async def scenario(running: Cluster) -> None:
    first, second = running.workers
    token = await asyncio.to_thread(jwt_for, first.http, PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    url = "/api/tigateway/configs/route_config/users/"
    async with (
        websockets.connect(f"{first.ws}?token={token}&subscriptions=config") as listen_first,
        websockets.connect(f"{second.ws}?token={token}&subscriptions=config") as listen_second,
        websockets.connect(f"{first.ws}?token={token}") as command_first,
        websockets.connect(f"{second.ws}?token={token}") as command_second,
    ):
        for ws in (listen_first, listen_second, command_first, command_second):
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "ack", hello

        # 1. Created through REST on the first worker.
        async with httpx.AsyncClient(base_url=first.http, timeout=10) as client:
            response = await client.put(url, json={"config": {"routes": [ROUTE]}}, headers=headers)
            assert response.status_code == 201, response.text
        # 2. Updated over the WebSocket of the second worker.
        changed = {"routes": [{**ROUTE, "uri": "http://user-service-v2:8080"}]}
        key = {"configType": "route_config", "configId": "users"}
        result = await ws_request(
            command_second, "config_update", {**key, "config": changed, "version": 1}
        )
        assert result["version"] == 2
        # 3. Rolled back over the WebSocket of the first worker.
        result = await ws_request(
            command_first, "config_rollback", {**key, "toVersion": 1, "version": 2}
        )
        assert result["version"] == 3
        # 4. Deleted through REST on the second worker.
        async with httpx.AsyncClient(base_url=second.http, timeout=10) as client:
            response = await client.delete(url, headers={**headers, "If-Match": '"3"'})
            assert response.status_code == 204, response.text

        for ws in (listen_first, listen_second):
            seen = [await next_topic_message(ws) for _ in range(4)]
            assert all(m["type"] == "config_update" for m in seen)
            assert [m["data"]["action"] for m in seen] == [
                "created",
                "updated",
                "rolled_back",
                "deleted",
            ]
            assert [m["data"]["version"] for m in seen] == [1, 2, 3, 3]
            assert seen[1]["data"]["config"] == {"id": "users", **changed}
            assert seen[2]["data"]["config"] == {"id": "users", "routes": [ROUTE]}
            offsets = [m["metadata"]["offset"] for m in seen]
            assert offsets == list(range(offsets[0], offsets[0] + 4))


@pytest.mark.parametrize("layer", LAYERS, ids=["pubsub-layer", "core-layer"])
def test_config_changes_from_rest_and_websocket_reach_both_workers(
    layer: str, tmp_path: Path
) -> None:
    with cluster(["daphne", "daphne"], tmp_path, layer=layer) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        run_scenario(running, scenario(running))


SEED = """
from tigateway_channels.services.configs import save_config
save_config("route_config", "shared", {"routes": []})
"""

# Each racer connects, says it is ready, waits for the "go" file, then updates the config
# expecting version 1. A slow save (pre_save sleeps) widens the window in which, without the
# row lock, both would read version 1 and both would win.
RACER = """
import json, os, pathlib, time
from django.db import connection
from django.db.models.signals import pre_save
from tigateway_channels.models import GatewayConfig
from tigateway_channels.protocol.errors import GatewayError
from tigateway_channels.services.configs import save_config

name = os.environ["TIGW_RACER"]
barrier = pathlib.Path(os.environ["TIGW_BARRIER"])
pre_save.connect(lambda **kwargs: time.sleep(0.5), sender=GatewayConfig, weak=False)
connection.ensure_connection()
(barrier / f"ready-{name}").touch()
deadline = time.monotonic() + 60
while not (barrier / "go").exists():
    if time.monotonic() > deadline:
        raise SystemExit("the barrier never opened")
    time.sleep(0.001)
route = {"id": f"route-{name}", "uri": f"http://{name}.internal"}
try:
    config = save_config("route_config", "shared", {"routes": [route]}, expected_version=1)
    outcome = {"name": name, "ok": True, "version": config.version}
except GatewayError as error:
    outcome = {"name": name, "ok": False, "code": str(error.code), "details": error.details}
print("OUTCOME " + json.dumps(outcome))
"""

CHECK = """
import json
from tigateway_channels.models import GatewayConfig, Route
config = GatewayConfig.objects.get(config_id="shared")
print("STATE " + json.dumps({
    "version": config.version,
    "routes": sorted(Route.objects.values_list("pk", flat=True)),
    "revisions": sorted(config.revisions.values_list("version", flat=True)),
}))
"""


def _tagged_line(output: str, tag: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1 :])
    raise AssertionError(f"no {tag} line in:\n{output}")


def test_two_processes_with_the_same_expected_version_exactly_one_wins(tmp_path: Path) -> None:
    with postgres_database() as database_url:
        env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
        env.pop("REDIS_URL", None)
        manage("shell", "-c", SEED, env={"DATABASE_URL": database_url})
        racers = [
            subprocess.Popen(
                [sys.executable, "manage.py", "shell", "-c", RACER],
                cwd=ROOT,
                env={**env, "TIGW_RACER": name, "TIGW_BARRIER": str(tmp_path)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]
        try:
            deadline = time.monotonic() + 60
            while not all((tmp_path / f"ready-{name}").exists() for name in ("a", "b")):
                assert time.monotonic() < deadline, "the racers did not start within 60 s"
                assert all(r.poll() is None for r in racers), [r.communicate() for r in racers]
                time.sleep(0.05)
            (tmp_path / "go").touch()
            outputs = [racer.communicate(timeout=60) for racer in racers]
        finally:
            for racer in racers:
                if racer.poll() is None:
                    racer.kill()
                    racer.wait(5)
        outcomes = [_tagged_line(out + err, "OUTCOME") for out, err in outputs]
        state = _tagged_line(
            manage("shell", "-c", CHECK, env={"DATABASE_URL": database_url}), "STATE"
        )

    winners = [o for o in outcomes if o["ok"]]
    losers = [o for o in outcomes if not o["ok"]]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert winners[0]["version"] == 2
    assert losers[0]["code"] == "VERSION_CONFLICT"
    assert losers[0]["details"]["currentVersion"] == 2
    assert state == {
        "version": 2,
        "routes": [f"route-{winners[0]['name']}"],
        "revisions": [1, 2],
    }
