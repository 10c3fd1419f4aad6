"""Reading topic history and state from the database (sync; call through a thread).

The outbox is the history: each row is a message exactly as first sent, at its offset. The
database, not Redis, keeps it, so a Redis restart loses nothing and the epoch changes only when
the database's history itself is gone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.module_loading import import_string

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.streams import StreamPosition, TopicMessage
from tigateway_channels.models import OutboxMessage, Route, TopicSequence


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A topic's full state and the position it is valid at."""

    position: StreamPosition
    items: list[dict[str, Any]]


def position(topic: str) -> StreamPosition:
    """The topic's last committed offset and its epoch."""
    sequence = sequence_row(topic)
    return StreamPosition(sequence.offset, sequence.epoch)


def sequence_row(topic: str) -> TopicSequence:
    sequence = TopicSequence.objects.filter(topic=topic).first()
    if sequence is None:
        # Start after any history left behind, so offsets are never reused.
        start = OutboxMessage.objects.filter(topic=topic).aggregate(m=Max("offset"))["m"] or 0
        sequence, _ = TopicSequence.objects.get_or_create(topic=topic, defaults={"offset": start})
    return sequence


def read(topic: str, after: int, until: int | None = None, limit: int = 1000) -> list[TopicMessage]:
    """Messages with ``after < offset <= until`` in offset order (at most ``limit``)."""
    epoch = position(topic).epoch
    rows = OutboxMessage.objects.filter(topic=topic, offset__gt=after)
    if until is not None:
        rows = rows.filter(offset__lte=until)
    return [
        TopicMessage(topic, row.offset, epoch, row.frame, row.attrs)
        for row in rows.order_by("offset").only("offset", "frame", "attrs")[:limit]
    ]


def route_snapshot() -> list[dict[str, Any]]:
    return [route.to_message() for route in Route.objects.order_by("order", "id")]


def snapshot(topic: str, provider: str) -> Snapshot:
    """The topic's full state and the offset it is valid at, read consistently.

    The sequence row lock holds back writers of this topic for the duration of the read, so no
    change can commit between reading the offset and reading the state.
    """
    state: Callable[[], list[dict[str, Any]]] = import_string(provider)
    with transaction.atomic():
        sequence_row(topic)
        locked = TopicSequence.objects.select_for_update().get(topic=topic)
        return Snapshot(StreamPosition(locked.offset, locked.epoch), state())


def prune(now: dt.datetime | None = None) -> int:
    """Drop published history beyond the configured count and age; never unpublished rows."""
    now = now or timezone.now()
    oldest_kept = now - dt.timedelta(seconds=tigw_settings.HISTORY_MAX_AGE_SECONDS)
    published = OutboxMessage.objects.filter(published_at__isnull=False)
    deleted, _ = published.filter(created_at__lt=oldest_kept).delete()
    for sequence in TopicSequence.objects.all():
        floor = sequence.offset - tigw_settings.HISTORY_MAX_MESSAGES
        if floor > 0:
            count, _ = published.filter(topic=sequence.topic, offset__lte=floor).delete()
            deleted += count
    return deleted
