"""The hub's background work, all of it in one place: reading the channel layer, renewing the
group memberships, the relay, heartbeats and health, and graceful shutdown.

The hub (``hub.py``) holds the state and does the fan-out; each loop here wakes up, asks the
hub or the module that owns the logic to do one round, and logs a failure without dying.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.health import HealthWatch
from tigateway_channels.delivery.hub import Hub, get_hub
from tigateway_channels.delivery.relay import RelayRounds
from tigateway_channels.protocol import encode, make_envelope
from tigateway_channels.protocol.disconnect import Disconnect

logger = logging.getLogger(__name__)


# Jobs of other parts of the package that run beside the loops below in every worker (the
# observability stream), registered at app start: name -> job(hub).
BackgroundJob = Callable[[Hub], Coroutine[Any, Any, None]]
_extra_jobs: dict[str, BackgroundJob] = {}


def add_background_job(name: str, job: BackgroundJob) -> None:
    """Start ``job(hub)`` with every hub from now on (idempotent by name)."""
    _extra_jobs[name] = job


async def start_hub() -> Hub:
    """This event loop's hub, started, with its background loops running."""
    hub = get_hub()
    await hub.start(background=start_background_tasks)
    return hub


def start_background_tasks(hub: Hub) -> list[asyncio.Task[Any]]:
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(read_forever(hub), name="tigateway-read"),
        loop.create_task(renew_groups_forever(hub), name="tigateway-renew"),
        loop.create_task(relay_forever(hub), name="tigateway-relay"),
        loop.create_task(heartbeat_forever(hub), name="tigateway-heartbeat"),
        loop.create_task(health_forever(hub), name="tigateway-health"),
        *(loop.create_task(job(hub), name=name) for name, job in _extra_jobs.items()),
    ]
    logger.debug("Hub started (graceful shutdown: %s)", tigw_settings.GRACEFUL_SHUTDOWN)
    if tigw_settings.GRACEFUL_SHUTDOWN:
        install_shutdown_handlers(hub)
    return tasks


async def read_forever(hub: Hub) -> None:
    """Receive from the channel layer; on failure retry, then rejoin the groups.

    A Redis restart forgets group memberships (core layer) and subscriptions (pub/sub
    layer re-subscribes by itself); joining again is harmless either way.
    """
    membership = hub.membership
    backoff = 0.1
    while True:
        try:
            if not membership.joined:
                await hub.rejoin()
            message = await membership.receive()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            membership.lost()
            hub.layer_reachable(False, str(exc) or type(exc).__name__)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
            continue
        backoff = 0.1
        hub.on_channel_message(message)


async def renew_groups_forever(hub: Hub) -> None:
    """channels-redis expires group memberships; renew them well before they do."""
    while True:
        await asyncio.sleep(tigw_settings.GROUP_RENEW_SECONDS)
        try:
            await hub.membership.join()
        except Exception:
            logger.warning("Renewing topic group memberships failed", exc_info=True)


async def relay_forever(hub: Hub) -> None:
    """This worker's share of the relay: overdue publishes, and history pruning."""
    rounds = RelayRounds()
    while True:
        await asyncio.sleep(tigw_settings.RELAY_INTERVAL_SECONDS)
        try:
            await rounds.run_async(hub.membership.publish_pending)
        except Exception:
            logger.warning("Relay round failed", exc_info=True)


async def health_forever(hub: Hub) -> None:
    """Check this worker every HEALTH_INTERVAL_SECONDS (``health.py`` says what then)."""
    watch = HealthWatch()
    while True:
        try:
            await watch.check_and_tell(hub)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("Health check failed", exc_info=True)
        await asyncio.sleep(tigw_settings.HEALTH_INTERVAL_SECONDS)


async def heartbeat_forever(hub: Hub) -> None:
    """Ping opted-in sockets that have been silent; close those that stay silent with 4408.

    Only sockets that sent a ``ping`` themselves take part: a client written from the API
    document may never send anything, and knows no server ``ping``; the ASGI server's
    WebSocket protocol pings keep those honest (docs/deployment.md)."""
    interval = tigw_settings.HEARTBEAT_INTERVAL_SECONDS
    timeout = tigw_settings.HEARTBEAT_TIMEOUT_SECONDS
    tick = max(0.05, min(interval, timeout) / 4)
    while True:
        await asyncio.sleep(tick)
        now = time.monotonic()
        for state in hub.sockets():
            if not state.app_heartbeat:
                continue
            if state.ping_sent_at is not None:
                if now - state.ping_sent_at > timeout:
                    state.ping_sent_at = None
                    state.close(Disconnect.HEARTBEAT_TIMEOUT)
            elif now - state.last_heard > interval:
                state.ping_sent_at = now
                ping = make_envelope(
                    "ping", {"timeoutMs": int(timeout * 1000)}, source=tigw_settings.SOURCE
                )
                state.writer.push(encode(ping))


def install_shutdown_handlers(hub: Hub) -> None:
    """Chain our SIGTERM/SIGINT handling in front of the server's (uvicorn, daphne/Twisted)."""
    if threading.current_thread() is not threading.main_thread():
        logger.debug("Not the main thread: the server handles signals alone")
        return
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if getattr(previous, "tigateway", False):
            continue

        def on_signal(number: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(
                lambda: loop.create_task(shutdown(hub, number, frame, previous))
            )

        on_signal.tigateway = True  # type: ignore[attr-defined]
        signal.signal(signum, on_signal)
        logger.debug("Graceful shutdown on signal %d, then %r", signum, previous)


async def shutdown(hub: Hub, signum: int, frame: Any, previous: Any) -> None:
    """Close every socket with 1001, publish what is pending, then let the server stop."""
    if hub.begin_shutdown():
        logger.info("Shutting down: closing %d socket(s) with 1001", hub.socket_count)
        for state in hub.sockets():
            state.close(Disconnect.SHUTTING_DOWN)
        grace = tigw_settings.SHUTDOWN_GRACE_SECONDS
        try:
            async with asyncio.timeout(grace):
                await hub.membership.publish_pending(grace_seconds=0)
        except Exception:
            logger.warning("Publishing pending messages at shutdown failed", exc_info=True)
        deadline = time.monotonic() + grace
        for state in hub.sockets():
            await state.writer.drained(max(0.0, deadline - time.monotonic()))
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        os.kill(os.getpid(), signum)
