"""The property-based fuzz test of ``tests/websocket/test_fuzz.py``, once against a real uvicorn
worker: frames travel through the server's own WebSocket parser and the real database.

Every frame gets one well-formed reply, in order, the socket still answers ``ping``, and the
worker logs no traceback. Bounded: 60 examples of at most 6 frames.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from tests.e2e.helpers import jwt_for
from tests.processes import Worker, cluster, manage
from tests.websocket.test_fuzz import ANY_ID, FRAMES, Frame, assert_envelope

pytestmark = [pytest.mark.services, pytest.mark.one_combination, pytest.mark.timeout(600)]

PASSWORD = "fuzz-password-123"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Worker, str]]:
    log_dir: Path = tmp_path_factory.mktemp("fuzz-worker")
    with cluster(["uvicorn"], log_dir) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        [uvicorn] = running.workers
        yield uvicorn, jwt_for(uvicorn.http, PASSWORD)
        assert "Traceback" not in uvicorn.log_path.read_text(errors="replace"), uvicorn.log()


def one_reply(ws: ClientConnection) -> dict[str, Any]:
    """The next reply, skipping topic messages a request may have caused."""
    while True:
        message: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if "topic" not in message.get("metadata", {}):
            return message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(FRAMES, min_size=1, max_size=6))
def test_every_frame_gets_one_well_formed_reply_from_a_real_worker(
    worker: tuple[Worker, str], frames: list[Frame]
) -> None:
    uvicorn, token = worker
    with connect(f"{uvicorn.ws}?token={token}", max_size=2**24, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ack"
        for frame in frames:
            ws.send(frame.payload)
            reply = one_reply(ws)
            assert reply["type"] in ("ack", "pong", "error"), reply
            assert_envelope(reply)
            if frame.request_id is not ANY_ID:
                assert reply["data"]["requestId"] == frame.request_id, reply
        ws.send(json.dumps({"type": "ping", "id": "still-there"}))
        assert one_reply(ws)["data"]["requestId"] == "still-there"
