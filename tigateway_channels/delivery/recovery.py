"""Subscribing with recovery: replay what a client missed, or hand it the full state.

A client that reconnects sends, per topic, the last offset and epoch it saw. If this worker's
memory or the outbox still holds everything after that offset, the client gets those messages,
in order, exactly as first sent, then the live stream. Otherwise (epoch changed, gap older than
the history, too many messages) recovery fails and, for topics with state, the client gets a
snapshot of the current state with the offset it is valid at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery import history
from tigateway_channels.delivery.hub import Hub
from tigateway_channels.delivery.sockets import SocketState, Subscription
from tigateway_channels.delivery.streams import StreamPosition, TopicMessage, TopicStream
from tigateway_channels.delivery.topics import TOPICS, SubscriptionFilter


@dataclass(frozen=True, slots=True)
class TopicSubscribed:
    """How one topic's subscription started: its part of the subscribe ``ack``."""

    # Where the live stream continues; None for streams of samples (no offsets).
    position: StreamPosition | None = None
    # Whether the missed messages were replayed; None when the client asked no recovery.
    recovered: bool | None = None
    replayed: int = 0
    # The full state after a failed recovery, as the ack carries it (topics with a snapshot).
    snapshot: dict[str, Any] | None = None


async def _missed(stream: TopicStream, offset: int) -> list[TopicMessage] | None:
    """Everything after ``offset`` up to what this worker has delivered, or None if gone."""
    replay = stream.replay_after(offset)
    if replay is not None:
        return replay
    limit = tigw_settings.MAX_REPLAY_MESSAGES
    stored = await database_sync_to_async(history.read)(stream.topic, offset, None, limit + 1)
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
    hub: Hub,
    state: SocketState,
    topic: str,
    flt: SubscriptionFilter,
    recover: StreamPosition | None,
) -> TopicSubscribed:
    """Subscribe one topic: from now on, or after replaying what the client missed, or after
    a snapshot of the current state when the missed messages are gone."""
    stream = hub.stream(topic)
    if stream is None:  # a stream of samples (metrics, logs, health): no offsets, no history
        hub.subscribe_live(state, topic, flt)
        return TopicSubscribed(recovered=False) if recover else TopicSubscribed()
    if recover is not None and recover.epoch == stream.epoch:
        if recover.offset >= stream.last:
            # Nothing missed here (or the client saw offsets this worker has yet to receive).
            hub.subscribe(state, topic, Subscription(flt, recover.offset))
            return TopicSubscribed(recover, recovered=True)
        missed = await _missed(stream, recover.offset)
        if missed is not None:
            sent = _replay(hub, state, topic, flt, missed, recover.offset)
            after = state.subscriptions[topic].after
            return TopicSubscribed(StreamPosition(after, recover.epoch), True, sent)
    if recover is None:
        after = hub.subscribe_live(state, topic, flt)
        return TopicSubscribed(StreamPosition(after, stream.position.epoch))
    provider = TOPICS[topic].snapshot
    if provider is None:
        after = hub.subscribe_live(state, topic, flt)
        return TopicSubscribed(StreamPosition(after, stream.position.epoch), recovered=False)
    snapshot = await database_sync_to_async(history.snapshot)(topic, provider)
    at = snapshot.position
    newer = stream.replay_after(at.offset) if at.epoch == stream.epoch else []
    _replay(hub, state, topic, flt, newer or [], at.offset)
    after = state.subscriptions[topic].after
    return TopicSubscribed(
        StreamPosition(after, at.epoch),
        recovered=False,
        snapshot={**at.as_data(), TOPICS[topic].snapshot_key: snapshot.items},
    )
