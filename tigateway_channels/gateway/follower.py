"""The gateway's one adapter to the delivery engine: follow ``routes`` and ``config``, keep the
route table current.

A gateway process is a subscriber like any worker: it joins the deployment's topic groups on
the channel layer, drops messages of another deployment, puts each topic in offset order with
its own ``TopicStream`` (duplicates dropped, gaps filled from history), and on start, on an
epoch change, after losing the channel layer, or when a gap cannot be filled, loads the full
state from the database. Every applied change builds a new immutable table and swaps one
reference. It uses only the engine's public pieces (``history.snapshot``/``read``,
``deployment.group_name``, ``TopicStream``, the channel message of ``outbox.channel_message``),
so a refactor of the hub does not touch it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery import history
from tigateway_channels.delivery.deployment import deployment_id, group_name
from tigateway_channels.delivery.gaps import fill_gap
from tigateway_channels.delivery.outbox import DELIVER_EVENT
from tigateway_channels.delivery.streams import TopicMessage, TopicStream
from tigateway_channels.gateway.table import RouteTable, TableBuilder

logger = logging.getLogger(__name__)

ROUTES = "routes"
CONFIG = "config"
ROUTE_STATE = "tigateway_channels.delivery.history.route_snapshot"
GLOBAL_FILTER_STATE = "tigateway_channels.gateway.follower.route_config_filters"
# Changes applied before a rebuild is forced even while more keep arriving.
MAX_PENDING_CHANGES = 500


def route_config_filters() -> list[dict[str, Any]]:
    """The ``globalFilters`` of every route_config (a snapshot provider for ``history``)."""
    from tigateway_channels.models import GatewayConfig

    return [
        {"configId": config_id, "globalFilters": (document or {}).get("globalFilters") or []}
        for config_id, document in GatewayConfig.objects.filter(
            config_type="route_config"
        ).values_list("config_id", "document")
    ]


def _identity() -> tuple[str, dict[str, str]]:
    return deployment_id(), {topic: group_name(topic) for topic in (ROUTES, CONFIG)}


def _load_state() -> tuple[history.Snapshot, history.Snapshot]:
    return (
        history.snapshot(ROUTES, ROUTE_STATE),
        history.snapshot(CONFIG, GLOBAL_FILTER_STATE),
    )


class Follower:
    """Follows the two topics for one gateway process; ``on_table`` receives each new table."""

    def __init__(self, builder: TableBuilder, on_table: Callable[[RouteTable], None]) -> None:
        self.builder = builder
        self.on_table = on_table
        self.deployment: str | None = None
        self.foreign_dropped = 0
        self.tables_built = 0
        self._groups: dict[str, str] = {}
        self._streams = {topic: TopicStream(topic, 0) for topic in (ROUTES, CONFIG)}
        self._layer: Any = None
        self._channel: str | None = None
        self._joined = False
        self._joined_at = 0.0
        self._held: list[dict[str, Any]] = []
        self._pending = 0
        self._rebuild_scheduled = False
        self._reloading: asyncio.Task[None] | None = None
        self._filling: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the groups first, then load the state: nothing committed in between is lost
        (what arrives meanwhile at or below the snapshot's offsets is dropped as a duplicate)."""
        self.deployment, self._groups = await database_sync_to_async(_identity)()
        try:
            await self._join()
        except Exception as exc:
            logger.warning("Gateway cannot join the channel layer yet (%s); retrying", exc)
        await self.reload()
        self._reader = asyncio.get_running_loop().create_task(
            self._read_forever(), name="tigateway-gateway-follower"
        )

    async def stop(self) -> None:
        tasks = [t for t in (self._reader, self._reloading, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._joined and self._layer is not None:
            for group in self._groups.values():
                try:
                    await self._layer.group_discard(group, self._channel)
                except Exception:
                    logger.debug("group_discard failed during gateway stop", exc_info=True)

    def positions(self) -> dict[str, tuple[int, str | None]]:
        return {topic: (stream.last, stream.epoch) for topic, stream in self._streams.items()}

    # -- state ----------------------------------------------------------------------------

    async def reload(self) -> None:
        """Load every route and global filter, and follow both topics from there."""
        routes, configs = await database_sync_to_async(_load_state)()
        self.builder.reset(routes.items, {c["configId"]: c["globalFilters"] for c in configs.items})
        self._streams[ROUTES].start_at(routes.position)
        self._streams[CONFIG].start_at(configs.position)
        self._rebuild()
        logger.info(
            "Gateway loaded %d route(s) (routes@%d, config@%d)",
            len(routes.items),
            routes.position.offset,
            configs.position.offset,
        )

    def _schedule_reload(self, reason: str) -> None:
        if self._reloading is not None and not self._reloading.done():
            return
        logger.warning("Gateway reloads its route table: %s", reason)
        self._reloading = asyncio.get_running_loop().create_task(self._reload_until_done())

    async def _reload_until_done(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Reloading the route table failed; retrying", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._reloading = None
            held, self._held = self._held, []
            for message in held:
                self.on_channel_message(message)
            return

    def _rebuild(self) -> None:
        self._rebuild_scheduled = False
        self._pending = 0
        table = self.builder.build()
        self.tables_built += 1
        self.on_table(table)
        # A large table is hundreds of thousands of long-lived objects; left to the cyclic
        # collector, every full collection walks them all (~60 ms at 10,000 routes) in the
        # middle of requests. Frozen, they are skipped; a dropped table is still freed by
        # reference counting (compiled routes hold no cycles).
        gc.freeze()

    def _changed(self) -> None:
        """Coalesce a burst (a route_config applying many routes) into one rebuild, made as
        soon as the channel layer has nothing more queued."""
        self._pending += 1
        if self._pending >= MAX_PENDING_CHANGES:
            self._rebuild()
        elif not self._rebuild_scheduled:
            self._rebuild_scheduled = True
            asyncio.get_running_loop().call_soon(self._rebuild_if_scheduled)

    def _rebuild_if_scheduled(self) -> None:
        if self._rebuild_scheduled:
            self._rebuild()

    def apply(self, topic: str, messages: list[TopicMessage]) -> None:
        for message in messages:
            try:
                data = orjson.loads(message.frame).get("data") or {}
                if topic == ROUTES:
                    route = data["route"]
                    if data.get("action") == "deleted":
                        self.builder.delete_route(str(route["id"]))
                    else:
                        self.builder.put_route(route)
                elif data.get("configType") == "route_config":
                    document = data.get("config") or {}
                    filters = (
                        None if data.get("action") == "deleted" else document.get("globalFilters")
                    )
                    self.builder.set_global_filters(str(data["configId"]), filters)
                else:
                    continue
            except (KeyError, TypeError, ValueError, AttributeError):
                logger.error("Unreadable %s message at offset %s", topic, message.offset)
                continue
            self._changed()

    # -- channel layer --------------------------------------------------------------------

    async def _join(self) -> None:
        self._layer = get_channel_layer(tigw_settings.CHANNEL_LAYER)
        if self._layer is None:
            raise RuntimeError(f"channel layer {tigw_settings.CHANNEL_LAYER!r} is not configured")
        if self._channel is None:
            self._channel = await self._layer.new_channel()
        for group in self._groups.values():
            await self._layer.group_add(group, self._channel)
        self._joined = True
        self._joined_at = time.monotonic()

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._joined:
                    await self._join()
                    # Changes may have committed while this process was not listening.
                    self._schedule_reload("rejoined the channel layer")
                elif time.monotonic() - self._joined_at > tigw_settings.GROUP_RENEW_SECONDS:
                    await self._join()
                message = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._joined:
                    logger.warning("Gateway lost the channel layer (%s); reconnecting", exc)
                self._joined = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            self.on_channel_message(message)

    def on_channel_message(self, message: dict[str, Any]) -> None:
        if message.get("type") != DELIVER_EVENT:
            return
        if message.get("deployment") != self.deployment:
            self.foreign_dropped += 1
            if self.foreign_dropped == 1:
                logger.error(
                    "Gateway dropped a message of deployment %r on this deployment's groups "
                    "(%s is ours); give each deployment its own GROUP_PREFIX",
                    str(message.get("deployment"))[:64],
                    self.deployment,
                )
            return
        topic = str(message.get("topic", ""))
        stream = self._streams.get(topic)
        if stream is None:
            return
        try:
            arrived = TopicMessage.from_channel(message)
        except (KeyError, TypeError, ValueError):
            return
        if self._reloading is not None and not self._reloading.done():
            self._held.append(message)  # applied after the reload, if its snapshot is older
            return
        if stream.epoch is not None and arrived.epoch != stream.epoch:
            self._schedule_reload(f"the {topic} topic's epoch changed")
            return
        self.apply(topic, stream.accept(arrived))
        if stream.early and topic not in self._filling:
            self._filling.add(topic)
            task = asyncio.get_running_loop().create_task(self._fill_gap(stream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fill_gap(self, stream: TopicStream) -> None:
        """Close the stream's gap from history; if history lost it, load the whole table."""
        try:
            lost = await fill_gap(stream, lambda ready: self.apply(stream.topic, ready))
            if lost is not None:
                self._schedule_reload(f"offsets {lost} of {stream.topic} are not in history")
        finally:
            self._filling.discard(stream.topic)
