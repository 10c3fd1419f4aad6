"""Running channel-layer calls from sync code on one long-lived event loop per process.

``async_to_sync`` from a plain sync process (a management command, a WSGI worker, a shell, a
Celery task) starts a fresh event loop per call, and channels-redis keeps its connections per
loop: every publish would open and close a Redis connection. A daemon thread with one loop
keeps them open, which takes a publish from milliseconds to a fraction of one. The in-memory
layer is bound to the loop of its consumers, so it keeps using ``async_to_sync``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer

PUBLISH_TIMEOUT_SECONDS = 5.0


class _LoopThread:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="tigateway-publisher", daemon=True
        )
        self.thread.start()

    def run(self, invoke: Callable[[], Awaitable[Any]], timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(invoke(), self.loop).result(timeout)  # type: ignore[arg-type]


_loop_thread: _LoopThread | None = None
_lock = threading.Lock()


def _publisher_loop() -> _LoopThread:
    global _loop_thread
    with _lock:
        # A forked child (a preloading process manager) has the object but not the thread.
        if _loop_thread is None or _loop_thread.pid != os.getpid():
            _loop_thread = _LoopThread()
        return _loop_thread


def run_layer_call(layer: Any, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``call()`` (a coroutine function using ``layer``) to completion from sync code."""

    async def invoke() -> Any:
        return await call()

    if isinstance(layer, InMemoryChannelLayer):
        return async_to_sync(invoke)()
    return _publisher_loop().run(invoke, PUBLISH_TIMEOUT_SECONDS)
