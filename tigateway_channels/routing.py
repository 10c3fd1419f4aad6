"""The app's public ASGI entry points, where a Channels project looks for them.

``websocket_application()`` is the ``"websocket"`` entry of a ``ProtocolTypeRouter``;
``websocket_urlpatterns`` go into your own ``URLRouter``. They live in ``websocket/routing.py``;
this import path is the one projects write in their ``asgi.py`` and stays stable.
"""

from tigateway_channels.websocket.routing import websocket_application, websocket_urlpatterns

__all__ = ["websocket_application", "websocket_urlpatterns"]
