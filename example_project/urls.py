from django.contrib import admin
from django.urls import include, path
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView


class ThrottledTokenObtainPairView(TokenObtainPairView):
    """The password endpoint, throttled per client address against password guessing
    (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token"]; docs/security.md)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/token/", ThrottledTokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("api/tigateway/", include("tigateway_channels.api.urls")),
]
