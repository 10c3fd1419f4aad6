"""Per-topic ordering in one worker: offsets in order, each once, gaps filled from history.

Publishers on different workers can deliver offsets out of order (each publishes after its own
commit), a relay can publish a message twice, and a publisher can die between commit and
publish. ``TopicStream`` turns what arrives into the exact sequence 1, 2, 3, ... for the local
sockets: duplicates are dropped, early arrivals wait, and a gap that does not close by itself
is filled from the outbox (``missing()`` says which offsets to fetch).

Pure: no I/O, so it is tested with plain unit tests.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """A place in one topic's stream: its last offset, in one history of the topic (``epoch``).

    The one type for a position wherever it travels: read from the database, sent by a client
    to recover, kept by a stream, reported in a subscribe ``ack``.
    """

    offset: int
    epoch: str

    def as_data(self) -> dict[str, Any]:
        return {"offset": self.offset, "epoch": self.epoch}


@dataclass(frozen=True, slots=True)
class TopicMessage:
    topic: str
    offset: int
    epoch: str
    frame: str
    attrs: dict[str, list[str]]

    @classmethod
    def from_channel(cls, message: Mapping[str, Any]) -> TopicMessage:
        return cls(
            topic=message["topic"],
            offset=int(message.get("offset") or 0),
            epoch=str(message.get("epoch") or ""),
            frame=message["frame"],
            attrs=message.get("attrs") or {},
        )


class TopicStream:
    """What one worker has delivered on one topic, and a window of it for replays."""

    def __init__(self, topic: str, memory: int) -> None:
        self.topic = topic
        self.epoch: str | None = None
        self.last = 0  # the last offset handed to local sockets
        self.recent: collections.deque[TopicMessage] = collections.deque(maxlen=memory)
        self.early: dict[int, TopicMessage] = {}

    def start_at(self, position: StreamPosition, recent: Iterable[TopicMessage] = ()) -> None:
        """Begin after ``position``: what was committed before this worker listened is history;
        ``recent``, the contiguous messages up to it read from history, can be replayed."""
        self.epoch = position.epoch
        self.last = position.offset
        self.recent.clear()
        self.early.clear()
        kept = [m for m in recent if m.epoch == position.epoch and m.offset <= position.offset]
        # Only a run that ends at ``position`` with no hole: replay_after relies on it.
        run: list[TopicMessage] = []
        for message in reversed(kept):
            if message.offset != (run[-1].offset - 1 if run else position.offset):
                break
            run.append(message)
        self.recent.extend(reversed(run))

    @property
    def position(self) -> StreamPosition:
        """Where this worker's stream stands: the last offset handed to local sockets."""
        if self.epoch is None:
            raise RuntimeError(f"The {self.topic!r} stream has not started: it has no position")
        return StreamPosition(self.last, self.epoch)

    def accept(self, message: TopicMessage) -> list[TopicMessage]:
        """Take one arrival; return the messages now deliverable, in offset order."""
        if self.epoch != message.epoch:
            # The topic's history was lost and restarted (a new database): follow the new one.
            self.start_at(StreamPosition(message.offset - 1, message.epoch))
        if message.offset <= self.last or message.offset in self.early:
            return []
        self.early[message.offset] = message
        return list(self._release())

    def fill(self, messages: Iterable[TopicMessage]) -> list[TopicMessage]:
        """Take messages read from the outbox to close a gap."""
        for message in messages:
            if message.epoch == self.epoch and message.offset > self.last:
                self.early.setdefault(message.offset, message)
        return list(self._release())

    def _release(self) -> Iterator[TopicMessage]:
        while self.last + 1 in self.early:
            message = self.early.pop(self.last + 1)
            self.last = message.offset
            self.recent.append(message)
            yield message

    def skip_to(self, offset: int) -> list[TopicMessage]:
        """Give up on offsets up to ``offset`` (they are gone from history too)."""
        for stale in [o for o in self.early if o <= offset]:
            del self.early[stale]
        self.last = max(self.last, offset)
        return list(self._release())

    def missing(self) -> tuple[int, int] | None:
        """The offsets (first, last) to fetch when messages wait behind a gap."""
        if not self.early:
            return None
        return self.last + 1, min(self.early) - 1

    def replay_after(self, offset: int) -> list[TopicMessage] | None:
        """Delivered messages after ``offset`` from memory, or None if memory does not reach."""
        if offset >= self.last:
            return []
        if not self.recent or self.recent[0].offset > offset + 1:
            return None
        return [message for message in self.recent if message.offset > offset]
