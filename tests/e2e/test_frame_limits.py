"""What the ASGI servers do with a frame above their own limit, as docs/settings.md and
docs/security.md state it: checked on real workers with their default limits.

- uvicorn: ``--ws-max-size`` is 16 MiB, above ``MAX_MESSAGE_BYTES`` (1 MiB): a 1.1 MiB frame
  gets ``MESSAGE_TOO_LARGE`` and the socket stays; a 17 MiB frame is closed with 1009.
- daphne: its limit is 1 MiB, equal to ``MAX_MESSAGE_BYTES``: a 1.1 MiB frame ends the
  connection without a close frame (a client sees 1006).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.flooder import FloodResult, client_frame, connect_raw, read_to_close
from tests.e2e.helpers import jwt_for
from tests.processes import cluster, manage

pytestmark = [pytest.mark.services, pytest.mark.one_combination, pytest.mark.timeout(120)]

PASSWORD = "frame-limit-password-123"
MIB = 1024 * 1024


def send_frame(url: str, size: int) -> FloodResult:
    """Send one ping of ``size`` bytes, then a small ping; read until the server closes, or
    for 3 s when it does not."""
    sock, buffered = connect_raw(url, receive_buffer=1 << 20)
    pad = "x" * (size - 60)
    result = FloodResult()
    try:
        sock.settimeout(10)
        sock.sendall(client_frame(json.dumps({"type": "ping", "id": "big", "pad": pad}).encode()))
        sock.sendall(client_frame(b'{"type":"ping","id":"after"}'))
    except OSError:
        result.stopped = "cut"
    read_to_close(sock, buffered, result, timeout=3)
    sock.close()
    return result


@pytest.mark.parametrize(
    ("server", "size", "expected"),
    [
        ("uvicorn", MIB + MIB // 10, "MESSAGE_TOO_LARGE, then the socket goes on"),
        ("uvicorn", 17 * MIB, "closed with 1009"),
        ("daphne", MIB + MIB // 10, "dropped without a close frame"),
    ],
)
def test_a_frame_above_the_servers_own_limit(
    tmp_path: Path, server: str, size: int, expected: str
) -> None:
    with cluster([server], tmp_path) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        [worker] = running.workers
        token = jwt_for(worker.http, PASSWORD)
        result = send_frame(f"{worker.ws}?token={token}", size)

    print(f"\n{server}, a frame of {size:,} bytes: {result}")
    if expected.startswith("MESSAGE_TOO_LARGE"):
        assert result.errors == {"MESSAGE_TOO_LARGE": 1}, result
        assert result.replies == 3, result  # connect ack, the error, the pong to "after"
        assert result.read_end == "timeout", result  # still open
    elif expected == "closed with 1009":
        assert result.close_code == 1009, result
    else:
        assert result.close_code is None and result.read_end in ("eof", "reset"), result
        assert result.errors == {}, result
