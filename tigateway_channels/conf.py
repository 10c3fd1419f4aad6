"""The one place where ``settings.TIGATEWAY_CHANNELS`` is read.

Like simplejwt's ``api_settings``: defaults live here, user values override them, and the
object is rebuilt when a test changes the setting.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING_NAME = "TIGATEWAY_CHANNELS"

DEFAULTS: dict[str, Any] = {
    # Channel-layer alias that carries topic messages between worker processes.
    "CHANNEL_LAYER": "default",
    # Prefix of the channel-layer groups, one group per topic: "<prefix>.<topic>".
    "GROUP_PREFIX": "tigw",
    # Let sockets without credentials connect and read (subscribe, get); never write.
    "ALLOW_ANONYMOUS_READ": False,
    # Browser origins allowed to open a socket; None means "the hosts in ALLOWED_HOSTS".
    # Connections without an Origin header (non-browser clients) are always allowed.
    "ALLOWED_ORIGINS": None,
    # Largest client text frame the protocol accepts (bytes); larger ones get MESSAGE_TOO_LARGE.
    "MAX_MESSAGE_BYTES": 64 * 1024,
    # Client message rate per socket (token bucket): sustained rate and burst.
    "CLIENT_RATE_PER_SECOND": 20.0,
    "CLIENT_RATE_BURST": 60,
    # Messages rejected with RATE_LIMITED in a row before the socket is closed with 4429.
    "FLOOD_CLOSE_AFTER": 100,
    # Outgoing frames queued per socket before it counts as too slow and is closed.
    "SEND_QUEUE_LIMIT": 2000,
    # How often the per-process hub renews its group memberships (seconds).
    "GROUP_RENEW_SECONDS": 3600.0,
    # Value of metadata.source in every server message.
    "SOURCE": "tigateway",
}


class TigatewaySettings:
    """Attribute access to the app settings, validated once per (re)load."""

    def __init__(self, user_settings: dict[str, Any] | None = None) -> None:
        self._user = user_settings
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user is None:
            self._user = dict(getattr(django_settings, SETTING_NAME, {}) or {})
        return self._user

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {name!r}")
        if name not in self._cache:
            self._cache[name] = self.user_settings.get(name, DEFAULTS[name])
        return self._cache[name]

    def unknown_keys(self) -> list[str]:
        return sorted(set(self.user_settings) - set(DEFAULTS))

    def reload(self) -> None:
        self._user = None
        self._cache.clear()


tigw_settings = TigatewaySettings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING_NAME, "ALLOWED_HOSTS", "CHANNEL_LAYERS"):
        tigw_settings.reload()
