"""Per-process fan-out: each topic message is received once per worker and written to sockets.

The usual Channels way (a channel and a group membership per socket) costs a channel-layer hop,
a JSON decode and encode per socket, and a Redis connection per ``group_add``. Here one hub per
process and event loop joins each topic group once; a message arrives once, already serialised,
is put in offset order by its ``TopicStream``, and each local socket costs an offset compare, a
filter check and a queue append. Sockets never touch Redis.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery import health, history, relay
from tigateway_channels.delivery.deployment import deployment_id, group_name
from tigateway_channels.delivery.outbox import DELIVER_EVENT
from tigateway_channels.delivery.sockets import SocketState, Subscription
from tigateway_channels.delivery.streams import StreamPosition, TopicMessage, TopicStream
from tigateway_channels.delivery.topics import TOPICS, SubscriptionFilter

logger = logging.getLogger(__name__)

PROBE_EVENT = "tigw.probe"
HEALTH_EVENT = "tigw.health"
# Distinct foreign sources logged by name; past this many, they are only counted.
FOREIGN_SOURCES_LOGGED = 100


class Hub:
    """Joins every topic group once for this process and fans messages out to local sockets."""

    def __init__(self, layer_alias: str) -> None:
        self.layer_alias = layer_alias
        self.layer: Any = None
        self.channel: str | None = None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.deployment: str | None = None
        self.groups: dict[str, str] = {}
        self.foreign_dropped = 0
        self._foreign_sources: set[str] = set()
        self.streams = {
            name: TopicStream(name, tigw_settings.HISTORY_IN_MEMORY)
            for name, topic in TOPICS.items()
            if topic.has_state
        }
        self.subscribers: dict[str, dict[SocketState, Subscription]] = {t: {} for t in TOPICS}
        self.sockets: weakref.WeakSet[SocketState] = weakref.WeakSet()
        self.delivered = 0
        self.layer_up = True
        self.joined = False
        self.shutting_down = False
        self.probes: dict[str, asyncio.Future[None]] = {}
        self.last_health: dict[str, Any] | None = None
        self.cluster_health = health.ClusterHealth()
        self._started: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._filling: set[str] = set()
        self._side_tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Idempotent. Joins every topic group; if the channel layer is unreachable, sockets
        are served anyway and ``read_forever`` keeps trying to join."""
        if self._started is None:
            started = self._started = asyncio.get_running_loop().create_future()
            try:
                self.deployment, self.groups = await database_sync_to_async(self._identity)()
                await self._try_join()
                positions = await database_sync_to_async(self._read_positions)()
            except BaseException as exc:
                self._started = None
                started.set_exception(exc)
                started.exception()  # retrieved: the caller gets it from the raise below
                raise
            for topic, position in positions.items():
                self.streams[topic].start_at(position)
            started.set_result(None)
            from tigateway_channels.delivery import lifecycle

            self._tasks = lifecycle.start_background_tasks(self)
        await asyncio.shield(self._started)

    @staticmethod
    def _identity() -> tuple[str, dict[str, str]]:
        return deployment_id(), {topic: group_name(topic) for topic in TOPICS}

    def _read_positions(self) -> dict[str, StreamPosition]:
        return {topic: history.position(topic) for topic in self.streams}

    async def _join(self) -> None:
        self.layer = get_channel_layer(self.layer_alias)
        if self.layer is None:
            raise RuntimeError(f"channel layer {self.layer_alias!r} is not configured")
        if self.channel is None:
            self.channel = await self.layer.new_channel()
        await self.join_groups()
        self.joined = True

    async def join_groups(self) -> None:
        """Join (or renew) this process's membership of every topic group."""
        for group in self.groups.values():
            await self.layer.group_add(group, self.channel)

    async def _try_join(self) -> None:
        try:
            await self._join()
        except RuntimeError:
            raise
        except Exception as exc:
            self.joined = False
            self.set_layer_state(False, str(exc) or type(exc).__name__)

    def spawn(self, coroutine: Any) -> None:
        """Run a side job on the loop, keeping a reference so it is not collected mid-way."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def rejoin(self) -> None:
        """After the channel layer came back: join again (a restarted Redis forgot us)."""
        await self._join()
        await self.catch_up()

    async def catch_up(self) -> None:
        """Deliver from history what was committed while this worker was not listening.

        Another worker's relay may publish those messages before this one has rejoined its
        groups; without this, they would reach this worker's sockets only with the next change.
        """
        for topic, stream in self.streams.items():
            if stream.epoch is None:
                continue
            found = await database_sync_to_async(history.read)(
                topic, stream.last, None, tigw_settings.MAX_REPLAY_MESSAGES
            )
            for ready in stream.fill(found):
                self.fan_out(topic, ready.frame, ready.attrs, ready.offset)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.layer is not None and self.channel is not None:
            for group in self.groups.values():
                try:
                    await self.layer.group_discard(group, self.channel)
                except Exception:
                    logger.debug("group_discard failed during hub stop", exc_info=True)
        self._started = None

    # -- receiving ----------------------------------------------------------------------

    async def read_forever(self) -> None:
        """Receive from the channel layer; on failure retry, then rejoin the groups.

        A Redis restart forgets group memberships (core layer) and subscriptions (pub/sub
        layer re-subscribes by itself); joining again is harmless either way.
        """
        backoff = 0.1
        while True:
            try:
                if not self.joined:
                    await self._join()
                    await self.catch_up()
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.joined = False
                self.set_layer_state(False, str(exc) or type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            kind = message.get("type")
            if kind == DELIVER_EVENT:
                self.on_topic_message(message)
            elif kind == HEALTH_EVENT:
                self.on_health_report(message)
            elif kind == PROBE_EVENT:
                probe = self.probes.pop(message.get("probe", ""), None)
                if probe is not None and not probe.done():
                    probe.set_result(None)

    def set_layer_state(self, up: bool, reason: str = "") -> None:
        """Record a change of reachability as a system event (see ``health.py``)."""
        if up != self.layer_up:
            self.layer_up = up
            health.layer_state_changed(self, up, reason)

    async def share_health(self, report: dict[str, Any]) -> None:
        """Keep this worker's report and send it to the other workers of this deployment."""
        self.cluster_health.record(report, time.time())
        if not self.joined:
            return
        message = {"type": HEALTH_EVENT, "deployment": self.deployment, "report": report}
        try:
            await self.layer.group_send(self.groups["health"], message)
        except Exception:
            logger.debug("Sharing the health report failed", exc_info=True)

    def on_health_report(self, message: dict[str, Any]) -> None:
        if message.get("deployment") != self.deployment:
            self._drop_foreign(message)
            return
        report = message.get("report")
        if isinstance(report, dict) and report.get("worker") != self.worker_id:
            self.cluster_health.record(report, time.time())

    def on_topic_message(self, message: dict[str, Any]) -> None:
        if message.get("deployment") != self.deployment:
            self._drop_foreign(message)
            return
        topic = message.get("topic", "")
        stream = self.streams.get(topic)
        if stream is None:
            if "frame" in message:
                self.fan_out(topic, message["frame"], message.get("attrs") or {}, 0)
            return
        for ready in stream.accept(TopicMessage.from_channel(message)):
            self.fan_out(topic, ready.frame, ready.attrs, ready.offset)
        if stream.early and topic not in self._filling:
            self._filling.add(topic)
            self.spawn(self._fill_gap(stream))

    def _drop_foreign(self, message: dict[str, Any]) -> None:
        """Another deployment's message (a shared Redis, the same GROUP_PREFIX): it must never
        move a stream, trigger a gap fill or reach a socket."""
        self.foreign_dropped += 1
        source = str(message.get("deployment") or "unknown")[:64]
        if (
            source not in self._foreign_sources
            and len(self._foreign_sources) < FOREIGN_SOURCES_LOGGED
        ):
            self._foreign_sources.add(source)
            logger.error(
                "Dropped a %r message from deployment %r on this deployment's groups (%s is "
                "ours); another deployment shares this Redis and these group names: give each "
                "deployment its own GROUP_PREFIX, or leave it unset (docs/deployment.md)",
                str(message.get("topic", ""))[:64],
                source,
                self.deployment,
            )

    async def _fill_gap(self, stream: TopicStream) -> None:
        """Give a missing offset a moment to arrive, then read it from history."""
        try:
            attempts = 0
            while stream.early:
                await asyncio.sleep(tigw_settings.GAP_FILL_DELAY_SECONDS)
                gap = stream.missing()
                if gap is None:
                    return
                try:
                    found = await database_sync_to_async(history.read)(
                        stream.topic, gap[0] - 1, gap[1]
                    )
                except Exception:
                    logger.warning(
                        "Reading history to fill %s %s failed", stream.topic, gap, exc_info=True
                    )
                    continue
                for ready in stream.fill(found):
                    self.fan_out(stream.topic, ready.frame, ready.attrs, ready.offset)
                attempts = attempts + 1 if not found else 0
                if attempts >= 5 and stream.missing() == gap:
                    logger.error(
                        "Offsets %s-%s of %s are not in history; skipping them",
                        gap[0],
                        gap[1],
                        stream.topic,
                    )
                    for ready in stream.skip_to(gap[1]):
                        self.fan_out(stream.topic, ready.frame, ready.attrs, ready.offset)
        finally:
            self._filling.discard(stream.topic)

    def fan_out(self, topic: str, frame: str, attrs: dict[str, list[str]], offset: int) -> int:
        """Write one topic message to every local socket whose subscription passes it."""
        subscribers = self.subscribers.get(topic)
        if not subscribers:
            return 0
        count = 0
        for state, subscription in list(subscribers.items()):
            if offset and offset <= subscription.after:
                continue
            allowed = subscription.filter.allowed
            if allowed and not subscription.filter.matches(attrs):
                continue
            state.writer.push(frame)
            count += 1
        self.delivered += count
        return count

    # -- sockets ------------------------------------------------------------------------

    def attach(self, state: SocketState) -> None:
        self.sockets.add(state)

    def detach(self, state: SocketState) -> None:
        for topic in list(state.subscriptions):
            self.unsubscribe(state, topic)
        self.sockets.discard(state)

    def subscribe(self, state: SocketState, topic: str, subscription: Subscription) -> None:
        self.subscribers[topic][state] = subscription
        state.subscriptions[topic] = subscription

    def unsubscribe(self, state: SocketState, topic: str) -> None:
        self.subscribers[topic].pop(state, None)
        state.subscriptions.pop(topic, None)

    def subscribe_live(self, state: SocketState, topic: str, flt: SubscriptionFilter) -> int:
        """Subscribe from now on; return the offset the subscription starts after."""
        stream = self.streams.get(topic)
        after = stream.last if stream is not None else 0
        self.subscribe(state, topic, Subscription(flt, after))
        return after

    @property
    def socket_count(self) -> int:
        return len(self.sockets)

    async def relay_forever(self) -> None:
        """This worker's share of the relay: overdue publishes, and history pruning."""
        rounds = 0
        while True:
            await asyncio.sleep(tigw_settings.RELAY_INTERVAL_SECONDS)
            rounds += 1
            try:
                await relay.publish_pending_async(self.layer)
                if rounds % 60 == 0:
                    await database_sync_to_async(relay.prune_history)()
            except Exception:
                logger.warning("Relay round failed", exc_info=True)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop (one per worker process in production)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(tigw_settings.CHANNEL_LAYER)
    return hub
