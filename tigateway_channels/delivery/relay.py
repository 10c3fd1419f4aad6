"""The outbox relay: publishes committed messages whose publish after commit never happened.

That is a process killed between commit and publish, or Redis down at the time. Every worker
runs it (see ``lifecycle.py``), so does ``manage.py tigateway_relay``; several relays may
publish the same row, and each worker's ``TopicStream`` drops the duplicate, so each offset
reaches each socket once. That is also why no row lock is held while publishing: a transaction
open across a network call would hold back writers, and duplicates cost nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
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

PRUNE_EVERY_ROUNDS = 60


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


async def _send_in_order(layer: Any, rows: list[Overdue], sent: list[Overdue]) -> None:
    """The relay's one send loop: rows go out in offset order, each appended to ``sent`` once
    the layer took it; the first failure ends the round, and the rest wait for the next."""
    for row in rows:
        await layer.group_send(row.group, row.payload)
        sent.append(row)


async def publish_pending_async(layer: Any, grace_seconds: float | None = None) -> int:
    """The workers' relay: no transaction is held while the channel layer is awaited."""
    rows = await database_sync_to_async(overdue)(grace_seconds=grace_seconds)
    sent: list[Overdue] = []
    try:
        await _send_in_order(layer, rows, sent)
    except Exception as exc:
        _log_unreachable(exc, len(rows) - len(sent))
    await database_sync_to_async(record_relayed)(sent)
    return len(sent)


def publish_pending(limit: int = 500, grace_seconds: float | None = None) -> int:
    """The same from sync code (``manage.py tigateway_relay``): the sends run on the process's
    publisher loop (``loop_thread.py``), which keeps the layer's connections open."""
    rows = overdue(limit, grace_seconds)
    sent: list[Overdue] = []
    try:
        layer = channel_layer()
        run_layer_call(layer, lambda: _send_in_order(layer, rows, sent))
    except Exception as exc:
        _log_unreachable(exc, len(rows) - len(sent))
    record_relayed(sent)
    return len(sent)


@dataclass(frozen=True, slots=True)
class RelayRound:
    published: int
    pruned: int


class RelayRounds:
    """The relay's rounds, for every worker's loop and ``manage.py tigateway_relay`` alike:
    each round publishes what is overdue; the first round, and every ``PRUNE_EVERY_ROUNDS``-th
    after it, also prunes history (about once a minute at the default interval)."""

    def __init__(self) -> None:
        self._count = 0

    def _prune_due(self) -> bool:
        due = self._count % PRUNE_EVERY_ROUNDS == 0
        self._count += 1
        return due

    def run(self, grace_seconds: float | None = None) -> RelayRound:
        prune = self._prune_due()
        published = publish_pending(grace_seconds=grace_seconds)
        return RelayRound(published, prune_history() if prune else 0)

    async def run_async(self, publish: Callable[[], Awaitable[int]]) -> RelayRound:
        """``publish``: the worker's ``publish_pending_async`` through its own layer."""
        prune = self._prune_due()
        published = await publish()
        pruned = await database_sync_to_async(prune_history)() if prune else 0
        return RelayRound(published, pruned)


def pending_count() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()


def prune_history() -> int:
    deleted = prune()
    if deleted:
        logger.info("Pruned %d topic message(s) from history", deleted)
    return deleted
