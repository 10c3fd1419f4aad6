"""Starting observability in a process: the one entry point for gateway processes and workers.

``start()`` starts this process's reporter thread (its figures, every METRICS_FLUSH_SECONDS) and
its log stream (the handler on ``LOG_STREAM_LOGGERS`` and the publisher thread). Workers call it
when their hub starts; the gateway calls it once its Django setup is done. Both stop at exit
after a last round, so what a stopping process recorded is still reported and written.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading

from tigateway_channels.conf import tigw_settings
from tigateway_channels.observability.logs import LogPublisher, LogStreamHandler, stream_level
from tigateway_channels.observability.reporter import Reporter
from tigateway_channels.observability.system import host_name

_lock = threading.RLock()
_reporter: Reporter | None = None
_handler: LogStreamHandler | None = None
_publisher: LogPublisher | None = None
_attached: set[str] = set()
_pid = os.getpid()


def default_node() -> str:
    return f"{host_name()}:{os.getpid()}"


def start(*, kind: str = "gateway", node: str | None = None) -> Reporter:
    """Start reporting this process's figures and logs (idempotent: the first call decides
    ``kind`` and ``node``). ``node`` names the process in figures (default ``host:pid``)."""
    global _reporter, _pid
    with _lock:
        if _pid != os.getpid():  # a forked child has the objects but not the threads
            _forget()
            _pid = os.getpid()
        if _reporter is None:
            _reporter = Reporter(node or default_node(), kind)
            _reporter.start()
            atexit.register(stop)
        install_log_stream()
        return _reporter


def reporter() -> Reporter | None:
    return _reporter


def install_log_stream() -> LogStreamHandler:
    """Put the handler on exactly the loggers of ``LOG_STREAM_LOGGERS`` (again after a
    settings change), and start the publisher thread once."""
    global _handler, _publisher
    with _lock:
        if _handler is None:
            _handler = LogStreamHandler(tigw_settings.LOG_QUEUE_LIMIT)
        _handler.setLevel(stream_level())
        _handler.limit = tigw_settings.LOG_QUEUE_LIMIT
        wanted = set(tigw_settings.LOG_STREAM_LOGGERS)
        for name in _attached - wanted:
            logging.getLogger(name).removeHandler(_handler)
        for name in wanted - _attached:
            logging.getLogger(name).addHandler(_handler)
        _attached.clear()
        _attached.update(wanted)
        if _publisher is None and wanted:
            node = _reporter.node if _reporter is not None else default_node()
            _publisher = LogPublisher(_handler, node)
            if _reporter is not None:
                _publisher.on_drops = _reporter.set_logs_dropped
            _publisher.start()
        return _handler


def attach_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The hub's loop, where the in-memory channel layer's groups live (one process)."""
    if _publisher is not None:
        _publisher.local_loop = loop


def stop(final: bool = True) -> None:
    """Stop the threads, after a last round that reports and writes what is left unless not
    ``final`` (at exit; tests)."""
    with _lock:
        if _publisher is not None:
            _publisher.stop()
        if _reporter is not None:
            _reporter.stop(final=final)
        _forget()


def _forget() -> None:
    global _reporter, _handler, _publisher
    if _handler is not None:
        for name in _attached:
            logging.getLogger(name).removeHandler(_handler)
    _attached.clear()
    _reporter, _handler, _publisher = None, None, None
