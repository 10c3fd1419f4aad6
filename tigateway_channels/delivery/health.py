"""Health of this worker (database, channel layer, routes) for the ``health`` topic, and
system events when the channel layer goes away or comes back."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

from tigateway_channels.conf import tigw_settings
from tigateway_channels.models import OutboxMessage, Route, RouteStatus
from tigateway_channels.protocol import encode, make_envelope
from tigateway_channels.protocol.envelope import utc_timestamp

if TYPE_CHECKING:
    from tigateway_channels.delivery.hub import Hub

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0


def _database_details() -> dict[str, Any]:
    started = time.perf_counter()
    connection.ensure_connection()
    total = Route.objects.count()
    active = Route.objects.filter(status=RouteStatus.ACTIVE).count()
    pending = OutboxMessage.objects.filter(published_at__isnull=True).count()
    details: dict[str, Any] = {
        "responseTime": round((time.perf_counter() - started) * 1000, 2),
        "totalRoutes": total,
        "activeRoutes": active,
        "unpublishedMessages": pending,
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            details["connectionCount"] = cursor.fetchone()[0]
    return details


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


class RedisStats:
    """INFO figures of the channel layer's (first) Redis server.

    A sync client in a thread, not redis.asyncio on the hub's loop: a cancelled INFO must
    never hold up the loop's shutdown, and the thread finishes by its own socket timeout.
    """

    def __init__(self) -> None:
        self._client: Any = None
        self._tried = False

    def _connect(self) -> Any:
        if not self._tried:
            self._tried = True
            layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
            layer = layers.get(tigw_settings.CHANNEL_LAYER, {})
            if str(layer.get("BACKEND", "")).startswith("channels_redis"):
                self._client = _sync_client((layer.get("CONFIG") or {}).get("hosts"))
        return self._client

    def _details(self) -> dict[str, Any]:
        client = self._connect()
        if client is None:
            return {}
        info = client.info()
        used = int(info.get("used_memory", 0))
        details: dict[str, Any] = {
            "memoryUsage": f"{used / 1024 / 1024:.1f}MB",
            "memoryUsageBytes": used,
            "connectedClients": int(info.get("connected_clients", 0)),
        }
        hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
        if hits + misses:
            details["hitRate"] = round(hits / (hits + misses), 4)
        return details

    async def details(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._details)


def _sync_client(hosts: Any) -> Any:
    """A client for the first host in channels-redis's ``hosts`` forms (not Sentinel)."""
    import redis
    from channels_redis.utils import decode_hosts

    host: dict[str, Any] = dict(decode_hosts(hosts)[0])
    timeouts: dict[str, Any] = {
        "socket_timeout": PROBE_TIMEOUT,
        "socket_connect_timeout": PROBE_TIMEOUT,
    }
    if "address" in host:
        return redis.Redis.from_url(host.pop("address"), **host, **timeouts)
    if "master_name" in host:
        return None
    return redis.Redis(**host, **timeouts)


async def check(hub: Hub, redis_stats: RedisStats | None = None) -> dict[str, Any]:
    """This worker's view: its database, its channel layer, and the routes."""
    components: dict[str, Any] = {}
    try:
        async with asyncio.timeout(5):
            details = await database_sync_to_async(_database_details)()
        database = {"responseTime": details["responseTime"]}
        for key in ("connectionCount", "unpublishedMessages"):
            if key in details:
                database[key] = details[key]
        components["database"] = {"status": "UP", "details": database}
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
        layer_details: dict[str, Any] = {
            "roundTrip": round_trip,
            "backend": type(hub.layer).__name__,
            "foreignMessagesDropped": hub.foreign_dropped,
        }
        if redis_stats is not None:
            try:
                layer_details.update(await redis_stats.details())
            except Exception as exc:  # the probe passed: INFO alone may be refused (ACLs)
                layer_details["infoError"] = (str(exc) or type(exc).__name__)[:200]
        components[layer_name] = {"status": "UP", "details": layer_details}
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
    """Health goes to this worker's sockets; the cluster part comes from every worker's
    reports (``ClusterHealth``), so a client on any worker sees the whole cluster."""
    hub.last_health = report
    frame = encode(
        make_envelope(
            "health_update", report, source=tigw_settings.SOURCE, extra_metadata={"topic": "health"}
        )
    )
    hub.fan_out("health", frame, {}, 0)


def _signature(report: dict[str, Any]) -> tuple[Any, ...]:
    cluster = report.get("cluster") or {}
    return (
        report["status"],
        *sorted((k, v["status"]) for k, v in report["components"].items()),
        cluster.get("status"),
        tuple((m["worker"], m["status"], m["stale"]) for m in cluster.get("members", ())),
    )


async def watch_forever(hub: Hub) -> None:
    """Check this worker, share the report with the other workers, and tell subscribers when
    anything changed, or every HEALTH_UPDATE_SECONDS in any case."""
    previous: tuple[Any, ...] | None = None
    last_sent = 0.0
    redis_stats = RedisStats()
    while True:
        try:
            report = await check(hub, redis_stats)
            layer = report["components"].get(_layer_component_name(hub), {})
            hub.set_layer_state(
                layer.get("status") == "UP", layer.get("details", {}).get("error", "")
            )
            await hub.share_health(report)
            report["cluster"] = hub.cluster_health.summary(time.time())
            signature = _signature(report)
            due = time.monotonic() - last_sent >= tigw_settings.HEALTH_UPDATE_SECONDS
            if signature != previous or due:
                publish_health(hub, report)
                previous, last_sent = signature, time.monotonic()
            else:
                hub.last_health = report
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("Health check failed", exc_info=True)
        await asyncio.sleep(tigw_settings.HEALTH_INTERVAL_SECONDS)


class ClusterHealth:
    """The latest report of every worker of this deployment, as each one shared it."""

    def __init__(self) -> None:
        self._reports: dict[str, tuple[float, dict[str, Any]]] = {}

    def record(self, report: dict[str, Any], received_at: float) -> None:
        worker = str(report.get("worker", ""))[:200]
        if worker:
            self._reports[worker] = (received_at, report)

    def summary(self, now: float) -> dict[str, Any]:
        """Members, their status and sockets; a worker silent for three intervals is stale,
        and one silent for ten is forgotten (it stopped, or it was replaced)."""
        interval = tigw_settings.HEALTH_INTERVAL_SECONDS
        members = []
        for worker, (seen, report) in sorted(self._reports.items()):
            if now - seen > 10 * interval:
                del self._reports[worker]
                continue
            members.append(
                {
                    "worker": worker,
                    "status": report.get("status", "DOWN"),
                    "sockets": int(report.get("sockets") or 0),
                    "lastSeen": utc_timestamp(dt.datetime.fromtimestamp(seen, dt.UTC)),
                    "stale": now - seen > 3 * interval,
                }
            )
        fresh = [m for m in members if not m["stale"]]
        if fresh and len(fresh) == len(members) and all(m["status"] == "UP" for m in fresh):
            status = "UP"
        elif any(m["status"] == "UP" for m in fresh):
            status = "DEGRADED"
        else:
            status = "DOWN"
        return {
            "status": status,
            "workers": len(fresh),
            "sockets": sum(m["sockets"] for m in fresh),
            "members": members,
        }


def _record_event(event: str, severity: str, details: dict[str, Any]) -> None:
    from tigateway_channels.delivery.outbox import record_topic_message

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
                from tigateway_channels.delivery import relay

                await hub.rejoin()
                await relay.publish_pending_async(hub.layer, grace_seconds=0)
        except Exception:
            logger.warning("Recording the %s event failed", event, exc_info=True)

    hub.spawn(record())
