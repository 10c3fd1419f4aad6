"""Observability tests: a clean recorder and runtime per test, and fast rounds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tigateway_channels.observability import backends, recorder, runtime

FAST = {
    "METRICS_FLUSH_SECONDS": 0.2,
    "METRICS_PERSIST_SECONDS": 3600.0,
    "SYSTEM_EVENTS": [],
    "LOG_STREAM_LOGGERS": [],
}


@pytest.fixture(autouse=True)
def fresh_observability() -> Iterator[None]:
    """No reporter, log stream or figures left over from another test."""
    runtime.stop(final=False)
    recorder._after_fork()
    backends._backends.clear()
    yield
    runtime.stop(final=False)
    recorder._after_fork()
    backends._backends.clear()


@pytest.fixture
def fast_rounds(settings: Any) -> dict[str, Any]:
    settings.TIGATEWAY_CHANNELS = dict(FAST)
    return settings.TIGATEWAY_CHANNELS
