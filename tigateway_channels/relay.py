"""The outbox relay: publishes committed messages whose publish after commit never happened.

That is a process killed between commit and publish, or Redis down at the time. Every worker
runs it (see ``hub.py``), so does ``manage.py tigateway_relay``; several relays may publish the
same row, and each worker's ``TopicStream`` drops the duplicate, so each offset reaches each
socket once. That is also why no row lock is held while publishing: a transaction open across a
network call would hold back writers, and duplicates cost nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from tigateway_channels.bus import channel_message, group_name, mark_published, send_to_group
from tigateway_channels.conf import tigw_settings
from tigateway_channels.history import prune
from tigateway_channels.models import OutboxMessage, TopicSequence

logger = logging.getLogger(__name__)


def overdue(limit: int = 500, grace_seconds: float | None = None) -> list[OutboxMessage]:
    """Outbox rows committed but still unpublished after the grace period, in offset order."""
    grace = tigw_settings.RELAY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = timezone.now() - dt.timedelta(seconds=grace)
    rows = list(
        OutboxMessage.objects.filter(published_at__isnull=True, created_at__lte=cutoff).order_by(
            "topic", "offset"
        )[:limit]
    )
    epochs = dict(TopicSequence.objects.values_list("topic", "epoch"))
    for row in rows:
        row.epoch = epochs.get(row.topic, "")  # type: ignore[attr-defined]
    return rows


def record_relayed(rows: list[OutboxMessage]) -> None:
    if rows:
        mark_published([row.pk for row in rows])
        logger.info("Relay published %d overdue topic message(s)", len(rows))


async def publish_pending_async(layer: Any, grace_seconds: float | None = None) -> int:
    """The workers' relay: no transaction is held while the channel layer is awaited."""
    rows = await database_sync_to_async(overdue)(grace_seconds=grace_seconds)
    sent: list[OutboxMessage] = []
    try:
        for row in rows:
            await layer.group_send(group_name(row.topic), channel_message(row, row.epoch))
            sent.append(row)
    except Exception as exc:
        logger.warning(
            "Relay: channel layer unreachable (%s); %d rows wait", exc, len(rows) - len(sent)
        )
    await database_sync_to_async(record_relayed)(sent)
    return len(sent)


def publish_pending(limit: int = 500, grace_seconds: float | None = None) -> int:
    """The same from sync code (``manage.py tigateway_relay``); stops at the first failure."""
    rows = overdue(limit, grace_seconds)
    sent: list[OutboxMessage] = []
    try:
        for row in rows:
            send_to_group(row, row.epoch)  # type: ignore[attr-defined]
            sent.append(row)
    except Exception as exc:
        logger.warning(
            "Relay: channel layer unreachable (%s); %d rows wait", exc, len(rows) - len(sent)
        )
    record_relayed(sent)
    return len(sent)


def pending_count() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()


def prune_history() -> int:
    deleted = prune()
    if deleted:
        logger.info("Pruned %d topic message(s) from history", deleted)
    return deleted
