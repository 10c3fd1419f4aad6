"""A client that floods a socket with frames as fast as the kernel takes them, never reading.

Blocking sockets and prebuilt frames, so the flood costs the client almost nothing: what is
measured is the server. Used by ``tests/e2e/test_flood.py``, ``tests/e2e/test_frame_limits.py``
and ``benchmarks/flood.py``. Bounded twice, by a number of frames and by a time; it always
stops by itself.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

FRAMES_PER_BATCH = 1000


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (RFC 6455 §5.3): the server unmasks every frame it reads."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 2**16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", length)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def ping_frames(count: int = FRAMES_PER_BATCH) -> tuple[bytes, int]:
    """``count`` pings of the same size (ids p0000000...), joined; and the size of one."""
    frames = [client_frame(b'{"type":"ping","id":"p%07d"}' % n) for n in range(count)]
    return b"".join(frames), len(frames[0])


@dataclass
class FloodResult:
    frames_sent: int = 0
    seconds: float = 0.0
    # Why sending stopped: "count", "time" or "cut" (the server dropped the connection).
    stopped: str = ""
    # The server's close code, when its close frame could be read after the flood.
    close_code: int | None = None
    # What could be read after the flood: text frames, and error codes by count.
    replies: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    # How reading ended: "close" (a close frame), "eof", "reset" or "timeout".
    read_end: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def connect_raw(url: str, receive_buffer: int = 4096) -> tuple[socket.socket, bytes]:
    """A handshaken socket, and what the server sent after its handshake response."""
    parts = urlsplit(url)
    sock = socket.socket()
    # A small receive buffer: the server's replies back up at once, as with a peer that
    # never reads.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect((parts.hostname, parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    sock.sendall(
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("the server closed the connection during the handshake")
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise OSError(f"handshake refused: {head[:200]!r}")
    return sock, rest


def read_to_close(
    sock: socket.socket, buffered: bytes, result: FloodResult, timeout: float
) -> None:
    """Read what the server sent, up to its close frame, the end of the stream or ``timeout``;
    count the text frames and error codes in ``result``."""

    data = bytearray(buffered)
    deadline = time.monotonic() + timeout
    while True:
        while len(data) >= 2:
            opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
            if length == 126:
                if len(data) < 4:
                    break
                length, offset = struct.unpack("!H", data[2:4])[0], 4
            elif length == 127:
                if len(data) < 10:
                    break
                length, offset = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < offset + length:
                break
            payload = bytes(data[offset : offset + length])
            del data[: offset + length]
            if opcode == 0x8:
                result.close_code = struct.unpack("!H", payload[:2])[0] if length >= 2 else None
                result.read_end = "close"
                return
            if opcode == 0x1:
                result.replies += 1
                with contextlib.suppress(ValueError):
                    message = json.loads(payload)
                    if message.get("type") == "error":
                        code = str(message["data"]["code"])
                        result.errors[code] = result.errors.get(code, 0) + 1
        left = deadline - time.monotonic()
        if left <= 0:
            result.read_end = "timeout"
            return
        sock.settimeout(min(left, 1.0))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            result.read_end = "reset"
            return
        if not chunk:
            result.read_end = "eof"
            return
        data += chunk


def flood(
    url: str,
    frames: int,
    seconds: float,
    *,
    batch: tuple[bytes, int] | None = None,
    receive_buffer: int = 4096,
    read_timeout: float = 15.0,
) -> FloodResult:
    """Send up to ``frames`` frames (the pings of ``ping_frames`` by default) for at most
    ``seconds`` without reading; then read what the server sent, to see how it ended."""
    sock, buffered = connect_raw(url, receive_buffer)
    data, frame_size = batch or ping_frames()
    view = memoryview(data)
    total = frames * frame_size
    result = FloodResult()
    sent = 0
    started = time.monotonic()
    end = started + seconds
    sock.settimeout(0.2)
    try:
        while sent < total:
            if time.monotonic() >= end:
                result.stopped = "time"
                break
            offset = sent % len(data)
            chunk = view[offset : offset + min(len(data) - offset, total - sent)]
            try:
                sent += sock.send(chunk)
            except TimeoutError:
                continue  # the server is not reading: keep trying until the time is up
        else:
            result.stopped = "count"
    except OSError:
        result.stopped = "cut"
    result.seconds = time.monotonic() - started
    result.frames_sent = sent // frame_size
    try:
        read_to_close(sock, buffered, result, read_timeout)
    finally:
        sock.close()
    return result
