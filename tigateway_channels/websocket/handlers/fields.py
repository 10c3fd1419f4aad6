"""Checks of request ``data`` fields, each failing as INVALID_MESSAGE_FORMAT naming the field."""

from __future__ import annotations

from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError


def _wrong(field: str, value: Any, reason: str) -> GatewayError:
    shown = (
        value
        if isinstance(value, str | int | float | bool) or value is None
        else type(value).__name__
    )
    return GatewayError(
        ErrorCode.INVALID_MESSAGE_FORMAT,
        f"Invalid field data.{field}",
        {"field": f"data.{field}", "value": shown, "reason": reason},
    )


def require(data: dict[str, Any], field: str, kind: type | tuple[type, ...], what: str) -> Any:
    if field not in data or data[field] is None:
        raise _wrong(field, None, f"{field} is required ({what})")
    return optional(data, field, kind, what)


def optional(data: dict[str, Any], field: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise _wrong(field, value, f"must be {what}")
    if not isinstance(value, kind):
        raise _wrong(field, value, f"must be {what}")
    return value
