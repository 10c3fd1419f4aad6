"""The hub's background work: heartbeats, graceful shutdown, group renewal, relay, health."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery import relay
from tigateway_channels.protocol import CloseCode, encode, make_envelope

if TYPE_CHECKING:
    from tigateway_channels.delivery.hub import Hub

logger = logging.getLogger(__name__)


def start_background_tasks(hub: Hub) -> list[asyncio.Task[Any]]:
    from tigateway_channels.delivery import health

    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(hub.read_forever(), name="tigateway-read"),
        loop.create_task(renew_groups_forever(hub), name="tigateway-renew"),
        loop.create_task(hub.relay_forever(), name="tigateway-relay"),
        loop.create_task(heartbeat_forever(hub), name="tigateway-heartbeat"),
        loop.create_task(health.watch_forever(hub), name="tigateway-health"),
    ]
    logger.debug("Hub started (graceful shutdown: %s)", tigw_settings.GRACEFUL_SHUTDOWN)
    if tigw_settings.GRACEFUL_SHUTDOWN:
        install_shutdown_handlers(hub)
    return tasks


async def renew_groups_forever(hub: Hub) -> None:
    """channels-redis expires group memberships; renew them well before they do."""
    while True:
        await asyncio.sleep(tigw_settings.GROUP_RENEW_SECONDS)
        try:
            await hub.join_groups()
        except Exception:
            logger.warning("Renewing topic group memberships failed", exc_info=True)


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
        for state in list(hub.sockets):
            if not state.app_heartbeat:
                continue
            if state.ping_sent_at is not None:
                if now - state.ping_sent_at > timeout:
                    state.ping_sent_at = None
                    state.close(CloseCode.HEARTBEAT_TIMEOUT, "no answer to the server's ping")
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
    if not hub.shutting_down:
        hub.shutting_down = True
        logger.info("Shutting down: closing %d socket(s) with 1001", hub.socket_count)
        for state in list(hub.sockets):
            state.writer.push_close(CloseCode.SERVER_SHUTTING_DOWN)
        grace = tigw_settings.SHUTDOWN_GRACE_SECONDS
        try:
            async with asyncio.timeout(grace):
                await relay.publish_pending_async(hub.layer, grace_seconds=0)
        except Exception:
            logger.warning("Publishing pending messages at shutdown failed", exc_info=True)
        deadline = time.monotonic() + grace
        for state in list(hub.sockets):
            await state.writer.drained(max(0.0, deadline - time.monotonic()))
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        os.kill(os.getpid(), signum)
