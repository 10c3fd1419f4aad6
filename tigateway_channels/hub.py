"""Per-process fan-out: each topic message is received once per worker and written to sockets.

The usual Channels way (a channel and a group membership per socket) costs a channel-layer hop,
a JSON decode and encode per socket, and a Redis connection per ``group_add``. Here one hub per
process and event loop joins each topic group once; a message arrives once, already serialised,
and each local socket costs a filter check and a queue append. Sockets never touch Redis.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer

from tigateway_channels.bus import DELIVER_EVENT, group_name
from tigateway_channels.conf import tigw_settings
from tigateway_channels.topics import TOPICS, SubscriptionFilter

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]


class SocketWriter:
    """A socket's bounded outgoing queue, drained by one task, so no socket waits on another.

    Every server frame (replies and topic messages) goes through it, which keeps them in order.
    When the queue is full the socket is too slow: ``on_overflow`` closes it; the client
    recovers what it missed by offset when it reconnects.
    """

    __slots__ = ("_closed", "_on_overflow", "_queue", "_send", "_task", "_wakeup", "limit")

    def __init__(self, send: Send, limit: int, on_overflow: Callable[[], None]) -> None:
        self._send = send
        self._queue: collections.deque[str | dict[str, Any]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._on_overflow = on_overflow
        self.limit = limit
        self._task = asyncio.get_running_loop().create_task(self._drain())

    @property
    def pending(self) -> int:
        return len(self._queue)

    def push(self, frame: str) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.limit:
            self._closed = True
            self._queue.clear()
            self._on_overflow()
            return
        self._queue.append(frame)
        self._wakeup.set()

    def push_control(self, message: dict[str, Any]) -> None:
        """Queue a raw ASGI message (a close) behind the frames already queued."""
        if not self._closed:
            self._queue.append(message)
            self._wakeup.set()

    async def _drain(self) -> None:
        queue, send, wakeup = self._queue, self._send, self._wakeup
        try:
            while True:
                while queue:
                    item = queue.popleft()
                    if isinstance(item, str):
                        await send({"type": "websocket.send", "text": item})
                    else:
                        await send(item)
                        if item.get("type") == "websocket.close":
                            self._closed = True
                            queue.clear()
                            return
                wakeup.clear()
                await wakeup.wait()
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away under us; the consumer will disconnect
            logger.debug("socket send failed", exc_info=True)
            self._closed = True
            queue.clear()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued so far has been handed to the server."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._queue and not self._task.done():
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.005)

    def stop(self) -> None:
        self._closed = True
        self._queue.clear()
        self._task.cancel()


class Subscriber:
    """What the hub needs of a socket: its writer and its filter per topic."""

    __slots__ = ("__weakref__", "filters", "writer")

    def __init__(self, writer: SocketWriter) -> None:
        self.writer = writer
        self.filters: dict[str, SubscriptionFilter] = {}


class Hub:
    """Joins every topic group once for this process and fans messages out to local sockets."""

    def __init__(self, layer_alias: str) -> None:
        self.layer_alias = layer_alias
        self.layer: Any = None
        self.channel: str | None = None
        self.subscribers: dict[str, dict[Subscriber, SubscriptionFilter]] = {t: {} for t in TOPICS}
        self.delivered = 0
        self._started: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Idempotent; returns once this process is in every topic group."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self._join()
            except BaseException as exc:
                self._started.set_exception(exc)
                started, self._started = self._started, None
                started.exception()  # mark retrieved; the caller gets the exception below
                raise
            self._started.set_result(None)
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._read()), loop.create_task(self._renew())]
        await asyncio.shield(self._started)

    async def _join(self) -> None:
        self.layer = get_channel_layer(self.layer_alias)
        if self.layer is None:
            raise RuntimeError(f"channel layer {self.layer_alias!r} is not configured")
        self.channel = await self.layer.new_channel()
        for topic in TOPICS:
            await self.layer.group_add(group_name(topic), self.channel)

    async def _renew(self) -> None:
        """Group memberships expire in channels-redis; renew them well before they do."""
        while True:
            await asyncio.sleep(tigw_settings.GROUP_RENEW_SECONDS)
            try:
                for topic in TOPICS:
                    await self.layer.group_add(group_name(topic), self.channel)
            except Exception:
                logger.warning("Renewing topic group memberships failed", exc_info=True)

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning(
                    "Channel layer receive failed; retrying in %.1fs", backoff, exc_info=True
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if message.get("type") == DELIVER_EVENT:
                self.deliver(message)

    def deliver(self, message: dict[str, Any]) -> int:
        """Write one topic message to every local socket whose filter passes it."""
        subscribers = self.subscribers.get(message.get("topic", ""))
        if not subscribers:
            return 0
        frame = message["frame"]
        attrs = message.get("attrs") or {}
        count = 0
        for subscriber, subscription_filter in list(subscribers.items()):
            if not subscription_filter.allowed or subscription_filter.matches(attrs):
                subscriber.writer.push(frame)
                count += 1
        self.delivered += count
        return count

    def subscribe(self, subscriber: Subscriber, topic: str, flt: SubscriptionFilter) -> None:
        self.subscribers[topic][subscriber] = flt
        subscriber.filters[topic] = flt

    def unsubscribe(self, subscriber: Subscriber, topic: str) -> None:
        self.subscribers[topic].pop(subscriber, None)
        subscriber.filters.pop(topic, None)

    def detach(self, subscriber: Subscriber) -> None:
        for topic in list(subscriber.filters):
            self.unsubscribe(subscriber, topic)

    @property
    def socket_count(self) -> int:
        return len({s for subs in self.subscribers.values() for s in subs})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self.layer is not None and self.channel is not None:
            for topic in TOPICS:
                try:
                    await self.layer.group_discard(group_name(topic), self.channel)
                except Exception:
                    logger.debug("group_discard failed during hub stop", exc_info=True)
        self._started = None


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop (one per worker process in production)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(tigw_settings.CHANNEL_LAYER)
    return hub
