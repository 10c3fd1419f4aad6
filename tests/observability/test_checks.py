"""System checks of the observability settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks


def ids(settings: Any, **values: Any) -> set[str]:
    settings.TIGATEWAY_CHANNELS = values
    return {message.id for message in run_checks() if message.id.startswith("tigateway")}


@pytest.mark.parametrize(
    ("values", "check_id"),
    [
        ({"METRICS_FLUSH_SECONDS": 0}, "tigateway_channels.E020"),
        ({"LOG_QUERY_SECONDS": "5"}, "tigateway_channels.E020"),
        ({"LOG_QUEUE_LIMIT": -1}, "tigateway_channels.E012"),
        ({"LOG_STREAM_LOGGERS": "tigateway_channels"}, "tigateway_channels.E021"),
        ({"LOG_STREAM_LEVEL": "WARNING"}, "tigateway_channels.E022"),
        ({"METRICS_INTERVAL_MS": 500}, "tigateway_channels.E023"),
        ({"METRICS_SCRAPE_TOKEN": "short"}, "tigateway_channels.E024"),
        ({"SYSTEM_EVENTS": ["worker_started", "lunch"]}, "tigateway_channels.E025"),
        ({"METRICS_RETENTION_SECONDS": {"10s": 60}}, "tigateway_channels.E026"),
        (
            {"METRICS_RETENTION_SECONDS": {"10s": 3600, "1m": 60, "1h": 7200}},
            "tigateway_channels.W010",
        ),
    ],
)
def test_a_bad_observability_setting_is_reported(
    settings: Any, values: dict[str, Any], check_id: str
) -> None:
    assert check_id in ids(settings, **values)


def test_the_defaults_pass(settings: Any) -> None:
    assert not {i for i in ids(settings) if i.startswith("tigateway_channels.E02")}
