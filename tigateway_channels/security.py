"""Connection-level protections: browser origins and client message rate."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import is_same_domain

from tigateway_channels.conf import tigw_settings


def request_origin(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            return value.decode("latin1")
    return None


def origin_allowed(origin: str | None) -> bool:
    """Browsers always send Origin; clients that send none are not browsers and pass."""
    if origin is None:
        return True
    allowed = tigw_settings.ALLOWED_ORIGINS
    parsed = urlsplit(origin.lower())
    if allowed is not None:
        return "*" in allowed or origin.lower().rstrip("/") in {
            value.lower().rstrip("/") for value in allowed
        }
    host = parsed.hostname
    if not host:
        return False
    hosts = list(settings.ALLOWED_HOSTS) or (
        [".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else []
    )
    return any(pattern == "*" or is_same_domain(host, pattern) for pattern in hosts)


class TokenBucket:
    """Client message rate: ``rate`` per second sustained, ``burst`` at once."""

    __slots__ = ("burst", "rate", "rejected_in_row", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.rejected_in_row = 0

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.rejected_in_row = 0
            return True
        self.rejected_in_row += 1
        return False
