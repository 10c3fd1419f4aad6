"""The log stream: records of the configured loggers reach logs subscribers (level and
logger filters) and the store; the handler never blocks, never feeds itself, and counts what
it drops."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.ws import open_socket
from tigateway_channels.models import LogRecord
from tigateway_channels.observability.logs import (
    DROPS_LOGGER,
    LogPublisher,
    LogStreamHandler,
    logger_attrs,
    record_entry,
)

LOGGER = "tigateway_channels.gateway.access"


def make_record(message: str = "hello %s", *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord(LOGGER, logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_record_becomes_the_documents_log_data_with_its_extra_as_context() -> None:
    entry = record_entry(make_record("route %s created", "users", routeId="users", duration=45))
    assert entry["level"] == "WARN"
    assert entry["logger"] == LOGGER
    assert entry["message"] == "route users created"
    assert entry["thread"] == threading.current_thread().name
    assert entry["context"] == {"routeId": "users", "duration": 45}


def test_an_exception_is_part_of_the_message() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(LOGGER, logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    entry = record_entry(record)
    assert entry["level"] == "ERROR"
    assert entry["message"].startswith("failed\nTraceback")
    assert "ValueError: boom" in entry["message"]


def test_logger_attributes_let_a_subscriber_ask_for_a_whole_branch() -> None:
    assert logger_attrs("ti.gateway.route.X") == [
        "ti.gateway.route.X",
        "ti.gateway.route.*",
        "ti.gateway.*",
        "ti.*",
        "*",
    ]


def test_a_full_queue_drops_and_counts_instead_of_growing_or_waiting() -> None:
    handler = LogStreamHandler(limit=100)
    began = time.perf_counter()
    for n in range(10_000):
        handler.handle(make_record("flood %d", n))
    per_record = (time.perf_counter() - began) / 10_000
    assert len(handler.queue) == 100
    assert handler.dropped == 9_900
    assert per_record < 0.0005  # no waiting: a few microseconds each


def test_a_record_made_while_publishing_is_not_published(db: Any) -> None:
    handler = LogStreamHandler(limit=100)
    logger = logging.getLogger("tigateway_channels.observability.test-recursion")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        publisher = LogPublisher(handler, "gw")

        def storing_logs(entries: list[dict[str, Any]]) -> None:
            logger.error("a failure while storing")  # from the publisher's own thread
            raise RuntimeError("database down")

        publisher._store = storing_logs  # type: ignore[method-assign]

        def run() -> None:
            handler.quiet_thread = threading.get_ident()
            publisher.publish_once()

        handler.handle(make_record("one"))
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        assert len(handler.queue) == 0  # nothing new: the failure made no record
        assert publisher.unstored == 1
    finally:
        logger.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_logged_line_reaches_a_subscriber_and_the_store(
    fast_rounds: dict[str, Any], make_user: Any
) -> None:
    fast_rounds["LOG_STREAM_LOGGERS"] = ["tigateway_channels.gateway"]
    user = await sync_to_async(make_user)("reader", "view_logs")
    socket = await open_socket(user)
    reply = await socket.request(
        "subscribe",
        {
            "topics": ["logs"],
            "filters": {
                "logs": {"level": ["WARN", "ERROR"], "logger": "tigateway_channels.gateway.*"}
            },
        },
    )
    assert reply["type"] == "ack", reply
    logger = logging.getLogger(LOGGER)
    logger.info("filtered out by level")
    logger.warning(
        "upstream slow", extra={"routeId": "users", "operation": "proxy", "duration": 812}
    )
    async with asyncio.timeout(5):
        while True:
            message = await socket.receive(5)
            if message["type"] == "log":
                break
    data = message["data"]
    assert (data["level"], data["logger"], data["message"]) == ("WARN", LOGGER, "upstream slow")
    assert data["context"] == {"routeId": "users", "operation": "proxy", "duration": 812}
    assert data["timestamp"].endswith("Z") and data["thread"]
    assert message["metadata"]["topic"] == "logs"
    stored = await LogRecord.objects.filter(logger=LOGGER).order_by("timestamp").acount()
    assert stored == 2  # both stored; only the WARN passed the subscriber's filter
    assert await socket.nothing_more(0.3)
    await socket.close()


def test_dropped_records_are_announced_with_their_count(db: Any) -> None:
    handler = LogStreamHandler(limit=2)
    publisher = LogPublisher(handler, "gw")
    told: list[int] = []
    publisher.on_drops = told.append
    for n in range(5):
        handler.handle(make_record("m %d", n))
    publisher.publish_once()
    stored = list(LogRecord.objects.order_by("id").values_list("logger", "message", "context"))
    assert [s[1] for s in stored[:2]] == ["m 0", "m 1"]
    assert stored[2][0] == DROPS_LOGGER
    assert stored[2][2]["dropped"] == 3
    assert told == [3]
