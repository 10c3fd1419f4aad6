"""Everything one gateway process (one event loop) shares between requests: the current route
table, the upstream client, the service registry, the rate limiters and the follower."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from tigateway_channels.conf import tigw_settings
from tigateway_channels.gateway.asgi_types import ASGIApp
from tigateway_channels.gateway.context import GatewayContext
from tigateway_channels.gateway.follower import Follower
from tigateway_channels.gateway.proxy import Proxy
from tigateway_channels.gateway.registry import ServiceRegistry
from tigateway_channels.gateway.table import RouteTable, TableBuilder
from tigateway_channels.gateway.upstream import UpstreamClient
from tigateway_channels.observability import runtime as observability_runtime

logger = logging.getLogger(__name__)


def redis_url() -> str | None:
    """GATEWAY_REDIS_URL, else the first host of the channel layer (where the limiter's
    buckets are shared by every gateway process)."""
    if tigw_settings.GATEWAY_REDIS_URL:
        return str(tigw_settings.GATEWAY_REDIS_URL)
    layer = (getattr(django_settings, "CHANNEL_LAYERS", None) or {}).get(
        tigw_settings.CHANNEL_LAYER, {}
    )
    hosts = (layer.get("CONFIG") or {}).get("hosts") or []
    if not hosts:
        return None
    host = hosts[0]
    if isinstance(host, dict):
        host = host.get("address")
    if isinstance(host, list | tuple):
        return f"redis://{host[0]}:{host[1]}/0"
    return str(host) if host else None


class GatewayRuntime:
    def __init__(self, forward_app: ASGIApp | None = None) -> None:
        self.table = RouteTable(())
        self.forward_app = forward_app
        self.ready = asyncio.Event()
        self.context: GatewayContext | None = None
        self.client: UpstreamClient | None = None
        self.registry: ServiceRegistry | None = None
        self.proxy: Proxy | None = None
        self.follower: Follower | None = None
        # Every served request is recorded for the metrics (GATEWAY_RECORD_REQUESTS).
        self.recording = False
        self._started: asyncio.Future[None] | None = None

    def swap(self, table: RouteTable) -> None:
        """The one write of the hot path's state: requests already matched keep their table."""
        self.table = table

    def current_table(self) -> RouteTable:
        return self.table

    async def start(self) -> None:
        """Idempotent; concurrent callers wait for the same start."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self._start()
            except BaseException as exc:
                started, self._started = self._started, None
                started.set_exception(exc)
                started.exception()
                raise
            self._started.set_result(None)
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        settings = tigw_settings
        namespace = await database_sync_to_async(_deployment)()
        self.context = GatewayContext.from_settings(settings, redis_url(), namespace)
        self.client = UpstreamClient(
            int(settings.GATEWAY_POOL_SIZE),
            float(settings.GATEWAY_CONNECT_TIMEOUT_SECONDS),
            float(settings.GATEWAY_READ_TIMEOUT_SECONDS),
        )
        self.registry = ServiceRegistry.from_settings(settings)
        forward_app = self.forward_app
        if forward_app is None and settings.GATEWAY_FORWARD_APPLICATION:
            forward_app = import_string(settings.GATEWAY_FORWARD_APPLICATION)
        self.proxy = Proxy(self.client, self.registry, self.current_table, forward_app)
        self.follower = Follower(TableBuilder(self.context), self.swap)
        await self.follower.start()
        if settings.GATEWAY_RECORD_REQUESTS:
            # Reports what record_request collects: figures, buckets, logs (its own threads).
            await asyncio.to_thread(observability_runtime.start, kind="gateway")
            self.recording = True
        self.ready.set()

    async def stop(self) -> None:
        if self.recording:
            await asyncio.to_thread(observability_runtime.stop)
            self.recording = False
        if self.follower is not None:
            await self.follower.stop()
        if self.client is not None:
            await self.client.close()
        if self.context is not None:
            await self.context.close()
        self._started = None


def _deployment() -> str:
    from tigateway_channels.delivery.deployment import deployment_id

    return deployment_id()


_runtimes: weakref.WeakKeyDictionary[Any, dict[int, GatewayRuntime]] = weakref.WeakKeyDictionary()


def runtime_for(app: Any, forward_app: ASGIApp | None) -> GatewayRuntime:
    """The runtime of ``app`` on the running event loop (one per process in production)."""
    loop = asyncio.get_running_loop()
    by_app = _runtimes.setdefault(loop, {})
    runtime = by_app.get(id(app))
    if runtime is None:
        runtime = by_app[id(app)] = GatewayRuntime(forward_app)
    return runtime
