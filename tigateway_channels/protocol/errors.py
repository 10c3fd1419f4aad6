"""Error codes, close codes, the one error type that handlers raise, and how much of a
client's value an error shows back."""

from __future__ import annotations

import enum
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

# What an error shows back of a value (docs/protocol.md §8): enough to recognise it, never
# enough to make a reply large, or one the encoder cannot write (orjson stops at 254 levels,
# 64-bit integers and lone surrogates). Any user reaches this with a filter, an id or an
# unknown field nested 1,000 levels deep.
SHOWN_DEPTH = 3  # levels of objects and arrays
SHOWN_ITEMS = 20  # items per object or array
SHOWN_CHARS = 200  # characters per string
SHOWN_SIZE = 2000  # characters of one value in all, about its JSON size
TEXT_CHARS = 1000  # characters of a message or a reason (the server's words, which may quote)
SHOWN_ISSUES = 100  # problems listed in details.errors; details.moreErrors counts the rest
_INT64 = (-(2**63), 2**63 - 1)
_SURROGATE = re.compile("[\ud800-\udfff]")


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
        """``code``, ``message`` and ``details``, bounded (``shown_details``) so that any
        error can be encoded and sent; ``details.reason`` is never missing."""
        message = shown_text(self.message, TEXT_CHARS)
        details = shown_details(self.details)
        details.setdefault("reason", message)
        return {"code": str(self.code), "message": message, "details": details}

    def __repr__(self) -> str:
        return f"GatewayError({self.code!s}, {self.message!r}, {self.details!r})"


def field_issue(field: str, value: Any, reason: str) -> dict[str, Any]:
    """One problem with one field, in the ``details`` shape of docs/protocol.md §8; every
    problem the package reports is built here, so the shape cannot drift."""
    return {"field": field, "value": value, "reason": reason}


def field_error(code: ErrorCode, field: str, value: Any, reason: str, message: str) -> GatewayError:
    """An error about one field, with the ``details`` shape of docs/protocol.md §8."""
    return GatewayError(code, message, field_issue(field, value, reason))


def internal_error() -> GatewayError:
    """An unexpected failure, with an ``incident`` id that the server log repeats beside the
    traceback, so a report from a client leads to it; nothing else about it is sent."""
    incident = uuid.uuid4().hex[:16]
    return GatewayError(
        ErrorCode.INTERNAL_ERROR,
        "Internal error; see server logs",
        {
            "reason": f"an unexpected server error; the server log has it as incident {incident}",
            "incident": incident,
        },
    )


def shown_text(text: str, limit: int = SHOWN_CHARS) -> str:
    """At most ``limit`` characters (then ``...``), lone surrogates replaced by U+FFFD."""
    if len(text) > limit:
        text = text[:limit] + "..."
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return text


def shown_value(value: Any, levels: int = SHOWN_DEPTH) -> Any:
    """A bounded copy of any value that JSON can always carry: ``levels`` of objects and
    arrays (deeper ones become ``"..."``), ``SHOWN_ITEMS`` items each, strings of
    ``SHOWN_CHARS``, ``SHOWN_SIZE`` characters in all; integers beyond 64 bits, non-finite
    numbers and non-JSON objects become their description."""
    return _Shown().copy(value, levels)


class _Shown:
    """One bounded copy: ``budget`` is what is left of ``SHOWN_SIZE``."""

    def __init__(self) -> None:
        self.budget = SHOWN_SIZE

    def copy(self, value: Any, levels: int) -> Any:
        if value is None or isinstance(value, bool):
            self.budget -= 5
            return value
        if isinstance(value, int):
            self.budget -= 20
            if _INT64[0] <= value <= _INT64[1]:
                return value
            return f"<integer of {value.bit_length()} bits>"
        if isinstance(value, float):
            self.budget -= 20
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            text = shown_text(value)
            self.budget -= len(text) + 2
            return text
        if levels <= 0:
            self.budget -= 5
            return "..."
        if isinstance(value, Mapping):
            shown: dict[str, Any] = {}
            for index, (key, item) in enumerate(value.items()):
                if index >= SHOWN_ITEMS or self.budget <= 0:
                    shown["..."] = f"{len(value) - index} more"
                    break
                name = shown_text(str(key))
                self.budget -= len(name) + 3
                shown[name] = self.copy(item, levels - 1)
            return shown
        if isinstance(value, list | tuple):
            items: list[Any] = []
            for index, item in enumerate(value):
                if index >= SHOWN_ITEMS or self.budget <= 0:
                    items.append(f"... {len(value) - index} more")
                    break
                items.append(self.copy(item, levels - 1))
            return items
        return f"<{type(value).__name__}>"


def _shown_entry(key: str, value: Any) -> Any:
    if key in ("reason", "message") and isinstance(value, str):
        return shown_text(value, TEXT_CHARS)
    return shown_value(value)


def shown_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """An error's ``details`` as sent: every value through ``shown_value`` (reasons through
    ``shown_text``, longer), at most ``SHOWN_ISSUES`` problems in ``errors``."""
    shown: dict[str, Any] = {}
    for key, value in details.items():
        name = shown_text(str(key))
        if name == "errors" and isinstance(value, list):
            shown[name] = [
                {shown_text(str(k)): _shown_entry(str(k), v) for k, v in issue.items()}
                if isinstance(issue, Mapping)
                else shown_value(issue)
                for issue in value[:SHOWN_ISSUES]
            ]
            if len(value) > SHOWN_ISSUES:
                shown["moreErrors"] = len(value) - SHOWN_ISSUES
        else:
            shown[name] = _shown_entry(name, value)
    return shown
