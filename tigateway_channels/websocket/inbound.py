"""A socket's client frames, answered one at a time in arrival order, paced by a token bucket.

Reading and answering are apart: the consumer puts each frame here as it arrives, so a
disconnect or a sign of life is seen at once, and one task answers the frames in order. Over
the rate a request waits for its token instead of being refused, so a burst (a client
replaying 1,000 changes) is answered in full and in order. Every frame counts, the ones that
cannot be read (too large, binary) too. Only a queue that overflows, a client sending faster
than it is answered for long, gets ``RATE_LIMITED``, in its turn; a client that keeps
overflowing it is closed (4429) through ``on_flood``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tigateway_channels.asgi_types import Message
from tigateway_channels.protocol import ErrorCode, GatewayError
from tigateway_channels.protocol.messages import peek_request_id
from tigateway_channels.websocket.security import TokenBucket

logger = logging.getLogger(__name__)

# Requests a socket's burst answers before the other sockets get a turn of the event loop:
# 1,000 pings answered at once held the loop for 14 ms (in-process, before the server's own
# framing), 50 at a time for 2 ms.
ANSWERS_PER_TURN = 50


@dataclass(frozen=True, slots=True)
class Refusal:
    """A frame answered with an error without being processed (too large, binary, overflow)."""

    error: GatewayError
    request_id: Any
    # Whether its answer waits for a token like any request: a frame that cannot be read
    # counts against the rate, so a flood of them fills the queue and ends in 4429. An
    # overflow's RATE_LIMITED does not: it is the flood's signal, bounded by ``flood_after``.
    paced: bool = True


def _binary_error() -> GatewayError:
    return GatewayError(
        ErrorCode.INVALID_MESSAGE_FORMAT,
        "Binary frames are not supported",
        {"field": "$", "value": None, "reason": "send JSON as a text frame"},
    )


def _size_error(text: str, limit: int) -> GatewayError | None:
    if len(text) * 4 <= limit:  # four bytes per character at most: cannot be over
        return None
    size = len(text) if len(text) > limit else len(text.encode())
    if size <= limit:
        return None
    return GatewayError(
        ErrorCode.MESSAGE_TOO_LARGE,
        f"Message exceeds {limit} bytes",
        {
            "field": "$",
            "value": size,
            "limit": limit,
            "reason": f"the frame has {size} bytes or more; the limit is {limit}: "
            "split the request or send less",
        },
    )


class RequestQueue:
    """Bounded by ``limit`` frames and ``max_chars`` characters of text (one frame always fits)."""

    __slots__ = (
        "_answer",
        "_bucket",
        "_chars",
        "_flood_after",
        "_on_flood",
        "_overflowed_in_row",
        "_queue",
        "_refuse",
        "_stopped",
        "_task",
        "_turn_given",
        "limit",
        "max_chars",
    )

    def __init__(
        self,
        answer: Callable[[str], Awaitable[None]],
        refuse: Callable[[GatewayError, Any], None],
        bucket: TokenBucket,
        *,
        limit: int,
        max_chars: int,
        flood_after: int,
        on_flood: Callable[[Any], None],
    ) -> None:
        self._answer = answer
        self._refuse = refuse
        self._bucket = bucket
        self._queue: collections.deque[str | Refusal] = collections.deque()
        self._chars = 0
        self._overflowed_in_row = 0
        self._flood_after = flood_after
        self._on_flood = on_flood
        self._stopped = False
        self._turn_given = False
        self._task: asyncio.Task[None] | None = None
        self.limit = limit
        self.max_chars = max_chars

    @property
    def pending(self) -> int:
        return len(self._queue)

    def turn_for_answers(self) -> bool:
        """Whether the reader should let the answers run before it queues the next frame:
        once each time the queue fills. Frames read together (a burst in one read) are then
        answered as if they had been read apart, while frames that keep arriving faster than
        they are answered still overflow at the speed they arrive, and a flood is closed
        before it piles up in front of the reader (daphne queues whatever it reads)."""
        if self._turn_given or (len(self._queue) < self.limit and self._chars < self.max_chars):
            return False
        self._turn_given = True
        return True

    def receive(self, message: Message, max_bytes: int) -> None:
        """Queue a ``websocket.receive``: its text, or the error that a frame which cannot be
        read (binary, larger than ``max_bytes``) gets in its turn."""
        text = message.get("text")
        if text is None:
            self.refuse(_binary_error(), peek_request_id(message.get("bytes") or b""))
            return
        too_large = _size_error(text, max_bytes)
        if too_large is not None:
            self.refuse(too_large, peek_request_id(text))
            return
        self.put(text)

    def put(self, frame: str) -> None:
        """Queue a frame to be parsed and answered in its turn."""
        if self._has_room(len(frame)):
            self._chars += len(frame)
            self._append(frame)
        else:
            self._overflow(peek_request_id(frame))

    def refuse(self, error: GatewayError, request_id: Any) -> None:
        """Queue an error for a frame that is not processed, so it is answered in its turn."""
        if self._has_room(0):
            self._append(Refusal(error, request_id))
        else:
            self._overflow(request_id)

    def _has_room(self, chars: int) -> bool:
        if self._stopped:
            return False
        if len(self._queue) >= self.limit:
            return False
        return not self._queue or self._chars + chars <= self.max_chars

    def _append(self, item: str | Refusal) -> None:
        self._overflowed_in_row = 0
        self._turn_given = False
        self._queue.append(item)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _overflow(self, request_id: Any) -> None:
        """The client outruns the server: refuse this frame in its turn, or close if it
        keeps doing so. Refusals queue beyond ``limit``, at most ``flood_after`` of them."""
        if self._stopped:
            return
        self._overflowed_in_row += 1
        if self._overflowed_in_row >= self._flood_after:
            self.stop()
            self._on_flood(request_id)
            return
        rate = self._bucket.rate
        error = GatewayError(
            ErrorCode.RATE_LIMITED,
            "Too many messages; this one was not processed",
            {
                "reason": (
                    f"{len(self._queue)} messages are already waiting to be answered; "
                    "wait for replies before sending more"
                ),
                "limitPerSecond": rate,
                "retryAfterMs": int(1000 * len(self._queue) / max(rate, 0.001)),
            },
        )
        self._queue.append(Refusal(error, request_id, paced=False))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        queue = self._queue
        answered = 0
        try:
            while queue:
                answered += 1
                if answered % ANSWERS_PER_TURN == 0:
                    await asyncio.sleep(0)  # a burst does not keep other sockets waiting
                item = queue.popleft()
                if isinstance(item, Refusal) and not item.paced:
                    self._refuse(item.error, item.request_id)
                    continue
                if isinstance(item, str):
                    self._chars -= len(item)
                delay = self._bucket.reserve()
                if delay > 0:
                    await asyncio.sleep(delay)
                if isinstance(item, Refusal):
                    self._refuse(item.error, item.request_id)
                    continue
                try:
                    await self._answer(item)
                except Exception:  # answer() replies INTERNAL_ERROR itself; this is a last guard
                    logger.exception("Answering a client frame failed")
        finally:
            self._task = None

    def stop(self) -> None:
        """Answer nothing more (the socket is closing or gone)."""
        self._stopped = True
        self._queue.clear()
        self._chars = 0
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            self._task = None
