"""What every viewset of the app shares, whatever the project's ``REST_FRAMEWORK`` defaults."""

from __future__ import annotations

from rest_framework import viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser

from tigateway_channels.api.errors import GatewayErrorMixin
from tigateway_channels.authentication import GatewayJWTAuthentication


class GatewayViewSet(GatewayErrorMixin, viewsets.GenericViewSet):
    """JSON in, the one error shape out, and the same authentication for routes and configs."""

    # Set here, not left to the project: the API must authenticate the same way everywhere.
    # JWT first, so a request without credentials gets 401 with WWW-Authenticate: Bearer;
    # the same token checks as the WebSocket API (``authentication.py``).
    authentication_classes = [GatewayJWTAuthentication, SessionAuthentication]
    parser_classes = [JSONParser]
