"""The ``logs`` topic: a logging handler that publishes and stores records of the configured
loggers, without slowing, blocking or ever re-entering the code that logs.

``LogStreamHandler.handle`` turns a record into a small dict and appends it to a bounded deque:
no lock (``deque.append`` is atomic), no I/O, no formatting beyond the message. When the deque is
full the record is dropped and counted. A publisher thread takes what waits every 100 ms,
stores it (``LogRecord``, one INSERT per batch, for ``log_query``) and sends each record to the
deployment's ``logs`` group on the channel layer, where every worker's hub fans it out to the
subscribers whose ``level``/``logger`` filter passes it; dropped records are announced by a
``log`` message of their own.

The stream never feeds itself: records made by the publisher thread, or while the handler is
at work in a thread, are ignored, so a failure while publishing produces no record to publish
(it is counted instead).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import close_old_connections, connection

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.deployment import deployment_id, group_name
from tigateway_channels.delivery.outbox import DELIVER_EVENT
from tigateway_channels.models import LogRecord
from tigateway_channels.protocol.envelope import encode, make_envelope, utc_timestamp

MAX_MESSAGE_CHARS = 8192
MAX_CONTEXT_KEYS = 32
MAX_CONTEXT_VALUE_CHARS = 500
BATCH = 500
PUBLISH_EVERY_SECONDS = 0.1
DROPS_LOGGER = "tigateway_channels.observability.logs"

# What every LogRecord has; anything else on a record came from ``extra`` (its context).
_STANDARD = frozenset(logging.LogRecord("x", logging.INFO, "x", 1, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def level_name(levelno: int) -> str:
    """The API document's levels: TRACE, DEBUG, INFO, WARN, ERROR (CRITICAL is ERROR)."""
    if levelno >= logging.ERROR:
        return "ERROR"
    if levelno >= logging.WARNING:
        return "WARN"
    if levelno >= logging.INFO:
        return "INFO"
    if levelno >= logging.DEBUG:
        return "DEBUG"
    return "TRACE"


def logger_attrs(name: str) -> list[str]:
    """What a live ``logger`` filter matches: the name, ``<ancestor>.*`` for each ancestor,
    and ``*`` (``ti.gateway.route.X`` passes ``ti.gateway.*``)."""
    parts = name.split(".")
    return [name, *(".".join(parts[:n]) + ".*" for n in range(len(parts) - 1, 0, -1)), "*"]


def _context_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text[:MAX_CONTEXT_VALUE_CHARS]


def record_entry(record: logging.LogRecord) -> dict[str, Any]:
    """A record as the 7.1 ``log`` data has it (``timestamp`` still epoch seconds)."""
    try:
        message = record.getMessage()
    except Exception:  # bad arguments for the format: keep what was written
        message = str(record.msg)
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        message = f"{message}\n{record.exc_text}"
    context = {}
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            context[key] = _context_value(value)
            if len(context) >= MAX_CONTEXT_KEYS:
                break
    return {
        "level": level_name(record.levelno),
        "logger": record.name,
        "message": message[:MAX_MESSAGE_CHARS],
        "thread": record.threadName or "",
        "timestamp": record.created,
        "context": context,
    }


