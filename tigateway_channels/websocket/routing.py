"""URL patterns and the ASGI stack for the WebSocket API.

Add ``websocket_urlpatterns`` to your own ``URLRouter`` (behind Channels'
``AuthMiddlewareStack`` for session logins), or use ``websocket_application()``.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import re_path

from tigateway_channels.asgi_types import Receive, Scope, Send
from tigateway_channels.websocket.consumer import GatewayConsumer

websocket_urlpatterns = [
    re_path(r"^ws/tigateway/?$", GatewayConsumer.as_asgi()),
]


class KeepRawSend:
    """Outermost middleware: remembers the server's own ``send`` for the fan-out hot path.

    Channels' session middleware wraps ``send`` to save sessions on accept; topic frames need
    none of that, so the consumer writes them with the server's callable directly.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.inner({**scope, "tigateway.raw_send": send}, receive, send)


def websocket_application(extra_patterns: list[Any] | None = None) -> Any:
    """The ``"websocket"`` entry of a ``ProtocolTypeRouter``: session auth plus our routes.

    Origins are checked by the consumer (close code 4403 with a reason), not by Channels'
    ``OriginValidator``, which can only refuse the handshake without saying why.
    """
    return KeepRawSend(
        AuthMiddlewareStack(URLRouter(websocket_urlpatterns + (extra_patterns or [])))
    )
