"""The gateway data plane: an ASGI application that serves HTTP and WebSocket traffic by the
live route table, following the ``routes`` and ``config`` topics like any other subscriber.

Run it as its own process (``manage.py tigateway_gateway``) or mount
``tigateway_channels.gateway.app.GatewayApplication`` in a project's ASGI router
(docs/gateway.md).
"""

from __future__ import annotations
