"""The plain Channels baseline's writer side: a post_save receiver doing group_send on commit."""

from __future__ import annotations

import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import post_save

from tigateway_channels.models import Route
from tigateway_channels.protocol.envelope import utc_timestamp

GROUP = "routes"


def route_saved(sender: Any, instance: Route, created: bool, **kwargs: Any) -> None:
    previous = getattr(instance, "_bench_prev_status", None)
    statuses = [instance.status]
    if previous and previous != instance.status:
        statuses.append(previous)
    message = {
        "type": "route_update",
        "id": f"route-update-{uuid.uuid4().hex[:16]}",
        "timestamp": utc_timestamp(),
        "data": {"action": "created" if created else "updated", "route": instance.to_message()},
        "metadata": {"source": "tigateway", "topic": "routes"},
    }
    layer = get_channel_layer()
    event = {"type": "route.update", "message": message, "statuses": statuses}
    transaction.on_commit(lambda: async_to_sync(layer.group_send)(GROUP, event))


def connect() -> None:
    post_save.connect(route_saved, sender=Route, weak=False, dispatch_uid="bench-plain-channels")
