"""One socket as the hub sees it: a bounded outgoing queue, its subscriptions, its liveness."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tigateway_channels.asgi_types import Send
from tigateway_channels.delivery.topics import SubscriptionFilter
from tigateway_channels.protocol.disconnect import Disconnect

logger = logging.getLogger(__name__)

# Closes sent beside a dropped queue, kept referenced until they are done.
_closing: set[asyncio.Task[None]] = set()


class SocketWriter:
    """A socket's bounded outgoing queue, drained by one task, so no socket waits on another.

    Every server frame (replies and topic messages) goes through it, which keeps them in order.
    When the queue is full the socket is too slow: the queue is dropped and ``on_overflow``
    tells the connection, which closes it; the client recovers what it missed by offset when
    it reconnects.

    Fast path: when nothing is queued or in flight, a frame is sent at once by stepping the
    server's ``send`` coroutine by hand. Without backpressure it completes in that one step
    (daphne's and uvicorn's do), which saves a task wake-up per socket per message, the
    largest cost of a fan-out. If it suspends, the drain task finishes it before anything else.
    """

    __slots__ = (
        "_busy",
        "_closed",
        "_exempt",
        "_on_overflow",
        "_overflowed",
        "_queue",
        "_send",
        "_sending",
        "_task",
        "_wakeup",
        "limit",
    )

    def __init__(self, send: Send, limit: int, on_overflow: Callable[[], None]) -> None:
        self._send = send
        self._queue: collections.deque[str | Disconnect] = collections.deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._overflowed = False  # the queue was dropped; the close must not wait behind it
        self._exempt = 0  # queued replay frames, which the live limit does not count
        self._busy: tuple[Any, Any] | None = None  # a fast-path send that suspended
        self._sending = False  # the drain task is inside an awaited send
        self._on_overflow = on_overflow
        self.limit = limit
        # Started on the first frame that has to wait: most sockets never need it.
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def push(self, frame: str) -> None:
        if self._closed:
            return
        if not self._queue and self._busy is None and not self._sending:
            self._send_now(frame)
            return
        if len(self._queue) - self._exempt >= self.limit:
            self._closed = True
            self._overflowed = True
            self._queue.clear()
            self._on_overflow()
            return
        self._queue.append(frame)
        self._wake()

    def _wake(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())
        self._wakeup.set()

    def _send_now(self, frame: str) -> None:
        coroutine: Any = self._send({"type": "websocket.send", "text": frame})
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return
        except Exception:  # the socket went away under us; the consumer will disconnect
            logger.debug("socket send failed", exc_info=True)
            self._closed = True
            self._queue.clear()
            return
        self._busy = (coroutine, waiting_on)
        self._wake()

    async def _finish_busy(self) -> None:
        """Drive a suspended fast-path send to its end, as a task would have."""
        assert self._busy is not None
        coroutine, waiting_on = self._busy
        try:
            while True:
                if waiting_on is None:  # a bare yield: give the loop one turn
                    await asyncio.sleep(0)
                else:
                    await asyncio.wait([waiting_on])
                try:
                    waiting_on = coroutine.send(None)
                except StopIteration:
                    return
        finally:
            self._busy = None

    def drop_queued(self) -> None:
        """Forget the frames not yet handed to the server (a send in flight finishes)."""
        self._queue.clear()
        self._exempt = 0

    def push_replay(self, frames: list[str]) -> None:
        """Queue a recovery replay: bounded by MAX_REPLAY_MESSAGES, not by the live limit.

        Counting it against the live limit would close a recovering socket again and again.
        """
        if not self._closed and frames:
            self._queue.extend(frames)
            self._exempt += len(frames)
            self._wake()

    def close(self, disconnect: Disconnect) -> None:
        """Close after the frames already queued (an error saying why, typically); after an
        overflow, at once, beside the dropped queue. The connection's close path calls this."""
        if not self._closed:
            self._queue.append(disconnect)
            self._wake()
        elif self._overflowed:
            # The drain task may be waiting on the server's backpressure: close beside it.
            self._overflowed = False
            task = asyncio.get_running_loop().create_task(self._send_close(disconnect))
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    async def _drain(self) -> None:
        queue, send, wakeup = self._queue, self._send, self._wakeup
        try:
            while True:
                if self._busy is not None:
                    await self._finish_busy()
                while queue:
                    item = queue.popleft()
                    if self._exempt:
                        self._exempt -= 1
                    if isinstance(item, str):
                        self._sending = True
                        await send({"type": "websocket.send", "text": item})
                        self._sending = False
                        continue
                    self._closed = True
                    queue.clear()
                    await self._send_close(item)
                    return
                wakeup.clear()
                await wakeup.wait()
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away under us; the consumer will disconnect
            logger.debug("socket send failed", exc_info=True)
            self._closed = True
            queue.clear()

    async def _send_close(self, disconnect: Disconnect) -> None:
        code = disconnect.code
        try:
            await self._send({"type": "websocket.close", "code": code})
        except Exception:
            if code == 1000 or 3000 <= code <= 4999:
                raise
            # daphne (autobahn) lets applications close only with 1000 or 3000-4999; 1001
            # becomes 1000 with the meaning in the reason.
            await self._send({"type": "websocket.close", "code": 1000, "reason": disconnect.reason})

    async def drained(self, timeout: float) -> None:
        """Wait until the queue is empty or the writer has finished."""
        deadline = time.monotonic() + timeout

        def sending() -> bool:
            task = self._task
            return bool(self._queue or self._busy) and task is not None and not task.done()

        while sending() and time.monotonic() < deadline:  # noqa: ASYNC110 - only at shutdown
            await asyncio.sleep(0.01)

    def stop(self) -> None:
        self._closed = True
        self._queue.clear()
        if self._busy is not None:
            self._busy[0].close()
            self._busy = None
        if self._task is not None:
            self._task.cancel()


@dataclass(slots=True)
class Subscription:
    filter: SubscriptionFilter
    # Topic messages at or below this offset were already sent (replay or snapshot).
    after: int = 0


class SocketState:
    """What the hub tracks per socket: writer, subscriptions, and when the client last spoke."""

    __slots__ = (
        "__weakref__",
        "app_heartbeat",
        "close",
        "last_heard",
        "ping_sent_at",
        "subscriptions",
        "writer",
    )

    def __init__(self, writer: SocketWriter, close: Callable[[Disconnect], None]) -> None:
        self.writer = writer
        self.subscriptions: dict[str, Subscription] = {}
        # The connection's one close path (the consumer's ``close``): it ends the connection's
        # life and closes the socket after what is queued. Frames go through ``writer``.
        self.close = close
        self.last_heard = time.monotonic()
        self.ping_sent_at: float | None = None
        # Only clients that sent a ``ping`` get application pings (and 4408).
        self.app_heartbeat = False

    def heard(self) -> None:
        self.last_heard = time.monotonic()
        self.ping_sent_at = None
