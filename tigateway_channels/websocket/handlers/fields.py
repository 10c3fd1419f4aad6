"""Checks of request ``data`` fields, each failing as INVALID_MESSAGE_FORMAT naming the field."""

from __future__ import annotations

from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error
from tigateway_channels.protocol.json_values import is_integer, is_scalar


def _wrong(field: str, value: Any, reason: str) -> GatewayError:
    shown = value if is_scalar(value) else type(value).__name__
    return field_error(
        ErrorCode.INVALID_MESSAGE_FORMAT,
        f"data.{field}",
        shown,
        reason,
        f"Invalid field data.{field}",
    )


def require(data: dict[str, Any], field: str, kind: type | tuple[type, ...], what: str) -> Any:
    if field not in data or data[field] is None:
        raise _wrong(field, None, f"{field} is required ({what})")
    return optional(data, field, kind, what)


def optional(data: dict[str, Any], field: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = data.get(field)
    if value is None:
        return None
    if kind is int and not is_integer(value):
        raise _wrong(field, value, f"must be {what}")
    if not isinstance(value, kind):
        raise _wrong(field, value, f"must be {what}")
    return value
