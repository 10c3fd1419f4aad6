"""The channel-layer probe: a message this worker sends to its own channel and times.

Both halves live here, the send and wait (``round_trip``) and the answer when the read loop
gets the message back (``answer``), so the probe's message and its bookkeeping have one home.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from tigateway_channels.asgi_types import Message

PROBE_EVENT = "tigw.probe"
# Seconds a probe (and a Redis INFO for health) may take before the layer counts as down.
PROBE_TIMEOUT = 2.0


class LayerProbes:
    """The probes of one worker that are waiting for their message to come back."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[None]] = {}

    async def round_trip(self, send_to_self: Callable[[Message], Awaitable[None]]) -> float:
        """Send a probe to this worker's own channel and time its return (milliseconds)."""
        probe_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._waiting[probe_id] = future
        started = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            async with asyncio.timeout(PROBE_TIMEOUT):
                await send_to_self({"type": PROBE_EVENT, "probe": probe_id})
                await future
        finally:
            self._waiting.pop(probe_id, None)
        return round((time.perf_counter() - started) * 1000, 2)

    def answer(self, message: Message) -> None:
        """A probe came back through the channel layer: its round trip is complete."""
        future = self._waiting.pop(message.get("probe", ""), None)
        if future is not None and not future.done():
            future.set_result(None)
