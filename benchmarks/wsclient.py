"""A minimal asyncio WebSocket client for the load generator.

Why not the ``websockets`` client: the load generator shares the machine's 2 cores with the
servers under test, so it must cost as little as possible per received frame. This client is an
``asyncio.Protocol`` that parses frames straight out of ``data_received`` (no per-message future,
no per-frame task switch, no permessage-deflate) and stamps every frame of one read with one
``time.time()``. It speaks RFC 6455 as a client: masked outgoing frames, answers pings, records
the close code. The handshake is checked for status 101 only (loopback, servers we start).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import os
import struct
import time
from collections.abc import Callable
from typing import Any

OnFrame = Callable[["WSClient", bytes, float], None]


class HandshakeError(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    if n == 0:
        return key
    repeated = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    return key + masked


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + _mask(payload)


class WSClient(asyncio.Protocol):
    """One client socket. ``on_frame(client, payload, received_at)`` gets each data message.

    Until ``route_frames`` is set, data messages are queued in ``control`` instead (so the
    connect phase can await acks); the fan-out phase switches to the callback.
    """

    __slots__ = (
        "_buf",
        "_control_waiter",
        "_frag",
        "_host",
        "_key",
        "_path",
        "close_code",
        "closed",
        "control",
        "counts",
        "failure",
        "on_frame",
        "opened",
        "tag",
        "transport",
    )

    def __init__(
        self, host: str, port: int, path: str, on_frame: OnFrame | None = None, tag: Any = None
    ) -> None:
        loop = asyncio.get_running_loop()
        self._host = f"{host}:{port}"
        self._path = path
        self._buf = b""
        self._frag: list[bytes] | None = None
        self._key = base64.b64encode(os.urandom(16)).decode()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self.control: collections.deque[bytes] = collections.deque()
        self._control_waiter: asyncio.Future[None] | None = None
        self.on_frame = on_frame
        self.transport: asyncio.Transport | None = None
        self.tag = tag
        self.counts: bytearray | None = None
        self.failure: str | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        request = (
            f"GET {self._path} HTTP/1.1\r\nHost: {self._host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        transport.write(request.encode())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self._buf:
            data = self._buf + data
            self._buf = b""
        if not self.opened.done():
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._buf = data
                return
            status = data[: data.find(b"\r\n")].decode("latin1")
            if " 101 " not in status + " ":
                self.failure = f"http:{status[9:12]}"
                self.opened.set_exception(HandshakeError(status))
                self.transport.close()  # type: ignore[union-attr]
                return
            self.opened.set_result(None)
            data = data[end + 4 :]
        n = len(data)
        pos = 0
        while n - pos >= 2:
            b0 = data[pos]
            length = data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > n:
                break
            payload = data[pos + head : end]
            pos = end
            opcode = b0 & 0x0F
            if opcode == 1 or opcode == 2:
                if b0 & 0x80:
                    self._message(payload, now)
                else:
                    self._frag = [payload]
            elif opcode == 0:
                if self._frag is not None:
                    self._frag.append(payload)
                    if b0 & 0x80:
                        whole = b"".join(self._frag)
                        self._frag = None
                        self._message(whole, now)
            elif opcode == 9:  # ping
                self.transport.write(_frame(10, payload))  # type: ignore[union-attr]
            elif opcode == 8:  # close
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.close_code is None:
                    self.close_code = code
                    try:
                        self.transport.write(_frame(8, payload[:2]))  # type: ignore[union-attr]
                    except Exception:
                        pass
                self.transport.close()  # type: ignore[union-attr]
                return
        if pos < n:
            self._buf = data[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
        if not self.opened.done():
            self.failure = self.failure or "closed-during-handshake"
            self.opened.set_exception(ConnectionError("closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake()

    # -- messages -------------------------------------------------------------------------

    def _message(self, payload: bytes, now: float) -> None:
        if self.on_frame is not None:
            self.on_frame(self, payload, now)
        else:
            self.control.append(payload)
            self._wake()

    def _wake(self) -> None:
        waiter = self._control_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_control(self, timeout: float) -> bytes:
        """The next data message queued while ``on_frame`` is unset."""
        deadline = time.monotonic() + timeout
        while not self.control:
            if self.closed.done():
                raise ConnectionError(f"closed with {self.close_code}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self._control_waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._control_waiter, remaining)
            finally:
                self._control_waiter = None
        return self.control.popleft()

    def send_text(self, text: str | bytes) -> None:
        payload = text.encode() if isinstance(text, str) else text
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(1, payload))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_client(host: str, port: int, path: str, timeout: float, tag: Any = None) -> WSClient:
    """Connect and complete the handshake within ``timeout``; raises on failure."""
    loop = asyncio.get_running_loop()
    client = WSClient(host, port, path, tag=tag)
    await asyncio.wait_for(loop.create_connection(lambda: client, host, port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(client.opened), timeout)
    except TimeoutError:
        client.abort()
        raise
    return client
