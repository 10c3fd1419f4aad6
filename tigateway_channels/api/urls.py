"""REST routes of the app; the host project mounts them, e.g. at ``api/tigateway/``."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from tigateway_channels.api.views import RouteViewSet

app_name = "tigateway"

# SimpleRouter: DefaultRouter's API root would run under the project's default permissions.
router = SimpleRouter()
router.register("routes", RouteViewSet, basename="route")

urlpatterns = router.urls
