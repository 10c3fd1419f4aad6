"""SIGTERM on a real worker: its sockets are closed with a going-away code, then it exits."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import websockets

from tests.e2e.helpers import jwt_for
from tests.processes import cluster, manage

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

PASSWORD = "shutdown-password-123"


@pytest.mark.parametrize(("server", "code"), [("uvicorn", 1001), ("daphne", 1000)])
def test_sigterm_closes_every_socket_then_the_worker_exits(
    server: str, code: int, tmp_path: Path
) -> None:
    with cluster([server], tmp_path) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        worker = running.workers[0]
        token = jwt_for(worker.http, PASSWORD)

        async def scenario() -> list[int | None]:
            sockets = [
                await websockets.connect(f"{worker.ws}?token={token}&subscriptions=routes")
                for _ in range(3)
            ]
            for ws in sockets:
                assert json.loads(await ws.recv())["type"] == "ack"
            worker.process.terminate()
            codes: list[int | None] = []
            for ws in sockets:
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                except websockets.ConnectionClosed as closed:
                    codes.append(closed.rcvd.code if closed.rcvd else None)
            return codes

        started = time.monotonic()
        assert asyncio.run(scenario()) == [code, code, code]
        worker.process.wait(15)
        assert time.monotonic() - started < 15
