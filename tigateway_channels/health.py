"""Health of this worker (database, channel layer, routes) for the ``health`` topic, and
system events when the channel layer goes away or comes back."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.db import connection

from tigateway_channels.conf import tigw_settings
from tigateway_channels.models import OutboxMessage, Route, RouteStatus
from tigateway_channels.protocol import encode, make_envelope

if TYPE_CHECKING:
    from tigateway_channels.hub import Hub

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0


def _database_details() -> dict[str, Any]:
    started = time.perf_counter()
    connection.ensure_connection()
    total = Route.objects.count()
    active = Route.objects.filter(status=RouteStatus.ACTIVE).count()
    pending = OutboxMessage.objects.filter(published_at__isnull=True).count()
    return {
        "responseTime": round((time.perf_counter() - started) * 1000, 2),
        "totalRoutes": total,
        "activeRoutes": active,
        "unpublishedMessages": pending,
    }


async def probe_layer(hub: Hub) -> float:
    """Send a message to this worker's own channel and time its return (milliseconds)."""
    probe_id = uuid.uuid4().hex
    future = asyncio.get_running_loop().create_future()
    hub.probes[probe_id] = future
    started = time.perf_counter()
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
        async with asyncio.timeout(PROBE_TIMEOUT):
            await hub.layer.send(hub.channel, {"type": "tigw.probe", "probe": probe_id})
            await future
    finally:
        hub.probes.pop(probe_id, None)
    return round((time.perf_counter() - started) * 1000, 2)


def _layer_component_name(hub: Hub) -> str:
    return "redis" if type(hub.layer).__module__.startswith("channels_redis") else "channelLayer"


async def check(hub: Hub) -> dict[str, Any]:
    components: dict[str, Any] = {}
    try:
        async with asyncio.timeout(5):
            details = await database_sync_to_async(_database_details)()
        components["database"] = {
            "status": "UP",
            "details": {
                "responseTime": details["responseTime"],
                "unpublishedMessages": details["unpublishedMessages"],
            },
        }
        components["routes"] = {
            "status": "UP",
            "details": {
                "activeRoutes": details["activeRoutes"],
                "totalRoutes": details["totalRoutes"],
            },
        }
    except Exception as exc:
        components["database"] = {"status": "DOWN", "details": {"error": str(exc)[:200]}}
    layer_name = _layer_component_name(hub)
    try:
        round_trip = await probe_layer(hub)
        components[layer_name] = {
            "status": "UP",
            "details": {
                "roundTrip": round_trip,
                "backend": type(hub.layer).__name__,
                "foreignMessagesDropped": hub.foreign_dropped,
            },
        }
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        components[layer_name] = {"status": "DOWN", "details": {"error": reason[:200]}}
    statuses = {component["status"] for component in components.values()}
    overall = (
        "UP"
        if statuses == {"UP"}
        else (
            "DOWN"
            if "database" not in components or components["database"]["status"] == "DOWN"
            else "DEGRADED"
        )
    )
    return {
        "status": overall,
        "worker": hub.worker_id,
        "sockets": hub.socket_count,
        "components": components,
    }


def publish_health(hub: Hub, report: dict[str, Any]) -> None:
    """Health is per worker: it goes to this worker's sockets, not through the layer."""
    hub.last_health = report
    frame = encode(
        make_envelope(
            "health_update", report, source=tigw_settings.SOURCE, extra_metadata={"topic": "health"}
        )
    )
    hub.fan_out("health", frame, {}, 0)


def _signature(report: dict[str, Any]) -> tuple[Any, ...]:
    return (report["status"], *sorted((k, v["status"]) for k, v in report["components"].items()))


async def watch_forever(hub: Hub) -> None:
    previous: tuple[Any, ...] | None = None
    while True:
        try:
            report = await check(hub)
            layer = report["components"].get(_layer_component_name(hub), {})
            hub.set_layer_state(
                layer.get("status") == "UP", layer.get("details", {}).get("error", "")
            )
            signature = _signature(report)
            if signature != previous:
                publish_health(hub, report)
                previous = signature
            else:
                hub.last_health = report
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("Health check failed", exc_info=True)
        await asyncio.sleep(tigw_settings.HEALTH_INTERVAL_SECONDS)


def _record_event(event: str, severity: str, details: dict[str, Any]) -> None:
    from tigateway_channels.bus import record_topic_message

    record_topic_message(
        "events",
        "system_event",
        {"event": event, "severity": severity, "details": details},
        {"event": [event]},
    )


def layer_state_changed(hub: Hub, up: bool, reason: str) -> None:
    """Log it, and record a system event (published once the layer is reachable again)."""
    event = "channel_layer_up" if up else "channel_layer_down"
    if up:
        logger.warning("Channel layer reachable again; publishing what was committed meanwhile")
    else:
        logger.error("Channel layer unreachable (%s); changes are kept and sent later", reason)
    details = {"worker": hub.worker_id, "reason": reason[:200]}

    async def record() -> None:
        try:
            await database_sync_to_async(_record_event)(event, "INFO" if up else "ERROR", details)
            if up:
                from tigateway_channels import relay

                await hub.rejoin()
                await relay.publish_pending_async(hub.layer, grace_seconds=0)
        except Exception:
            logger.warning("Recording the %s event failed", event, exc_info=True)

    hub.spawn(record())
