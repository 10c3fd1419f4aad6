"""Reading the fields of ``metrics_query``, ``log_query`` and a metrics report: each problem is
an INVALID_MESSAGE_FORMAT error naming the field (``data.timeRange.start``), as elsewhere."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error
from tigateway_channels.protocol.json_values import is_integer, is_number, is_scalar


def invalid(field: str, value: Any, reason: str) -> GatewayError:
    shown = value if is_scalar(value) else type(value).__name__
    if isinstance(shown, str) and len(shown) > 200:
        shown = shown[:200] + "..."
    return field_error(
        ErrorCode.INVALID_MESSAGE_FORMAT, f"data.{field}", shown, reason, f"Invalid data.{field}"
    )


def instant(value: Any, field: str) -> dt.datetime:
    """An ISO 8601 time with an offset or ``Z`` (``2024-09-23T09:00:00Z``), as a UTC time."""
    if not isinstance(value, str) or len(value) > 64:
        raise invalid(field, value, "must be an ISO 8601 time such as 2024-09-23T09:00:00Z")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise invalid(
            field, value, "must be an ISO 8601 time such as 2024-09-23T09:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise invalid(field, value, "needs a time zone: end it with Z or an offset (+02:00)")
    return moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class TimeRange:
    start: dt.datetime | None
    end: dt.datetime | None


def time_range(data: dict[str, Any], field: str = "timeRange") -> TimeRange:
    """``timeRange: {start, end}``, both optional; start before end."""
    value = data.get(field)
    if value is None:
        return TimeRange(None, None)
    if not isinstance(value, dict):
        raise invalid(field, value, "must be an object with start and/or end")
    unknown = set(value) - {"start", "end"}
    if unknown:
        name = sorted(unknown)[0]
        raise invalid(f"{field}.{name}", value[name], "unknown field; accepted: start, end")
    start = instant(value["start"], f"{field}.start") if value.get("start") is not None else None
    end = instant(value["end"], f"{field}.end") if value.get("end") is not None else None
    if start is not None and end is not None and end <= start:
        raise invalid(f"{field}.end", value["end"], "must be after timeRange.start")
    return TimeRange(start, end)


def string_list(
    data: dict[str, Any], field: str, choices: tuple[str, ...] | None = None, limit: int = 100
) -> list[str] | None:
    """A string or a list of 1 to ``limit`` strings (of ``choices`` when given); None if absent."""
    value = data.get(field)
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > limit:
        raise invalid(field, value, f"must be a string or a list of 1 to {limit} strings")
    for position, item in enumerate(items):
        where = field if isinstance(value, str) else f"{field}[{position}]"
        if not isinstance(item, str) or not item:
            raise invalid(where, item, "must be a non-empty string")
        if choices is not None and item not in choices:
            raise invalid(where, item, f"must be one of {', '.join(choices)}")
    return list(dict.fromkeys(items))


def positive_int(data: dict[str, Any], field: str, default: int, limit: int) -> int:
    value = data.get(field)
    if value is None:
        return default
    if not is_integer(value) or not 1 <= value <= limit:
        raise invalid(field, value, f"must be an integer from 1 to {limit}")
    return int(value)


def number(value: Any, field: str, minimum: float = 0.0) -> float:
    if not is_number(value) or value < minimum:
        raise invalid(field, value, f"must be a number of at least {minimum:g}")
    return float(value)
