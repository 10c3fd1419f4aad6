"""The outbox relay: publishes committed messages whose publish after commit never happened.

That is a process killed between commit and publish, or Redis down at the time. Every worker
runs it (see ``hub.py``), so does ``manage.py tigateway_relay``; several relays may publish the
same row, and each worker's ``TopicStream`` drops the duplicate, so each offset reaches each
socket once. That is also why no row lock is held while publishing: a transaction open across a
network call would hold back writers, and duplicates cost nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.deployment import group_name
from tigateway_channels.delivery.history import prune
from tigateway_channels.delivery.loop_thread import run_layer_call
from tigateway_channels.delivery.outbox import channel_layer, channel_message, mark_published
from tigateway_channels.models import OutboxMessage, TopicSequence

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Overdue:
    """One unpublished row, ready to send: group and payload are built in sync code, where
    the deployment identity may still need a query."""

    pk: int
    group: str
    payload: dict[str, Any]


def overdue(limit: int = 500, grace_seconds: float | None = None) -> list[Overdue]:
    """Outbox rows committed but still unpublished after the grace period, in offset order."""
    grace = tigw_settings.RELAY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = timezone.now() - dt.timedelta(seconds=grace)
    rows = OutboxMessage.objects.filter(published_at__isnull=True, created_at__lte=cutoff)
    epochs = dict(TopicSequence.objects.values_list("topic", "epoch"))
    return [
        Overdue(row.pk, group_name(row.topic), channel_message(row, epochs.get(row.topic, "")))
        for row in rows.order_by("topic", "offset")[:limit]
    ]


def record_relayed(sent: list[Overdue]) -> None:
    if sent:
        mark_published([row.pk for row in sent])
        logger.info("Relay published %d overdue topic message(s)", len(sent))


def _log_unreachable(exc: Exception, waiting: int) -> None:
    logger.warning("Relay: channel layer unreachable (%s); %d rows wait", exc, waiting)


async def publish_pending_async(layer: Any, grace_seconds: float | None = None) -> int:
    """The workers' relay: no transaction is held while the channel layer is awaited."""
    rows = await database_sync_to_async(overdue)(grace_seconds=grace_seconds)
    sent: list[Overdue] = []
    try:
        for row in rows:
            await layer.group_send(row.group, row.payload)
            sent.append(row)
    except Exception as exc:
        _log_unreachable(exc, len(rows) - len(sent))
    await database_sync_to_async(record_relayed)(sent)
    return len(sent)


def publish_pending(limit: int = 500, grace_seconds: float | None = None) -> int:
    """The same from sync code (``manage.py tigateway_relay``); stops at the first failure."""
    rows = overdue(limit, grace_seconds)
    sent: list[Overdue] = []
    try:
        layer = channel_layer()
        for row in rows:
            run_layer_call(layer, functools.partial(layer.group_send, row.group, row.payload))
            sent.append(row)
    except Exception as exc:
        _log_unreachable(exc, len(rows) - len(sent))
    record_relayed(sent)
    return len(sent)


def pending_count() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()


def prune_history() -> int:
    deleted = prune()
    if deleted:
        logger.info("Pruned %d topic message(s) from history", deleted)
    return deleted
