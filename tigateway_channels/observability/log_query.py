"""``log_query`` (the API document's 7.2) over the stored log records.

Levels, the logger (a name, ``name.*`` for what is below it, or ``*``) and the time range are
database filters on indexed columns. ``filters.message`` is a regular expression that never
reaches the database: RE2 runs it in this process, in time linear in each message, over the
candidate rows read in keyset order, chunk by chunk. A query stops when it has ``limit``
records, when the range is exhausted, or when it has read ``LOG_QUERY_SCAN_LIMIT`` rows or spent
``LOG_QUERY_SECONDS``; then ``complete`` is false and the cursor continues where it stopped.

Pages run newest first (``older``) by default; each reply carries a cursor for the page after
it in each direction (``cursors.older``, ``cursors.newer``). Records are always listed newest
first. Sync code (the ORM): handlers call it through a thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import orjson
import re2
from django.db.models import Q, QuerySet

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.topics import LOG_LEVELS, logger_glob_problem
from tigateway_channels.models import LogRecord
from tigateway_channels.observability.query_fields import (
    TimeRange,
    invalid,
    positive_int,
    string_list,
    time_range,
)
from tigateway_channels.protocol.envelope import utc_timestamp
from tigateway_channels.scg.javaregex import RE2_MAX_MEMORY

DEFAULT_LIMIT = 100
CHUNK = 1000
OLDER, NEWER = "older", "newer"

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a client's bad pattern is answered, not logged to stderr
_RE2_OPTIONS.max_mem = RE2_MAX_MEMORY


@dataclass(frozen=True)
class Position:
    """A record's place in the keyset order: its time (microseconds) and id."""

    micros: int
    id: int


@dataclass(frozen=True)
class LogQuery:
    levels: list[str] | None
    logger: str | None
    range: TimeRange
    limit: int
    pattern: Any  # a compiled RE2 pattern, or None
    direction: str = OLDER
    after: Position | None = None


