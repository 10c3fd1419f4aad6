"""From a committed change to every worker: offsets, outbox, on_commit, channel-layer group.

``record_topic_message`` runs inside the transaction of the change: it takes the topic's next
offset (a row lock, so offsets are contiguous and a rolled-back change leaves no gap), builds
and serialises the envelope once, and stores it as an outbox row. After commit the frame goes
to the topic's channel-layer group, where one hub per worker process receives it.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tigateway_channels.conf import tigw_settings
from tigateway_channels.models import OutboxMessage, TopicSequence
from tigateway_channels.protocol.envelope import encode, make_envelope

logger = logging.getLogger(__name__)

DELIVER_EVENT = "tigw.deliver"


def group_name(topic: str) -> str:
    return f"{tigw_settings.GROUP_PREFIX}.{topic}"


def _next_offset(topic: str) -> tuple[int, str]:
    TopicSequence.objects.get_or_create(topic=topic)
    TopicSequence.objects.filter(topic=topic).update(offset=F("offset") + 1)
    sequence = TopicSequence.objects.get(topic=topic)
    return sequence.offset, sequence.epoch


def record_topic_message(
    topic: str, message_type: str, data: dict[str, Any], attrs: dict[str, list[str]]
) -> OutboxMessage:
    """Record a topic message in the current transaction and publish it once that commits."""
    with transaction.atomic():
        offset, epoch = _next_offset(topic)
        envelope = make_envelope(
            message_type,
            data,
            source=tigw_settings.SOURCE,
            extra_metadata={"topic": topic, "offset": offset, "epoch": epoch},
        )
        message = OutboxMessage.objects.create(
            topic=topic, offset=offset, frame=encode(envelope), attrs=attrs
        )
    transaction.on_commit(lambda: publish_outbox_message(message))
    return message


def channel_message(message: OutboxMessage) -> dict[str, Any]:
    return {
        "type": DELIVER_EVENT,
        "topic": message.topic,
        "offset": message.offset,
        "frame": message.frame,
        "attrs": message.attrs,
    }


def publish_outbox_message(message: OutboxMessage) -> bool:
    """Send one recorded message to its group; a failure leaves it pending, never raises."""
    layer = get_channel_layer(tigw_settings.CHANNEL_LAYER)
    if layer is None:
        logger.error(
            "No channel layer %r: topic message not published", tigw_settings.CHANNEL_LAYER
        )
        return False
    try:
        async_to_sync(layer.group_send)(group_name(message.topic), channel_message(message))
    except Exception:
        logger.exception("Publishing %s#%s failed; it stays pending", message.topic, message.offset)
        return False
    OutboxMessage.objects.filter(pk=message.pk).update(published_at=timezone.now())
    return True
