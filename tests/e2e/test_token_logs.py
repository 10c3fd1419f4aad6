"""Real daphne and uvicorn workers accept a token in each of the three places (query string,
Authorization header, bearer subprotocol, with only ``tigateway.v1`` echoed), and with the
settings docs/security.md gives, no token reaches their logs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.e2e.helpers import jwt_for
from tests.processes import ROOT, Worker, cluster, manage, start_server, stop_worker

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

PASSWORD = "e2e-password-123"
# docs/security.md, "Tokens and logs": daphne as it comes (its access log has no query
# string; -v 2 is the most it says), uvicorn with the log config that redacts tokens.
DOCUMENTED = {
    "daphne": ["-v", "2"],
    "uvicorn": ["--log-config", str(ROOT / "example_project" / "uvicorn-logging.json")],
}


async def connect_three_ways(worker: Worker, tokens: list[str]) -> None:
    query, header, subprotocol = tokens
    ways: list[tuple[str, dict[str, Any]]] = [
        (f"{worker.ws}?token={query}&clientId=q", {}),
        (worker.ws, {"additional_headers": {"Authorization": f"Bearer {header}"}}),
        (worker.ws, {"subprotocols": ["tigateway.v1", f"bearer.{subprotocol}"]}),
    ]
    for url, options in ways:
        async with websockets.connect(url, **options) as ws:
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ack["data"]["result"]["auth"] == "jwt", ack
            assert ack["data"]["result"]["user"] == "admin"
            if "subprotocols" in options:
                assert ws.subprotocol == "tigateway.v1"
            await ws.send(json.dumps({"type": "ping", "id": "p"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"


def run_and_read_log(
    server: str, options: list[str], env: dict[str, str], tmp: Path
) -> tuple[list[str], str]:
    """Start a worker, connect with a fresh token in each place (query, header, subprotocol),
    stop it: the tokens and everything the worker wrote."""
    worker = start_server(server, options, env, tmp)
    try:
        tokens = [jwt_for(worker.http, PASSWORD) for _ in range(3)]
        asyncio.run(connect_three_ways(worker, tokens))
    finally:
        stop_worker(worker)
    return tokens, worker.log_path.read_text(errors="replace")


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_tokens_from_each_place_work_and_stay_out_of_the_logs(server: str, tmp_path: Path) -> None:
    with cluster([], tmp_path) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        tokens, log = run_and_read_log(server, DOCUMENTED[server], running.env, tmp_path)
    assert [token in log for token in tokens] == [False, False, False], log[-4000:]
    assert "WebSocket" in log or "WSCONNECT" in log, log[-2000:]  # the server did log the sockets
    if server == "uvicorn":
        assert "token=[redacted]" in log, log[-2000:]  # logged, with the token redacted


def test_uvicorn_logs_query_tokens_without_the_documented_log_config(tmp_path: Path) -> None:
    """Why the setting is documented: by default uvicorn writes the handshake's query string,
    token included, at INFO (``--no-access-log`` does not change that)."""
    with cluster([], tmp_path) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        tokens, log = run_and_read_log("uvicorn", ["--no-access-log"], running.env, tmp_path)
    # The query's token is in the log; headers and subprotocols never are.
    assert [token in log for token in tokens] == [True, False, False], log[-3000:]
