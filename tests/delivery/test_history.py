"""History pruning and reading (the outbox as history)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from tigateway_channels.delivery import history, relay
from tigateway_channels.models import OutboxMessage, Route, TopicSequence

pytestmark = pytest.mark.django_db


def make_routes(count: int) -> None:
    for n in range(count):
        Route.objects.create(id=f"p{n}", uri="http://a")
    OutboxMessage.objects.update(published_at=timezone.now())


def test_history_is_pruned_by_count_but_never_unpublished_rows(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"HISTORY_MAX_MESSAGES": 2}
    make_routes(5)
    OutboxMessage.objects.filter(offset=1).update(published_at=None)
    assert relay.prune_history() == 2
    assert sorted(OutboxMessage.objects.values_list("offset", flat=True)) == [1, 4, 5]


def test_history_is_pruned_by_age(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"HISTORY_MAX_AGE_SECONDS": 60}
    make_routes(3)
    OutboxMessage.objects.filter(offset__lte=2).update(
        created_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    assert relay.prune_history() == 2
    assert list(OutboxMessage.objects.values_list("offset", flat=True)) == [3]


def test_read_returns_original_frames_in_offset_order() -> None:
    make_routes(4)
    messages = history.read("routes", 1, 3)
    assert [m.offset for m in messages] == [2, 3]
    assert all(f'"offset":{m.offset}' in m.frame for m in messages)


def test_a_lost_sequence_row_never_reuses_offsets() -> None:
    make_routes(3)
    TopicSequence.objects.filter(topic="routes").delete()
    Route.objects.create(id="after-reset", uri="http://a")
    assert OutboxMessage.objects.order_by("-offset").first().offset == 4
    assert history.position("routes").offset == 4
