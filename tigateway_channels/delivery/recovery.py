"""Subscribing with recovery: replay what a client missed, or hand it the full state.

A client that reconnects sends, per topic, the last offset and epoch it saw. If this worker's
memory or the outbox still holds everything after that offset, the client gets those messages,
in order, exactly as first sent, then the live stream. Otherwise (epoch changed, gap older than
the history, too many messages) recovery fails and, for topics with state, the client gets a
snapshot of the current state with the offset it is valid at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery import history
from tigateway_channels.delivery.sockets import SocketState, Subscription
from tigateway_channels.delivery.streams import TopicMessage
from tigateway_channels.delivery.topics import TOPICS, SubscriptionFilter

if TYPE_CHECKING:
    from tigateway_channels.delivery.hub import Hub


@dataclass(frozen=True)
class Position:
    offset: int
    epoch: str


async def _missed(hub: Hub, topic: str, offset: int) -> list[TopicMessage] | None:
    """Everything after ``offset`` up to what this worker has delivered, or None if gone."""
    stream = hub.streams[topic]
    replay = stream.replay_after(offset)
    if replay is not None:
        return replay
    limit = tigw_settings.MAX_REPLAY_MESSAGES
    stored = await database_sync_to_async(history.read)(topic, offset, None, limit + 1)
    if not stored or stored[0].offset != offset + 1 or len(stored) > limit:
        return None
    if stored[0].epoch != stream.epoch:
        return None
    # Back on the event loop: whatever arrived meanwhile is in memory.
    newer = stream.replay_after(stored[-1].offset)
    if newer is None:
        return None
    return stored + newer


def _replay(
    hub: Hub,
    state: SocketState,
    topic: str,
    flt: SubscriptionFilter,
    messages: list[TopicMessage],
    after: int,
) -> int:
    """Send the missed messages the filter passes, then subscribe; no await in between."""
    frames = [
        message.frame
        for message in messages
        if message.offset > after and (not flt.allowed or flt.matches(message.attrs))
    ]
    state.writer.push_replay(frames)
    last = max([after, *(m.offset for m in messages)])
    hub.subscribe(state, topic, Subscription(flt, last))
    return len(frames)


async def subscribe_topic(
    hub: Hub, state: SocketState, topic: str, flt: SubscriptionFilter, recover: Position | None
) -> dict[str, Any]:
    """Subscribe one topic; return its part of the ack (position, recovery, snapshot)."""
    stream = hub.streams.get(topic)
    if stream is None:  # a stream of samples (metrics, logs, health): no offsets, no history
        hub.subscribe_live(state, topic, flt)
        return {"recovered": False} if recover else {}
    if recover is not None and recover.epoch == stream.epoch:
        if recover.offset >= stream.last:
            # Nothing missed here (or the client saw offsets this worker has yet to receive).
            hub.subscribe(state, topic, Subscription(flt, recover.offset))
            return {
                "recovered": True,
                "replayed": 0,
                "offset": recover.offset,
                "epoch": stream.epoch,
            }
        missed = await _missed(hub, topic, recover.offset)
        if missed is not None:
            sent = _replay(hub, state, topic, flt, missed, recover.offset)
            after = state.subscriptions[topic].after
            return {"recovered": True, "replayed": sent, "offset": after, "epoch": stream.epoch}
    if recover is None:
        after = hub.subscribe_live(state, topic, flt)
        return {"offset": after, "epoch": stream.epoch}
    result: dict[str, Any] = {"recovered": False}
    provider = TOPICS[topic].snapshot
    if provider is None:
        after = hub.subscribe_live(state, topic, flt)
        result.update(offset=after, epoch=stream.epoch)
        return result
    offset, epoch, items = await database_sync_to_async(history.snapshot)(topic, provider)
    newer = stream.replay_after(offset) if epoch == stream.epoch else []
    _replay(hub, state, topic, flt, newer or [], offset)
    after = state.subscriptions[topic].after
    result.update(
        offset=after,
        epoch=epoch,
        snapshot={"offset": offset, "epoch": epoch, TOPICS[topic].snapshot_key: items},
    )
    return result
