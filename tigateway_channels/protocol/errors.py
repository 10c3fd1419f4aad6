"""Error codes, close codes and the one error type that handlers raise."""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    # The API document's six (section 9.2).
    INVALID_MESSAGE_FORMAT = "INVALID_MESSAGE_FORMAT"
    UNAUTHORIZED = "UNAUTHORIZED"
    INVALID_SUBSCRIPTION = "INVALID_SUBSCRIPTION"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    INVALID_ROUTE_CONFIG = "INVALID_ROUTE_CONFIG"
    CONFIG_VALIDATION_ERROR = "CONFIG_VALIDATION_ERROR"
    # Added by this product (docs/protocol.md §8).
    FORBIDDEN = "FORBIDDEN"
    CONFIG_NOT_FOUND = "CONFIG_NOT_FOUND"
    ROUTE_ALREADY_EXISTS = "ROUTE_ALREADY_EXISTS"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class CloseCode(enum.IntEnum):
    SERVER_SHUTTING_DOWN = 1001
    FRAME_TOO_LARGE = 1009
    UNAUTHORIZED = 4401
    ORIGIN_NOT_ALLOWED = 4403
    HEARTBEAT_TIMEOUT = 4408
    TOO_SLOW = 4409
    FLOODING = 4429


class GatewayError(Exception):
    """A failure a client can act on; one place turns it into an ``error`` reply.

    ``details`` follows docs/protocol.md §8: always a ``reason``, and ``field`` and ``value`` when a
    field is at fault (a value that is a secret, such as a token, is left out).
    """

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.details = details or {}
        # Set when the failing message had a usable id, so the reply can be correlated.
        self.request_id: Any = None

    def as_data(self) -> dict[str, Any]:
        """``code``, ``message`` and ``details``; ``details.reason`` is never missing."""
        details = self.details if "reason" in self.details else {**self.details}
        details.setdefault("reason", self.message)
        return {"code": str(self.code), "message": self.message, "details": details}

    def __repr__(self) -> str:
        return f"GatewayError({self.code!s}, {self.message!r}, {self.details!r})"


def field_issue(field: str, value: Any, reason: str) -> dict[str, Any]:
    """One problem with one field, in the ``details`` shape of docs/protocol.md §8; every
    problem the package reports is built here, so the shape cannot drift."""
    return {"field": field, "value": value, "reason": reason}


def field_error(code: ErrorCode, field: str, value: Any, reason: str, message: str) -> GatewayError:
    """An error about one field, with the ``details`` shape of docs/protocol.md §8."""
    return GatewayError(code, message, field_issue(field, value, reason))
