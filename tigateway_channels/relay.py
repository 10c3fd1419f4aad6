"""The outbox relay: publishes committed messages whose publish after commit never happened.

That is a process killed between commit and publish, or Redis down at the time. Every worker
runs it (see ``hub.py``), so does ``manage.py tigateway_relay``; several relays may publish the
same row, and each worker's ``TopicStream`` drops the duplicate, so each offset reaches each
socket once.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from tigateway_channels.bus import send_to_group
from tigateway_channels.conf import tigw_settings
from tigateway_channels.history import prune
from tigateway_channels.models import OutboxMessage, TopicSequence

logger = logging.getLogger(__name__)


def publish_pending(limit: int = 500, grace_seconds: float | None = None) -> int:
    """Publish overdue outbox rows in offset order; stop at the first failure. Sync."""
    grace = tigw_settings.RELAY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = timezone.now() - dt.timedelta(seconds=grace)
    published = 0
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True, created_at__lte=cutoff)
            .order_by("topic", "offset")[:limit]
        )
        if not rows:
            return 0
        epochs = dict(TopicSequence.objects.values_list("topic", "epoch"))
        try:
            for row in rows:
                send_to_group(row, epochs.get(row.topic, ""))
                published += 1
        except Exception as exc:
            logger.warning(
                "Relay: channel layer unreachable (%s); %d rows wait", exc, len(rows) - published
            )
        done = [row.pk for row in rows[:published]]
        OutboxMessage.objects.filter(pk__in=done).update(published_at=timezone.now())
    if published:
        logger.info("Relay published %d overdue topic message(s)", published)
    return published


def pending_count() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()


def prune_history() -> int:
    deleted = prune()
    if deleted:
        logger.info("Pruned %d topic message(s) from history", deleted)
    return deleted
