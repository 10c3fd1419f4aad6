"""The logging filter that keeps access tokens out of log files (``redaction.py``)."""

from __future__ import annotations

import logging

import pytest

from tigateway_channels.redaction import RedactTokens, redact

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"/ws/tigateway?token={TOKEN}", "/ws/tigateway?token=[redacted]"),
        (
            f"/ws/tigateway?clientId=a&token={TOKEN}&x=1",
            "/ws/tigateway?clientId=a&token=[redacted]&x=1",
        ),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [redacted]"),
        (f"tigateway.v1, bearer.{TOKEN}", "tigateway.v1, bearer.[redacted]"),
        ("/ws/tigateway?subscriptions=routes", "/ws/tigateway?subscriptions=routes"),
        ("the bearer of news", "the bearer of news"),
    ],
)
def test_tokens_are_redacted_and_nothing_else(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_redacts_arguments_in_place_for_formatters_that_read_them() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", f"/ws/tigateway?token={TOKEN}"),
        None,
    )
    assert RedactTokens().filter(record) is True
    assert record.args == ("127.0.0.1:5000", "/ws/tigateway?token=[redacted]")
    assert TOKEN not in record.getMessage()
