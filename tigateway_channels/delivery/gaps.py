"""Closing a gap in a topic stream: wait a moment for the missing offsets, then read them from
history. Every follower of a topic (a worker's hub, a gateway process) closes gaps this way;
what to do when history no longer has them is the follower's own choice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from channels.db import database_sync_to_async

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery import history
from tigateway_channels.delivery.streams import TopicMessage, TopicStream

logger = logging.getLogger(__name__)

# Reads of history that found nothing, in a row, before the gap counts as lost.
ATTEMPTS = 5


async def fill_gap(
    stream: TopicStream, deliver: Callable[[list[TopicMessage]], None]
) -> tuple[int, int] | None:
    """Deliver what closes the stream's gaps; return a gap history no longer holds (None once
    no message waits). A failed read is tried again and never counts: the offsets may well be
    in history, and giving up on them would lose them."""
    attempts = 0
    while stream.early:
        await asyncio.sleep(tigw_settings.GAP_FILL_DELAY_SECONDS)
        gap = stream.missing()
        if gap is None:
            return None
        try:
            found = await database_sync_to_async(history.read)(stream.topic, gap[0] - 1, gap[1])
        except Exception:
            logger.warning("Reading history to fill %s %s failed", stream.topic, gap, exc_info=True)
            continue
        deliver(stream.fill(found))
        attempts = 0 if found else attempts + 1
        if attempts >= ATTEMPTS and stream.missing() == gap:
            return gap
    return None
