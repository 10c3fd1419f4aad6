"""Client request handlers, one module per request family, registered by message type.

A handler takes the connection and the parsed message and returns the ``result`` of the
``ack`` (or raises ``GatewayError``); the consumer builds every reply.
"""

from __future__ import annotations

from tigateway_channels.websocket.handlers import configs, observability, routes, session
from tigateway_channels.websocket.handlers.registry import HANDLERS, Handler

__all__ = ["HANDLERS", "Handler", "configs", "observability", "routes", "session"]
