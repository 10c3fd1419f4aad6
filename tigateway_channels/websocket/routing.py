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
from tigateway_channels.websocket.connect_params import CONNECT_PARAMS_KEY, read_connect_params
from tigateway_channels.websocket.consumer import GatewayConsumer
from tigateway_channels.websocket.credentials import presented_token

websocket_urlpatterns = [
    re_path(r"^ws/tigateway/?$", GatewayConsumer.as_asgi()),
]


class KeepRawSend:
    """Outermost middleware: remembers the server's own ``send`` for the fan-out hot path, and
    sends a socket that presents a token past Channels' session and auth middleware.

    Channels' session middleware wraps ``send`` to save sessions on accept; topic frames need
    none of that, so the consumer writes them with the server's callable directly. A token
    wins over a session (``auth.py``), so for a socket with one, resolving the session's user
    is a database hop and three scope copies for nothing: ``token_inner`` (our routes alone)
    serves it. The query is parsed once here and handed to the consumer.
    """

    def __init__(self, inner: Any, token_inner: Any | None = None) -> None:
        self.inner = inner
        self.token_inner = token_inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, "tigateway.raw_send": send}
        inner = self.inner
        if self.token_inner is not None and scope.get("type") == "websocket":
            params = read_connect_params(scope)
            scope[CONNECT_PARAMS_KEY] = params
            if presented_token(scope, params.token) is not None:
                inner = self.token_inner
        await inner(scope, receive, send)


def websocket_application(extra_patterns: list[Any] | None = None) -> Any:
    """The ``"websocket"`` entry of a ``ProtocolTypeRouter``: session auth plus our routes.

    Origins are checked by the consumer (close code 4403 with a reason), not by Channels'
    ``OriginValidator``, which can only refuse the handshake without saying why.
    """
    router = URLRouter(websocket_urlpatterns + (extra_patterns or []))
    return KeepRawSend(AuthMiddlewareStack(router), token_inner=router)
