"""System checks: a missing or unusable channel layer, bad settings, a missing ASGI setup."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from tigateway_channels.conf import DEFAULTS, SETTING_NAME, tigw_settings

IN_MEMORY = "channels.layers.InMemoryChannelLayer"


@register(Tags.compatibility)
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    alias = tigw_settings.CHANNEL_LAYER
    if alias not in layers:
        return [
            Error(
                f"CHANNEL_LAYERS has no {alias!r} layer; changes cannot reach WebSocket clients.",
                hint=(
                    "Add CHANNEL_LAYERS = {'default': {'BACKEND': "
                    "'channels_redis.pubsub.RedisPubSubChannelLayer', 'CONFIG': {'hosts': "
                    "['redis://127.0.0.1:6379/0']}}} (or the in-memory layer for one process)."
                ),
                id="tigateway_channels.E001",
            )
        ]
    backend = layers[alias].get("BACKEND")
    if not backend:
        return [
            Error(
                f"CHANNEL_LAYERS[{alias!r}] has no BACKEND.",
                hint="Set BACKEND to a channel layer class path.",
                id="tigateway_channels.E002",
            )
        ]
    try:
        from django.utils.module_loading import import_string

        import_string(backend)
    except ImportError as exc:
        return [
            Error(
                f"CHANNEL_LAYERS[{alias!r}] BACKEND {backend!r} cannot be imported: {exc}",
                hint="Install the layer's package (pip install channels-redis).",
                id="tigateway_channels.E003",
            )
        ]
    if backend == IN_MEMORY and not settings.DEBUG:
        return [
            Warning(
                "The in-memory channel layer only reaches sockets of the process that made the "
                "change; with more than one worker, clients miss changes.",
                hint="Use channels_redis.pubsub.RedisPubSubChannelLayer in production.",
                id="tigateway_channels.W001",
            )
        ]
    return []


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    user = getattr(settings, SETTING_NAME, {})
    if not isinstance(user, dict):
        return [
            Error(f"{SETTING_NAME} must be a dict.", id="tigateway_channels.E010"),
        ]
    for key in tigw_settings.unknown_keys():
        errors.append(
            Error(
                f"{SETTING_NAME} has an unknown key {key!r}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="tigateway_channels.E011",
            )
        )
    for key in (
        "MAX_MESSAGE_BYTES",
        "CLIENT_RATE_BURST",
        "CLIENT_QUEUE_LIMIT",
        "CLIENT_QUEUE_BYTES",
        "FLOOD_CLOSE_AFTER",
        "SEND_QUEUE_LIMIT",
        "CONFIG_REVISIONS_KEPT",
    ):
        value = user.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            errors.append(
                Error(
                    f"{SETTING_NAME}[{key!r}] must be a positive integer, got {value!r}.",
                    id="tigateway_channels.E012",
                )
            )
    origins = user.get("ALLOWED_ORIGINS")
    if origins is not None and (
        not isinstance(origins, list | tuple) or not all(isinstance(o, str) for o in origins)
    ):
        errors.append(
            Error(
                f"{SETTING_NAME}['ALLOWED_ORIGINS'] must be a list of origins or None.",
                hint="For example ['https://admin.example.com'].",
                id="tigateway_channels.E013",
            )
        )
    errors += _config_type_errors()
    if "channels" not in " ".join(settings.INSTALLED_APPS) and not getattr(
        settings, "ASGI_APPLICATION", None
    ):
        errors.append(
            Warning(
                "ASGI_APPLICATION is not set; the WebSocket API needs an ASGI server.",
                hint="Set ASGI_APPLICATION and route websocket_urlpatterns (docs/quickstart.md).",
                id="tigateway_channels.W002",
            )
        )
    return errors


def _config_type_errors() -> list[Any]:
    from tigateway_channels.services.config_types import config_type_problems

    return [
        Error(
            problem,
            hint='e.g. {"rate_limits": {"schema": {"type": "object"}}} or '
            '{"rate_limits": {"validator": "myapp.configs.check_rate_limits"}} '
            "(docs/configs.md).",
            id="tigateway_channels.E014",
        )
        for problem in config_type_problems()
    ]
