"""The gateway records what it serves: requests through two real gateway processes reach a
``metrics`` subscriber on a control-plane worker, counted route by route (the unmatched ones
under the empty route id)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.helpers import jwt_for
from tests.processes import cluster, manage, start_gateway, start_upstream, stop_worker

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

PASSWORD = "e2e-password-123"
PER_GATEWAY = 60
TIMERS = {"METRICS_FLUSH_SECONDS": 1.0, "METRICS_PERSIST_SECONDS": 1.0}
SEED = """
from tigateway_channels.models import Route
Route.objects.create(id="users", uri="http://127.0.0.1:{port}", order=0,
                     predicates=["Path=/users/**"], status="ACTIVE")
"""


async def metrics_total(ws: Any, wanted: int, timeout: float) -> dict[str, int]:
    """Requests by route over the metrics windows, until ``wanted`` have been counted."""
    by_route: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while sum(by_route.values()) < wanted:
        left = deadline - time.monotonic()
        assert left > 0, f"metrics counted {by_route}, {wanted} requests were sent"
        message = json.loads(await asyncio.wait_for(ws.recv(), left))
        if message["type"] != "metrics":
            continue
        for route in message["data"].get("byRoute") or []:
            by_route[route["routeId"]] = (
                by_route.get(route["routeId"], 0) + route["requests"]["total"]
            )
    return by_route


async def scenario(control: Any, gateways: list[Any], token: str) -> None:
    async with websockets.connect(f"{control.ws}?token={token}", max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "ack"
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "id": "m",
                    "data": {"topics": ["metrics"], "filters": {"metrics": {"interval": 1000}}},
                }
            )
        )
        async with httpx.AsyncClient(timeout=30) as client:
            for gateway in gateways:
                for n in range(PER_GATEWAY):
                    served = await client.get(f"{gateway.http}/users/{n}")
                    assert served.status_code == 200, served.text
                missing = await client.get(f"{gateway.http}/nowhere")
                assert missing.status_code == 404
        counted = await metrics_total(ws, 2 * PER_GATEWAY + 2, 30)
        assert counted == {"users": 2 * PER_GATEWAY, "": 2}, counted


def test_requests_served_by_real_gateways_reach_the_metrics(tmp_path: Path) -> None:
    upstream = start_upstream("u", tmp_path)
    env_extra = {"TIGATEWAY_CHANNELS_JSON": json.dumps(TIMERS)}
    try:
        with cluster(["uvicorn"], tmp_path, extra_env=env_extra) as running:
            manage("shell", "-c", SEED.format(port=upstream.port), env=running.env)
            manage(
                "tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env
            )
            gateways = [start_gateway(running.env, tmp_path) for _ in range(2)]
            try:
                token = jwt_for(running.workers[0].http, PASSWORD)
                asyncio.run(scenario(running.workers[0], gateways, token))
            except BaseException:
                for gateway in gateways:
                    print(f"--- gateway {gateway.port} ---\n{gateway.log()[-3000:]}")
                print(f"--- control plane ---\n{running.workers[0].log()[-3000:]}")
                raise
            finally:
                for gateway in gateways:
                    stop_worker(gateway)
    finally:
        stop_worker(upstream)
