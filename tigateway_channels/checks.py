"""System checks: a missing or unusable channel layer, bad settings, a missing ASGI setup."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from tigateway_channels.conf import DEFAULTS, SETTING_NAME, tigw_settings
from tigateway_channels.protocol.json_values import is_integer, is_number

IN_MEMORY = "channels.layers.InMemoryChannelLayer"
# History shorter than a deploy or a network blip loses what recovery and gap fills need.
MIN_HISTORY_SECONDS = 300
MIN_HISTORY_MESSAGES = 100


class PositiveSettings(NamedTuple):
    """Settings that must be positive values of one kind, reported under one check id."""

    keys: tuple[str, ...]
    is_kind: Callable[[Any], bool]
    what: str
    check_id: str
    hint: str | None = None


POSITIVE_SETTINGS = (
    PositiveSettings(
        (
            "MAX_MESSAGE_BYTES",
            "CLIENT_RATE_BURST",
            "CLIENT_QUEUE_LIMIT",
            "CLIENT_QUEUE_BYTES",
            "FLOOD_CLOSE_AFTER",
            "SEND_QUEUE_LIMIT",
            "CONFIG_REVISIONS_KEPT",
            "METRICS_MAX_SERIES",
            "METRICS_ROUTES_PER_MESSAGE",
            "METRICS_QUERY_MAX_SERIES",
            "METRICS_QUERY_MAX_POINTS",
            "LOG_QUEUE_LIMIT",
            "LOG_RETENTION_SECONDS",
            "LOG_QUERY_MAX_LIMIT",
            "LOG_QUERY_SCAN_LIMIT",
            "LOG_PATTERN_MAX_CHARS",
            "AUTH_FAILURE_BURST",
        ),
        is_integer,
        "a positive integer",
        "tigateway_channels.E012",
    ),
    PositiveSettings(
        (
            "RELAY_INTERVAL_SECONDS",
            "RELAY_GRACE_SECONDS",
            "HISTORY_MAX_AGE_SECONDS",
            "HISTORY_MAX_MESSAGES",
        ),
        is_number,
        "a positive number",
        "tigateway_channels.E015",
        "Without it the relay never resends a failed publish, or history keeps nothing to "
        "recover from (docs/delivery.md).",
    ),
    PositiveSettings(
        ("RIGHTS_CACHE_SECONDS", "AUTH_EXPIRY_WARNING_SECONDS"),
        is_number,
        "a positive number",
        "tigateway_channels.E017",
        "They bound how stale a socket's rights may be, and how early a client hears that its "
        "token expires (docs/security.md).",
    ),
    PositiveSettings(
        (
            "METRICS_FLUSH_SECONDS",
            "METRICS_PERSIST_SECONDS",
            "METRICS_STALE_SECONDS",
            "METRICS_NODE_FORGET_SECONDS",
            "LOG_QUERY_SECONDS",
            "AUTH_FAILURE_WINDOW_SECONDS",
        ),
        is_number,
        "a positive number of seconds",
        "tigateway_channels.E020",
        "A period of the metrics and logs (docs/observability.md).",
    ),
)


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
        return [_in_memory_warning()]
    return []


def _in_memory_warning() -> Warning:
    workers = os.environ.get("WEB_CONCURRENCY", "")
    seen = (
        f" WEB_CONCURRENCY={workers} says this deployment runs {workers} workers."
        if workers.isdigit() and int(workers) > 1
        else ""
    )
    return Warning(
        "The in-memory channel layer only reaches sockets of the process that made the "
        f"change; with more than one worker, clients miss changes.{seen}",
        hint="Use channels_redis.pubsub.RedisPubSubChannelLayer in production.",
        id="tigateway_channels.W001",
    )


@register(Tags.compatibility, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Risks of a production deployment that ``manage.py check --deploy`` should name."""
    layer = (getattr(settings, "CHANNEL_LAYERS", None) or {}).get(tigw_settings.CHANNEL_LAYER, {})
    messages: list[Any] = []
    if layer.get("BACKEND") == IN_MEMORY and settings.DEBUG:
        messages.append(_in_memory_warning())  # without DEBUG, check_channel_layer says it
    for host in unprotected_redis_hosts(layer.get("CONFIG") or {}):
        messages.append(
            Warning(
                f"The channel layer's Redis at {host} has no password, and it is not on this "
                "machine: anyone who reaches it can read every route change and inject their own.",
                hint="Set a password (redis://:PASSWORD@host:6379/0 or a dict with 'password'), "
                "or keep Redis on a private interface (docs/deployment.md).",
                id="tigateway_channels.W003",
            )
        )
    age, count = tigw_settings.HISTORY_MAX_AGE_SECONDS, tigw_settings.HISTORY_MAX_MESSAGES
    if age < MIN_HISTORY_SECONDS or count < MIN_HISTORY_MESSAGES:
        messages.append(
            Warning(
                f"Topic history keeps only {count} message(s) for {age}s: a client, or a worker "
                "cut off from Redis, away for longer than that (a deploy, a network blip) cannot "
                "catch up; events are lost and routes/config fall back to snapshots.",
                hint=f"Keep HISTORY_MAX_AGE_SECONDS >= {MIN_HISTORY_SECONDS} and "
                f"HISTORY_MAX_MESSAGES >= {MIN_HISTORY_MESSAGES} (docs/delivery.md).",
                id="tigateway_channels.W004",
            )
        )
    return messages


def unprotected_redis_hosts(config: dict[str, Any]) -> list[str]:
    """Redis hosts of a channels-redis CONFIG that are off this machine and have no password."""
    found = []
    for entry in config.get("hosts") or []:
        password = None
        if isinstance(entry, dict):
            password = entry.get("password")
            entry = entry.get("address", entry.get("host", ""))
        if isinstance(entry, list | tuple):
            host = str(entry[0]) if entry else ""
        else:
            parsed = urlsplit(str(entry))
            if parsed.scheme == "unix":
                continue
            host, password = parsed.hostname or "", password or parsed.password
        if host and not password and not _is_loopback(host):
            found.append(host)
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    errors += _positive_setting_errors(user)
    prefix = user.get("GROUP_PREFIX")
    if prefix is not None and (
        not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,60}", prefix)
    ):
        errors.append(
            Error(
                f"{SETTING_NAME}['GROUP_PREFIX'] must be None or up to 60 letters, digits, "
                f"'-', '_' or '.', got {prefix!r}.",
                hint="Leave it unset: the default is private to this deployment's database.",
                id="tigateway_channels.E016",
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


def _positive_setting_errors(user: dict[str, Any]) -> list[Any]:
    errors = []
    for group in POSITIVE_SETTINGS:
        for key in group.keys:
            value = user.get(key, DEFAULTS[key])
            if not group.is_kind(value) or value <= 0:
                errors.append(
                    Error(
                        f"{SETTING_NAME}[{key!r}] must be {group.what}, got {value!r}.",
                        hint=group.hint,
                        id=group.check_id,
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
