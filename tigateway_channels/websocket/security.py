"""Connection-level protections: browser origins and client message rate."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain

from tigateway_channels.asgi_types import Scope
from tigateway_channels.conf import tigw_settings


def request_origin(scope: Scope) -> str | None:
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
    """Client message rate: ``rate`` per second sustained, ``burst`` at once.

    It paces rather than refuses: ``reserve`` always takes a token, borrowing when there is
    none, and says how long to wait until the borrowed token is really there.
    """

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def reserve(self) -> float:
        """Take a token; return the seconds to wait before using it (0.0 when it is there)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / max(self.rate, 1e-9)
