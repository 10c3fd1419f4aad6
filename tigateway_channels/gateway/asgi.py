"""``tigateway_channels.gateway.asgi:application``: the gateway as a standalone ASGI app.

Any ASGI server can serve it (``uvicorn tigateway_channels.gateway.asgi:application``) with
``DJANGO_SETTINGS_MODULE`` set; ``manage.py tigateway_gateway`` does exactly that on uvicorn.
"""

from __future__ import annotations

import django

django.setup(set_prefix=False)

from tigateway_channels.gateway.app import GatewayApplication  # noqa: E402

application = GatewayApplication()