def encode_cursor(direction: str, position: Position) -> str:
    raw = orjson.dumps([direction, position.micros, position.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: Any) -> tuple[str, Position]:
    try:
        if not isinstance(value, str) or len(value) > 200:
            raise ValueError
        direction, micros, row = orjson.loads(
            base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        )
        if (
            direction not in (OLDER, NEWER)
            or not isinstance(micros, int)
            or not isinstance(row, int)
        ):
            raise ValueError
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise invalid("cursor", value, "is not a cursor this server gave") from None
    return direction, Position(micros, row)


def compile_pattern(pattern: Any) -> Any:
    field = "filters.message"
    limit = tigw_settings.LOG_PATTERN_MAX_CHARS
    if not isinstance(pattern, str) or not pattern:
        raise invalid(field, pattern, "must be a non-empty regular expression")
    if len(pattern) > limit:
        raise invalid(field, pattern, f"is {len(pattern)} characters long; at most {limit}")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        raise invalid(
            field, pattern, f"is not a regular expression RE2 accepts (linear time only): {exc}"
        ) from None


def parse_log_query(data: dict[str, Any]) -> LogQuery:
    levels = string_list(data, "level", LOG_LEVELS, limit=len(LOG_LEVELS))
    logger = data.get("logger")
    if logger is not None:
        problem = logger_glob_problem(logger) if isinstance(logger, str) else "must be a string"
        if problem:
            raise invalid("logger", logger, problem)
    limit = positive_int(data, "limit", DEFAULT_LIMIT, tigw_settings.LOG_QUERY_MAX_LIMIT)
    filters = data.get("filters") or {}
    if not isinstance(filters, dict):
        raise invalid("filters", filters, "must be an object")
    for key in filters:
        if key != "message":
            raise invalid(f"filters.{key[:64]}", filters[key], "unknown filter; accepted: message")
    pattern = compile_pattern(filters["message"]) if filters.get("message") is not None else None
    direction, after = OLDER, None
    if data.get("cursor") is not None:
        direction, after = decode_cursor(data["cursor"])
    return LogQuery(levels, logger, time_range(data), limit, pattern, direction, after)


def _micros(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _moment(micros: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(micros / 1_000_000, dt.UTC)


def _candidates(query: LogQuery) -> QuerySet[LogRecord]:
    rows = LogRecord.objects.all()
    if query.levels is not None:
        rows = rows.filter(level__in=query.levels)
    if query.logger is not None and query.logger != "*":
        if query.logger.endswith(".*"):
            rows = rows.filter(logger__startswith=query.logger[:-1])
        else:
            rows = rows.filter(logger=query.logger)
    if query.range.start is not None:
        rows = rows.filter(timestamp__gte=query.range.start)
    if query.range.end is not None:
        rows = rows.filter(timestamp__lt=query.range.end)
    return rows


def _beyond(rows: QuerySet[LogRecord], direction: str, position: Position) -> QuerySet[LogRecord]:
    """Rows strictly past ``position`` in ``direction``, in that direction's order."""
    at = _moment(position.micros)
    if direction == OLDER:
        return rows.filter(Q(timestamp__lt=at) | Q(timestamp=at, id__lt=position.id)).order_by(
            "-timestamp", "-id"
        )
    return rows.filter(Q(timestamp__gt=at) | Q(timestamp=at, id__gt=position.id)).order_by(
        "timestamp", "id"
    )


def record_data(row: tuple[Any, ...]) -> dict[str, Any]:
    row_id, timestamp, level, logger, message, thread, context, node = row
    return {
        "id": row_id,
        "level": level,
        "logger": logger,
        "message": message,
        "thread": thread,
        "timestamp": utc_timestamp(timestamp),
        "context": context,
        "node": node,
    }


COLUMNS = ("id", "timestamp", "level", "logger", "message", "thread", "context", "node")
# What a scan reads of each candidate; the matches are read whole at the end.
SCANNED = ("id", "timestamp", "message")


def run_log_query(query: LogQuery) -> dict[str, Any]:
    rows = _candidates(query)
    direction = query.direction
    if query.after is not None:
        ordered = _beyond(rows, direction, query.after)
    else:
        ordered = rows.order_by("-timestamp", "-id")
    deadline = time.monotonic() + tigw_settings.LOG_QUERY_SECONDS
    scan_limit = tigw_settings.LOG_QUERY_SCAN_LIMIT
    found: list[int] = []
    scanned = 0
    first: Position | None = None
    last: Position | None = query.after
    exhausted = False
    stopped_early = False
    while len(found) < query.limit:
        if scanned >= scan_limit or time.monotonic() >= deadline:
            stopped_early = True
            break
        asked = min(CHUNK, scan_limit - scanned)
        source = _beyond(rows, direction, last) if last is not None else ordered
        page = list(source.values_list(*SCANNED)[:asked])
        if not page:
            exhausted = True
            break
        for row in page:
            scanned += 1
            last = Position(_micros(row[1]), row[0])
            if first is None:
                first = last
            if query.pattern is None or query.pattern.search(row[2]) is not None:
                found.append(row[0])
                if len(found) >= query.limit:
                    break
        if len(page) < asked and len(found) < query.limit:
            exhausted = True
            break
    if direction == NEWER:
        found.reverse()
    onward = None if exhausted and direction == OLDER else last
    back = first if first is not None else query.after
    other = NEWER if direction == OLDER else OLDER
    matched = LogRecord.objects.filter(id__in=found).values_list(*COLUMNS)
    whole = {row[0]: row for row in matched}
    records = [record_data(whole[row_id]) for row_id in found if row_id in whole]
    return {
        "records": records,
        "count": len(records),
        "scanned": scanned,
        "complete": not stopped_early,
        "cursors": {
            direction: encode_cursor(direction, onward) if onward is not None else None,
            other: encode_cursor(other, back) if back is not None else None,
        },
    }
