"""Health of this worker (database, channel layer, routes) for the ``health`` topic.

``HealthWatch`` checks, shares the report with the other workers and tells subscribers when
anything changed; ``lifecycle.py`` runs it every ``HEALTH_INTERVAL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
from channels.db import database_sync_to_async
from channels_redis.utils import decode_hosts
from django.conf import settings
from django.db import connection

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.hub import Hub
from tigateway_channels.delivery.probe import PROBE_TIMEOUT
from tigateway_channels.models import OutboxMessage, Route, RouteStatus


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


def _layer_component_name(hub: Hub) -> str:
    backend = hub.membership.backend
    return "redis" if backend.__module__.startswith("channels_redis") else "channelLayer"


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
        round_trip = await hub.membership.probe()
        layer_details: dict[str, Any] = {
            "roundTrip": round_trip,
            "backend": hub.membership.backend.__name__,
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


def _signature(report: dict[str, Any]) -> tuple[Any, ...]:
    cluster = report.get("cluster") or {}
    return (
        report["status"],
        *sorted((k, v["status"]) for k, v in report["components"].items()),
        cluster.get("status"),
        tuple((m["worker"], m["status"], m["stale"]) for m in cluster.get("members", ())),
    )


class HealthWatch:
    """Tells ``health`` subscribers when anything changed, or every HEALTH_UPDATE_SECONDS in
    any case, and keeps the cluster's view current."""

    def __init__(self) -> None:
        self._previous: tuple[Any, ...] | None = None
        self._last_sent = 0.0
        self._redis_stats = RedisStats()

    async def check_and_tell(self, hub: Hub) -> None:
        """Check this worker, share the report with the other workers, tell subscribers."""
        report = await check(hub, self._redis_stats)
        layer = report["components"].get(_layer_component_name(hub), {})
        hub.layer_reachable(layer.get("status") == "UP", layer.get("details", {}).get("error", ""))
        await hub.share_health(report)
        report["cluster"] = hub.cluster_summary()
        signature = _signature(report)
        due = time.monotonic() - self._last_sent >= tigw_settings.HEALTH_UPDATE_SECONDS
        tell = signature != self._previous or due
        hub.keep_health(report, notify=tell)
        if tell:
            self._previous, self._last_sent = signature, time.monotonic()
