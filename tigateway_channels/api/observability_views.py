"""REST endpoints of observability (docs/observability.md): the Prometheus text, the ingest of
external gateways' figures, and the two queries with the WebSocket API's request bodies."""

from __future__ import annotations

import hmac
import time
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from rest_framework import status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from tigateway_channels.api.errors import GatewayErrorMixin
from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.topics import TOPICS
from tigateway_channels.observability import prometheus
from tigateway_channels.observability.backends import get_backend
from tigateway_channels.observability.buckets import route_counts
from tigateway_channels.observability.ingest import REPORT_METRICS, accept_report, parse_report
from tigateway_channels.observability.log_query import parse_log_query, run_log_query
from tigateway_channels.observability.metrics_query import parse_metrics_query, run_metrics_query
from tigateway_channels.protocol.errors import ErrorCode, GatewayError

SCRAPER = "scrape-token"


class ScrapeTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <METRICS_SCRAPE_TOKEN>``: a Prometheus scraper, not a user."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        token = tigw_settings.METRICS_SCRAPE_TOKEN
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not token or not header.startswith("Bearer "):
            return None
        if hmac.compare_digest(header[7:].strip().encode(), str(token).encode()):
            return AnonymousUser(), SCRAPER
        return None

    def authenticate_header(self, request: Request) -> str:
        """Without credentials: 401 with ``WWW-Authenticate: Bearer``, as for JWT."""
        return 'Bearer realm="api"'


class Needs(BasePermission):
    """An authenticated user with the view's ``permission`` (or the scrape token, where the
    view accepts it)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.auth == SCRAPER and getattr(view, "scrape_token_accepted", False):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(view.permission))


class ObservabilityView(GatewayErrorMixin, APIView):
    authentication_classes = [JWTAuthentication, SessionAuthentication]
    permission_classes = [Needs]
    parser_classes = [JSONParser]
    not_found_code = ErrorCode.INVALID_MESSAGE_FORMAT
    permission = ""

    def body(self, request: Request) -> dict[str, Any]:
        data = request.data
        if not isinstance(data, dict):
            raise GatewayError(
                ErrorCode.INVALID_MESSAGE_FORMAT,
                "The body must be a JSON object",
                {"field": "$", "value": type(data).__name__, "reason": "not a JSON object"},
            )
        return data


class PrometheusView(ObservabilityView):
    """GET: the cluster's counters and latency histograms in the Prometheus text format."""

    authentication_classes = [
        ScrapeTokenAuthentication,
        JWTAuthentication,
        SessionAuthentication,
    ]
    permission = TOPICS["metrics"].permission
    scrape_token_accepted = True

    def get(self, request: Request) -> HttpResponse:
        totals = get_backend().prom_totals()
        since = time.time() - tigw_settings.METRICS_NODE_FORGET_SECONDS
        text = prometheus.render(totals.values(), route_counts(), since)
        return HttpResponse(text, content_type=prometheus.CONTENT_TYPE)


class MetricsIngestView(ObservabilityView):
    """POST: an external gateway's report (the WebSocket ``metrics_report`` body)."""

    permission = REPORT_METRICS

    def post(self, request: Request) -> Response:
        result = accept_report(parse_report(self.body(request)))
        return Response(result, status=status.HTTP_202_ACCEPTED if result["accepted"] else 200)


class MetricsQueryView(ObservabilityView):
    """POST: ``metrics_query``'s ``data`` in, its ``result`` out."""

    permission = TOPICS["metrics"].permission

    def post(self, request: Request) -> Response:
        return Response(run_metrics_query(parse_metrics_query(self.body(request))))


class LogQueryView(ObservabilityView):
    """POST: ``log_query``'s ``data`` in, its ``result`` out."""

    permission = TOPICS["logs"].permission

    def post(self, request: Request) -> Response:
        return Response(run_log_query(parse_log_query(self.body(request))))
