"""From a committed change to every worker: offsets, outbox, on_commit, channel-layer group.

``record_topic_message`` runs inside the transaction of the change: it takes the topic's next
offset (a row lock, so offsets are contiguous and a rolled-back change leaves no gap), builds
and serialises the envelope once, and stores it as an outbox row. After commit the frame goes
to the topic's channel-layer group, where one hub per worker process receives it. If that
publish never happens (the process died, Redis was down) the relay (``relay.py``) sends it.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.deployment import deployment_id, group_name
from tigateway_channels.delivery.history import sequence_row
from tigateway_channels.delivery.loop_thread import run_layer_call
from tigateway_channels.delivery.streams import StreamPosition
from tigateway_channels.models import OutboxMessage, TopicSequence
from tigateway_channels.protocol.envelope import encode, make_envelope

logger = logging.getLogger(__name__)

DELIVER_EVENT = "tigw.deliver"


def _next_position(topic: str) -> StreamPosition:
    """The UPDATE takes the row lock that keeps offsets contiguous until this commit."""
    sequences = TopicSequence.objects.filter(topic=topic)
    if not sequences.update(offset=F("offset") + 1):
        sequence_row(topic)
        sequences.update(offset=F("offset") + 1)
    return StreamPosition(*sequences.values_list("offset", "epoch").get())


def record_topic_message(
    topic: str,
    message_type: str,
    data: dict[str, Any],
    attrs: dict[str, list[str]],
    metadata: dict[str, Any] | None = None,
) -> OutboxMessage:
    """Record a topic message in the current transaction and publish it once that commits.

    ``metadata`` adds to the envelope's (the ``actor`` of a route or config change)."""
    with transaction.atomic(savepoint=False):
        position = _next_position(topic)
        envelope = make_envelope(
            message_type,
            data,
            source=tigw_settings.SOURCE,
            extra_metadata={"topic": topic, **position.as_data(), **(metadata or {})},
        )
        message = OutboxMessage.objects.create(
            topic=topic, offset=position.offset, frame=encode(envelope), attrs=attrs
        )
    transaction.on_commit(lambda: publish_outbox_message(message, position.epoch))
    return message


def channel_message(message: OutboxMessage, epoch: str) -> dict[str, Any]:
    """What crosses the channel layer; ``deployment`` lets workers drop what is not theirs."""
    return {
        "type": DELIVER_EVENT,
        "deployment": deployment_id(),
        "topic": message.topic,
        "offset": message.offset,
        "epoch": epoch,
        "frame": message.frame,
        "attrs": message.attrs,
    }


def channel_layer() -> Any:
    layer = get_channel_layer(tigw_settings.CHANNEL_LAYER)
    if layer is None:
        raise RuntimeError(f"no channel layer {tigw_settings.CHANNEL_LAYER!r}")
    return layer


def send_to_group(message: OutboxMessage, epoch: str) -> None:
    """Hand one recorded message to the channel layer; raises when the layer is unreachable."""
    layer = channel_layer()
    group, payload = group_name(message.topic), channel_message(message, epoch)
    run_layer_call(layer, lambda: layer.group_send(group, payload))


def publish_outbox_message(message: OutboxMessage, epoch: str) -> bool:
    """Publish right after commit; a failure leaves the row for the relay and never raises."""
    try:
        send_to_group(message, epoch)
    except Exception as exc:
        logger.warning(
            "Publishing %s#%s failed (%s); the relay will retry", message.topic, message.offset, exc
        )
        return False
    mark_published([message.pk])
    return True


def mark_published(pks: list[int]) -> None:
    """Record that messages were published. Losing this mark in a crash only means the relay
    publishes them again (workers drop the duplicate), so PostgreSQL need not wait for the
    write-ahead log to reach the disk: that wait would double the cost of every save."""
    if not pks:
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        OutboxMessage.objects.filter(pk__in=pks).update(published_at=timezone.now())
