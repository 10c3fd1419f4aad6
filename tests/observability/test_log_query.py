"""log_query over stored records: filters in the database, the message pattern on RE2 in this
process, cursors in both directions, and bounded scans."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from tigateway_channels.models import LogRecord
from tigateway_channels.observability.log_query import parse_log_query, run_log_query
from tigateway_channels.protocol.errors import GatewayError

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def store(rows: list[tuple[str, str, str]]) -> None:
    """(level, logger, message) rows, one millisecond apart, oldest first."""
    LogRecord.objects.bulk_create(
        LogRecord(
            timestamp=START + dt.timedelta(milliseconds=n),
            level=level,
            logger=logger,
            message=message,
            thread="t",
            context={"n": n},
            node="gw",
        )
        for n, (level, logger, message) in enumerate(rows)
    )


def query(**data: Any) -> dict[str, Any]:
    return run_log_query(parse_log_query(data))


def messages(result: dict[str, Any]) -> list[str]:
    return [record["message"] for record in result["records"]]


def test_levels_loggers_and_times_filter_and_the_newest_come_first() -> None:
    store(
        [
            ("INFO", "ti.gateway.route.RouteService", "route created"),
            ("ERROR", "ti.gateway.route.RouteService", "route update error"),
            ("WARN", "ti.gateway.filter", "slow filter"),
            ("ERROR", "other.thing", "route error elsewhere"),
            ("DEBUG", "ti.gateway", "the parent logger itself"),
        ]
    )
    assert messages(query(level=["ERROR", "WARN"], logger="ti.gateway.*")) == [
        "slow filter",
        "route update error",
    ]
    assert messages(query(logger="ti.gateway")) == ["the parent logger itself"]
    assert len(query(logger="*")["records"]) == 5
    assert messages(query(filters={"message": "route.*error"})) == [
        "route error elsewhere",
        "route update error",
    ]
    later = (START + dt.timedelta(milliseconds=2)).isoformat().replace("+00:00", "Z")
    assert messages(query(timeRange={"end": later})) == ["route update error", "route created"]
    record = query(limit=1)["records"][0]
    assert set(record) >= {"level", "logger", "message", "thread", "timestamp", "context"}
    assert record["context"] == {"n": 4}


def test_cursors_page_older_and_back_newer() -> None:
    store([("INFO", "a", f"line {n}") for n in range(7)])
    results: list[dict[str, Any]] = []
    cursor = None
    while True:
        results.append(query(limit=3, **({"cursor": cursor} if cursor else {})))
        cursor = results[-1]["cursors"]["older"]
        if cursor is None:
            break
    pages = [messages(result) for result in results]
    assert pages == [["line 6", "line 5", "line 4"], ["line 3", "line 2", "line 1"], ["line 0"]]
    second_page = results[1]
    back = query(limit=3, cursor=second_page["cursors"]["newer"])
    assert messages(back) == ["line 6", "line 5", "line 4"]
    newest = query(limit=3, cursor=back["cursors"]["newer"])
    assert messages(newest) == []
    assert newest["cursors"]["newer"] is not None  # to poll for what comes next


def test_a_scan_that_reaches_its_budget_says_so_and_continues_from_there(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"LOG_QUERY_SCAN_LIMIT": 4}
    store([("INFO", "a", "x" if n % 5 else "needle") for n in range(10)])
    first = query(filters={"message": "needle"}, limit=5)
    assert (first["scanned"], first["complete"]) == (4, False)
    assert messages(first) == []
    second = query(filters={"message": "needle"}, limit=5, cursor=first["cursors"]["older"])
    assert messages(second) == ["needle"]
    assert second["complete"] is False


def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    store([("INFO", "a", "a" * 60 + "!") for _ in range(2000)])
    began = time.monotonic()
    result = query(filters={"message": "(a+)+$"}, limit=10)
    assert result["count"] == 0 and result["scanned"] == 2000
    assert time.monotonic() - began < 2.0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"level": ["LOUD"]}, "data.level[0]"),
        ({"logger": "ti.*.route"}, "data.logger"),
        ({"filters": {"message": "(a)\\1"}}, "data.filters.message"),
        ({"filters": {"message": "(?=lookahead)"}}, "data.filters.message"),
        ({"filters": {"message": "x" * 1001}}, "data.filters.message"),
        ({"filters": {"thread": "t"}}, "data.filters.thread"),
        ({"limit": 0}, "data.limit"),
        ({"limit": 100_000}, "data.limit"),
        ({"cursor": "not-a-cursor"}, "data.cursor"),
    ],
)
def test_a_bad_query_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_log_query(data)
    assert caught.value.details["field"] == field
