"""REST routes of the app; the host project mounts them, e.g. at ``api/tigateway/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from tigateway_channels.api.config_views import ConfigViewSet
from tigateway_channels.api.observability_views import (
    LogQueryView,
    MetricsIngestView,
    MetricsQueryView,
    PrometheusView,
)
from tigateway_channels.api.views import RouteViewSet

app_name = "tigateway"

# SimpleRouter: DefaultRouter's API root would run under the project's default permissions.
router = SimpleRouter()
router.register("routes", RouteViewSet, basename="route")

# Configs are addressed by two parts, <configType>/<configId>, so their URLs are spelled out.
CONFIG = "configs/<str:config_type>/<str:config_id>/"
config_urls = [
    path("configs/", ConfigViewSet.as_view({"get": "list", "post": "create"}), name="config-list"),
    path(
        CONFIG,
        ConfigViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="config-detail",
    ),
    path(
        CONFIG + "validate/",
        ConfigViewSet.as_view({"post": "validate"}),
        name="config-validate",
    ),
    path(
        CONFIG + "revisions/",
        ConfigViewSet.as_view({"get": "revisions"}),
        name="config-revisions",
    ),
    path(
        CONFIG + "rollback/",
        ConfigViewSet.as_view({"post": "rollback"}),
        name="config-rollback",
    ),
]

# Observability (docs/observability.md): Prometheus text, external gateways' reports, queries.
observability_urls = [
    path("metrics/prometheus/", PrometheusView.as_view(), name="metrics-prometheus"),
    path("metrics/ingest/", MetricsIngestView.as_view(), name="metrics-ingest"),
    path("metrics/query/", MetricsQueryView.as_view(), name="metrics-query"),
    path("logs/query/", LogQueryView.as_view(), name="logs-query"),
]

urlpatterns = router.urls + config_urls + observability_urls
