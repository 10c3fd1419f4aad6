"""System checks of the observability settings that are more than a positive number."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from tigateway_channels.conf import SETTING_NAME, tigw_settings
from tigateway_channels.observability.buckets import RESOLUTION_NAMES
from tigateway_channels.observability.events import RECORDED_TYPES
from tigateway_channels.observability.logs import LEVELS
from tigateway_channels.protocol.json_values import is_integer

MIN_SCRAPE_TOKEN_CHARS = 16


def _strings(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value)


@register(Tags.compatibility)
def check_observability(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    user = getattr(settings, SETTING_NAME, {})
    if not isinstance(user, dict):
        return []  # E010 says so
    errors: list[Any] = []
    loggers = tigw_settings.LOG_STREAM_LOGGERS
    if not _strings(loggers):
        errors.append(
            Error(
                f"{SETTING_NAME}['LOG_STREAM_LOGGERS'] must be a list of logger names, "
                f"got {loggers!r}.",
                hint='e.g. ["tigateway_channels", "myproject.gateway"]; [] turns the log '
                "stream off.",
                id="tigateway_channels.E021",
            )
        )
    level = tigw_settings.LOG_STREAM_LEVEL
    if level not in LEVELS:
        errors.append(
            Error(
                f"{SETTING_NAME}['LOG_STREAM_LEVEL'] must be one of {', '.join(LEVELS)}, "
                f"got {level!r}.",
                id="tigateway_channels.E022",
            )
        )
    interval = tigw_settings.METRICS_INTERVAL_MS
    if not is_integer(interval) or not 1000 <= interval <= 3_600_000:
        errors.append(
            Error(
                f"{SETTING_NAME}['METRICS_INTERVAL_MS'] must be an integer from 1000 to "
                f"3600000 (ms), got {interval!r}.",
                hint="The same bounds as a subscriber's filters.metrics.interval.",
                id="tigateway_channels.E023",
            )
        )
    token = tigw_settings.METRICS_SCRAPE_TOKEN
    if token is not None and (not isinstance(token, str) or len(token) < MIN_SCRAPE_TOKEN_CHARS):
        errors.append(
            Error(
                f"{SETTING_NAME}['METRICS_SCRAPE_TOKEN'] must be None or a string of at least "
                f"{MIN_SCRAPE_TOKEN_CHARS} characters.",
                hint="python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                id="tigateway_channels.E024",
            )
        )
    events = tigw_settings.SYSTEM_EVENTS
    if events is not None and (
        not _strings(events) or any(event not in RECORDED_TYPES for event in events)
    ):
        errors.append(
            Error(
                f"{SETTING_NAME}['SYSTEM_EVENTS'] must be None or a list of "
                f"{', '.join(RECORDED_TYPES)}; got {events!r}.",
                id="tigateway_channels.E025",
            )
        )
    retention = tigw_settings.METRICS_RETENTION_SECONDS
    if (
        not isinstance(retention, dict)
        or set(retention) != set(RESOLUTION_NAMES.values())
        or not all(is_integer(v) and v > 0 for v in retention.values())
    ):
        errors.append(
            Error(
                f"{SETTING_NAME}['METRICS_RETENTION_SECONDS'] must give a positive number of "
                f'seconds for each of "10s", "1m" and "1h", got {retention!r}.',
                hint='e.g. {"10s": 21600, "1m": 604800, "1h": 7776000}',
                id="tigateway_channels.E026",
            )
        )
    elif [retention[n] for n in ("10s", "1m", "1h")] != sorted(retention.values()):
        errors.append(
            Warning(
                "A coarser metrics resolution is kept for less time than a finer one "
                f"({retention}): queries past the finer retention find nothing coarser either.",
                hint='Keep METRICS_RETENTION_SECONDS["10s"] <= ["1m"] <= ["1h"].',
                id="tigateway_channels.W010",
            )
        )
    return errors
