"""A worker's observability job, started with its hub (``lifecycle.add_background_job``).

It starts the process's reporter and log stream (``runtime.start``), and while the worker has
``metrics`` subscribers it competes for the merger's lease (``merger.py``) and follows the
cluster's ticks: every tick adds to the window of each interval its subscribers asked for, and
a window that is complete becomes one ``metrics`` frame, serialised once and written to every
local subscriber of that interval. It also records the worker's system events (started,
stopping, health changed).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import threading
import time
import uuid
from typing import Any

from channels.db import database_sync_to_async

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.hub import Hub
from tigateway_channels.delivery.sockets import SocketState
from tigateway_channels.observability import runtime
from tigateway_channels.observability.backends import ObservabilityBackend, get_backend
from tigateway_channels.observability.buckets import route_counts
from tigateway_channels.observability.events import record_system_event
from tigateway_channels.observability.merger import Merger
from tigateway_channels.observability.windows import Window
from tigateway_channels.observability.wire import Tick
from tigateway_channels.protocol.envelope import encode, make_envelope

logger = logging.getLogger(__name__)

# Ticks each worker keeps to fill a new subscriber's first window (ten minutes of rounds).
RING = 600
ROUTE_COUNTS_EVERY_SECONDS = 5.0
# When the merger runs within a round: after every process's flush at the round's start.
MERGE_OFFSET = 0.3


def window_length(interval_ms: int) -> int:
    """The interval in ticks (rounded; at least one)."""
    return max(1, round(interval_ms / 1000.0 / tigw_settings.METRICS_FLUSH_SECONDS))


class MetricsStream:
    """This worker's metrics subscribers, the windows they need, and its part in merging."""

    def __init__(self, hub: Hub, backend: ObservabilityBackend) -> None:
        self._hub = hub
        self._backend = backend
        self._deployment = hub.deployment or ""
        self._merger = Merger(backend, f"{hub.worker_id}:{uuid.uuid4().hex[:8]}", self._deployment)
        # The last ticks as they came (slot, encoded), to fill a new window without decoding
        # ticks outside it.
        self._ring: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=RING)
        self._windows: dict[int, Window] = {}
        self._after: str | None = None
        self._route_status: dict[str, int] | None = None
        self._route_status_at = 0.0

    def subscribers(self) -> dict[int, list[SocketState]]:
        """Local ``metrics`` subscribers by window length."""
        default = tigw_settings.METRICS_INTERVAL_MS
        groups: dict[int, list[SocketState]] = {}
        for state in self._hub.sockets():
            subscription = state.subscriptions.get("metrics")
            if subscription is not None:
                interval = subscription.filter.options.get("interval", default)
                groups.setdefault(window_length(interval), []).append(state)
        return groups

    async def run(self) -> None:
        try:
            await asyncio.gather(self._merge_forever(), self._follow_forever())
        finally:
            if self._merger.leading:
                await asyncio.to_thread(self._merger.resign)

    # -- merging ------------------------------------------------------------------------

    async def _merge_forever(self) -> None:
        while True:
            period = tigw_settings.METRICS_FLUSH_SECONDS
            await asyncio.sleep(period - (time.time() % period) + MERGE_OFFSET * period)
            try:
                await self._merge_round(int(time.time() // period) - 1)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Merging the cluster's metrics failed", exc_info=True)

    async def _merge_round(self, slot: int) -> None:
        if not self.subscribers():
            if self._merger.leading:
                await asyncio.to_thread(self._merger.resign)
            return
        if time.monotonic() - self._route_status_at >= ROUTE_COUNTS_EVERY_SECONDS:
            self._route_status_at = time.monotonic()
            self._route_status = await database_sync_to_async(route_counts)()
        await asyncio.to_thread(self._merger.round, slot, self._route_status)

    # -- following the ticks ------------------------------------------------------------

    async def _follow_forever(self) -> None:
        while True:
            period = tigw_settings.METRICS_FLUSH_SECONDS
            if not self.subscribers():
                self._after = None
                self._windows.clear()
                self._ring.clear()
                await asyncio.sleep(min(0.25, period))
                continue
            try:
                if self._after is None:
                    recent = await asyncio.to_thread(self._backend.recent_ticks, RING)
                    for _id, raw in recent:
                        self._remember(raw)
                    self._after = recent[-1][0] if recent else "0"
                entries = await asyncio.to_thread(
                    self._backend.read_ticks, self._after, min(1.0, period)
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Reading the cluster's metrics failed", exc_info=True)
                await asyncio.sleep(min(1.0, period))
                continue
            for entry_id, raw in entries:
                self._after = entry_id
                self.on_tick(raw)

    def on_tick(self, raw: bytes) -> None:
        """One tick from the merger: add it to each interval's window; send the full ones."""
        try:
            tick = Tick.decode(raw)
        except (ValueError, KeyError, TypeError):
            logger.warning("Dropped a metrics tick that could not be read")
            return
        if tick.deployment != self._deployment:
            return  # another deployment's (they never share keys; this is the last guard)
        self._ring.append((tick.slot, raw))
        groups = self.subscribers()
        for length in [n for n in self._windows if n not in groups]:
            del self._windows[length]
        for length, sockets in groups.items():
            window = self._windows.get(length)
            first = tick.slot - tick.slot % length
            if window is not None and tick.slot < window.first:
                continue  # a tick older than the window being filled (a clock step back)
            if window is None or not window.covers(tick.slot):
                if window is not None and not window.sent and window.last < tick.slot:
                    self._send(window, sockets)  # its last tick never came
                window = self._windows[length] = self._primed(first, length, tick, raw)
            else:
                window.add(tick)
            if tick.slot >= window.last and not window.sent:
                self._send(window, sockets)

    def _primed(self, first: int, length: int, tick: Tick, raw: bytes) -> Window:
        """A new window with the ticks of it this worker already has (a new subscriber's
        first window is as complete as the last RING ticks allow)."""
        window = Window(first, length, tick.seconds)
        for slot, kept in self._ring:
            if window.covers(slot) and slot <= tick.slot:
                window.add(tick if kept is raw else Tick.decode(kept))
        return window

    def _remember(self, raw: bytes) -> None:
        try:
            tick = Tick.decode(raw)
        except (ValueError, KeyError, TypeError):
            return
        if tick.deployment == self._deployment:
            self._ring.append((tick.slot, raw))

    def _send(self, window: Window, sockets: list[SocketState]) -> None:
        window.sent = True
        frame = encode(
            make_envelope(
                "metrics",
                window.message(tigw_settings.METRICS_ROUTES_PER_MESSAGE),
                source=tigw_settings.SOURCE,
                extra_metadata={"topic": "metrics"},
            )
        )
        for state in sockets:
            state.writer.push(frame)


class WorkerEvents:
    """System events about this worker: started, stopping (on the signal that starts the
    graceful shutdown), its health status changing."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _record(
        self, event_type: str, severity: str, message: str, details: dict[str, Any]
    ) -> None:
        details = {"worker": self._hub.worker_id, "pid": os.getpid(), **details}
        try:
            await database_sync_to_async(record_system_event)(
                event_type, severity, message, details
            )
        except Exception:
            logger.warning("Recording the %s event failed", event_type, exc_info=True)

    async def run(self) -> None:
        hub = self._hub
        self._record_stopping_on_signals()
        await self._record("worker_started", "INFO", f"Worker {hub.worker_id} started", {})
        status: str | None = None
        while True:
            await asyncio.sleep(0.5)
            report = hub.last_health
            now = report.get("status") if report else None
            if report is not None and status is not None and now != status:
                severity = {"UP": "INFO", "DEGRADED": "WARN"}.get(str(now), "ERROR")
                components = {
                    name: part.get("status") for name, part in report["components"].items()
                }
                await self._record(
                    "health_changed",
                    severity,
                    f"Worker {hub.worker_id} went from {status} to {now}",
                    {"from": status, "to": now, "components": components},
                )
            status = now or status

    def _record_stopping_on_signals(self) -> None:
        """Record ``worker_stopping`` first when SIGTERM/SIGINT starts the graceful shutdown
        (chained in front of ``lifecycle``'s handler, which it then calls): once the shutdown
        runs, the process may be gone before any loop of ours looks again."""
        if not tigw_settings.GRACEFUL_SHUTDOWN:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if getattr(previous, "tigateway_events", False):
                continue

            def on_signal(number: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(
                    lambda: self._spawn(loop, self._stopping(number, frame, previous))
                )

            on_signal.tigateway_events = True  # type: ignore[attr-defined]
            signal.signal(signum, on_signal)

    def _spawn(self, loop: asyncio.AbstractEventLoop, coroutine: Any) -> None:
        task = loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stopping(self, number: int, frame: Any, previous: Any) -> None:
        signal.signal(number, previous)  # a second signal goes straight on
        try:
            async with asyncio.timeout(2.0):
                await self._record(
                    "worker_stopping",
                    "INFO",
                    f"Worker {self._hub.worker_id} is stopping",
                    {"sockets": self._hub.socket_count, "signal": number},
                )
        except TimeoutError:
            logger.warning("Recording the worker_stopping event took too long")
        if callable(previous):
            previous(number, frame)
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), number)


async def run_worker_observability(hub: Hub) -> None:
    """The job ``lifecycle`` starts with every hub (registered by ``observability.install``)."""
    runtime.start(kind="worker")
    runtime.attach_loop(asyncio.get_running_loop())
    while True:
        try:
            backend = await database_sync_to_async(get_backend)()
            break
        except Exception:
            logger.warning("The metrics backend is not reachable yet; retrying", exc_info=True)
            await asyncio.sleep(5)
    await asyncio.gather(MetricsStream(hub, backend).run(), WorkerEvents(hub).run())
