"""Plain Channels baseline: the usual way to push a model change to WebSockets.

An ``AsyncJsonWebsocketConsumer`` per socket that ``group_add``s on connect and ``send_json``s
every group event; the writer side is a ``post_save`` receiver that calls
``async_to_sync(layer.group_send)`` after commit (``channels_signals.py``). Run on daphne as
``benchmarks.apps.channels_app:application`` with the example project's settings and
``CHANNEL_LAYER_BACKEND=channels_redis.core.RedisChannelLayer`` (what the architecture's table
measured). No authentication: the baseline pays nothing for it.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from benchmarks.apps.raw_common import status_filter  # noqa: E402

GROUP = "routes"
ACK = {
    "type": "ack",
    "data": {"requestId": None, "requestType": "connect", "result": {"topics": ["routes"]}},
}


class RouteConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.status_filter = status_filter(self.scope["query_string"].decode("latin1"))
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        await self.send_json(ACK)

    async def disconnect(self, code: Any) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def route_update(self, event: dict[str, Any]) -> None:
        if self.status_filter is not None and self.status_filter.isdisjoint(event["statuses"]):
            return
        await self.send_json(event["message"])


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    re_path(r"^ws/tigateway/?$", RouteConsumer.as_asgi()),
                ]
            )
        ),
    }
)
