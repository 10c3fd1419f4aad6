"""health_update on real workers: the document's detail keys, and the whole cluster seen from
any worker (each worker shares its report with the others over the channel layer)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.e2e.helpers import jwt_for, run_scenario
from tests.processes import Cluster, cluster, manage

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

PASSWORD = "e2e-password-123"
TIMERS = {"HEALTH_INTERVAL_SECONDS": 0.5, "HEALTH_UPDATE_SECONDS": 1.0}


async def health_until(url: str, done: Any, timeout: float = 30.0) -> dict[str, Any]:
    async with websockets.connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "ack"
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "health_update" and done(message["data"]):
                    return message["data"]


async def scenario(running: Cluster) -> None:
    token = await asyncio.to_thread(jwt_for, running.workers[0].http, PASSWORD)
    workers = {f"{w.ws}?token={token}&subscriptions=health": w for w in running.workers}
    seen = await asyncio.gather(
        *(health_until(url, lambda data: data["cluster"]["workers"] == 2) for url in workers)
    )
    names = {data["worker"] for data in seen}
    assert len(names) == 2, names
    for data in seen:
        members = data["cluster"]["members"]
        assert {m["worker"] for m in members} == names
        assert data["cluster"]["status"] == "UP"
        assert not any(m["stale"] for m in members)
        database = data["components"]["database"]["details"]
        assert database["connectionCount"] >= 2  # both workers hold a connection
        assert database["responseTime"] >= 0
        redis = data["components"]["redis"]["details"]
        assert redis["memoryUsage"].endswith("MB") and redis["memoryUsageBytes"] > 0
        assert redis["foreignMessagesDropped"] == 0
        assert set(data["components"]["routes"]["details"]) == {"activeRoutes", "totalRoutes"}

    # A stopped worker turns stale on the survivor within three intervals.
    stopped = running.workers[1]
    stopped.process.terminate()
    stopped.process.wait(15)
    survivor = next(url for url, w in workers.items() if w is running.workers[0])
    data = await health_until(
        survivor, lambda d: any(m["stale"] for m in d["cluster"]["members"]), timeout=20
    )
    assert data["cluster"]["workers"] == 1
    assert data["cluster"]["status"] == "DEGRADED"


def test_every_worker_reports_the_whole_cluster(tmp_path: Path) -> None:
    with cluster(
        ["daphne", "uvicorn"],
        tmp_path,
        extra_env={"TIGATEWAY_CHANNELS_JSON": json.dumps(TIMERS)},
    ) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        run_scenario(running, scenario(running))