class LogStreamHandler(logging.Handler):
    """Appends records to a bounded queue for the publisher; see the module docstring."""

    def __init__(self, limit: int, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.queue: collections.deque[dict[str, Any]] = collections.deque()
        self.limit = limit
        self.dropped = 0  # records dropped since the process started
        self._drop_lock = threading.Lock()  # only on the dropping path
        self._inside = threading.local()
        self.quiet_thread: int | None = None  # the publisher's thread

    def handle(self, record: logging.LogRecord) -> bool:
        """Without ``Handler.handle``'s lock: the deque needs none."""
        if threading.get_ident() == self.quiet_thread or getattr(self._inside, "busy", False):
            return False
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self._inside.busy = True
        try:
            if len(self.queue) >= self.limit:
                self._drop()
                return
            self.queue.append(record_entry(record))
        except Exception:
            self._drop()
        finally:
            self._inside.busy = False

    def _drop(self) -> None:
        with self._drop_lock:
            self.dropped += 1

    def take(self, limit: int) -> list[dict[str, Any]]:
        taken: list[dict[str, Any]] = []
        queue = self.queue
        while queue and len(taken) < limit:
            taken.append(queue.popleft())
        return taken


def log_data(entry: dict[str, Any]) -> dict[str, Any]:
    """The ``log`` message's data (7.1) of a queued entry."""
    return {
        **entry,
        "timestamp": utc_timestamp(dt.datetime.fromtimestamp(entry["timestamp"], dt.UTC)),
    }


def channel_message(deployment: str, entry: dict[str, Any], frame: str) -> dict[str, Any]:
    """A ``log`` frame on the channel layer: the hub fans it out like any topic message
    without offsets, checking ``level`` and ``logger`` against each subscriber's filter."""
    return {
        "type": DELIVER_EVENT,
        "deployment": deployment,
        "topic": "logs",
        "frame": frame,
        "attrs": {"level": [entry["level"]], "logger": logger_attrs(entry["logger"])},
    }


class LogPublisher:
    """The thread that stores and publishes what the handler queued."""

    def __init__(self, handler: LogStreamHandler, node: str) -> None:
        self.handler = handler
        self.node = node
        # Records that could not be stored, or sent (counted, never announced: an announcement
        # that cannot be sent either would only make more of them).
        self.unstored = 0
        self.unsent = 0
        self._announced = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # for channels-redis sends
        # With the in-memory layer the group lives on the hub's loop: sends go there.
        self.local_loop: asyncio.AbstractEventLoop | None = None
        self.on_drops: Callable[[int], None] | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="tigateway-log-stream", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        self.handler.quiet_thread = threading.get_ident()
        try:
            while not self._stop.wait(PUBLISH_EVERY_SECONDS):
                while self.publish_once() >= BATCH:
                    pass
            self.publish_once()
        finally:
            if self._loop is not None:
                self._loop.close()
            connection.close()

    def publish_once(self) -> int:
        """Store and send one batch; returns how many records it held. Never raises."""
        entries = self.handler.take(BATCH)
        dropped = self.handler.dropped
        if dropped > self._announced:
            entries.append(self._drops_entry(dropped - self._announced, dropped))
            self._announced = dropped
            if self.on_drops is not None:
                self.on_drops(dropped)
        if not entries:
            return 0
        try:
            self._store(entries)
        except Exception:
            self.unstored += len(entries)
        try:
            self._send(entries)
        except Exception:
            self.unsent += len(entries)
        return len(entries)

    def _drops_entry(self, newly: int, total: int) -> dict[str, Any]:
        return {
            "level": "WARN",
            "logger": DROPS_LOGGER,
            "message": f"{newly} log record(s) dropped: the log stream could not keep up",
            "thread": threading.current_thread().name,
            "timestamp": time.time(),
            "context": {"dropped": newly, "droppedTotal": total, "node": self.node},
        }

    def _store(self, entries: list[dict[str, Any]]) -> None:
        if not connection.in_atomic_block:  # never inside a caller's transaction
            close_old_connections()
        LogRecord.objects.bulk_create(
            [
                LogRecord(
                    timestamp=dt.datetime.fromtimestamp(entry["timestamp"], dt.UTC),
                    level=entry["level"],
                    logger=entry["logger"][:200],
                    message=entry["message"],
                    thread=entry["thread"][:200],
                    context=entry["context"],
                    node=self.node,
                )
                for entry in entries
            ]
        )

    def _send(self, entries: list[dict[str, Any]]) -> None:
        layer = get_channel_layer(tigw_settings.CHANNEL_LAYER)
        if layer is None:
            return
        group, deployment = group_name("logs"), deployment_id()
        source = tigw_settings.SOURCE
        messages = [
            channel_message(
                deployment,
                entry,
                encode(
                    make_envelope(
                        "log", log_data(entry), source=source, extra_metadata={"topic": "logs"}
                    )
                ),
            )
            for entry in entries
        ]

        async def send_all() -> None:
            for message in messages:
                await layer.group_send(group, message)

        if isinstance(layer, InMemoryChannelLayer):
            if self.local_loop is None or self.local_loop.is_closed():
                return  # no hub in this process yet: nobody to tell
            asyncio.run_coroutine_threadsafe(send_all(), self.local_loop).result(5)
        else:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(asyncio.wait_for(send_all(), 5))


LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40}


def stream_level() -> int:
    """``LOG_STREAM_LEVEL`` as a logging level (TRACE is 5, below DEBUG)."""
    return LEVELS.get(str(tigw_settings.LOG_STREAM_LEVEL), logging.INFO)
