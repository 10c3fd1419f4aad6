"""Per-process fan-out: each topic message is received once per worker and written to sockets.

The usual Channels way (a channel and a group membership per socket) costs a channel-layer hop,
a JSON decode and encode per socket, and a Redis connection per ``group_add``. Here one hub per
process and event loop joins each topic group once; a message arrives once, already serialised,
is put in offset order by its ``TopicStream``, and each local socket costs an offset compare, a
filter check and a queue append. Sockets never touch Redis.

The hub holds that state and does the fan-out; its fields are private and other modules ask it
through methods. Its background loops live in ``lifecycle.py``, its channel-layer side in
``membership.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import weakref
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from tigateway_channels.asgi_types import Message
from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery import history
from tigateway_channels.delivery.cluster import HEALTH_EVENT, ClusterHealth, health_message
from tigateway_channels.delivery.deployment import deployment_id, group_name
from tigateway_channels.delivery.gaps import fill_gap
from tigateway_channels.delivery.membership import GroupMembership
from tigateway_channels.delivery.outbox import DELIVER_EVENT, record_topic_message
from tigateway_channels.delivery.rights_events import RIGHTS_EVENT, RIGHTS_GROUP, rights_message
from tigateway_channels.delivery.sockets import SocketState, Subscription
from tigateway_channels.delivery.streams import StreamPosition, TopicMessage, TopicStream
from tigateway_channels.delivery.topics import TOPICS, SubscriptionFilter
from tigateway_channels.protocol import encode, make_envelope
from tigateway_channels.protocol.text import loggable

logger = logging.getLogger(__name__)

# Distinct foreign sources logged by name; past this many, they are only counted.
FOREIGN_SOURCES_LOGGED = 100

# Starts the hub's background loops once it has started (``lifecycle.start_background_tasks``).
BackgroundStarter = Callable[["Hub"], list["asyncio.Task[Any]"]]
# Told of every rights message of this deployment (the WebSocket edge's ``RightsWatch``).
RightsListener = Callable[[Message], None]


class Hub:
    """Joins every topic group once for this process and fans messages out to local sockets."""

    def __init__(self, layer_alias: str) -> None:
        self._membership = GroupMembership(layer_alias)
        self._worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._deployment: str | None = None
        self._foreign_dropped = 0
        self._foreign_sources: set[str] = set()
        self._streams = {
            name: TopicStream(name, tigw_settings.HISTORY_IN_MEMORY)
            for name, topic in TOPICS.items()
            if topic.has_state
        }
        self._subscribers: dict[str, dict[SocketState, Subscription]] = {t: {} for t in TOPICS}
        self._sockets: weakref.WeakSet[SocketState] = weakref.WeakSet()
        self._layer_up = True
        self._shutting_down = False
        self._last_health: dict[str, Any] | None = None
        self._cluster = ClusterHealth()
        self._started: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []  # the background loops, kept referenced
        self._filling: set[str] = set()
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._rights_listener: RightsListener | None = None

    # -- what others may read -----------------------------------------------------------

    @property
    def worker_id(self) -> str:
        return self._worker_id

    @property
    def deployment(self) -> str | None:
        return self._deployment

    @property
    def membership(self) -> GroupMembership:
        """The channel-layer side: joins, receives, probes, the relay's publishes."""
        return self._membership

    @property
    def socket_count(self) -> int:
        return len(self._sockets)

    @property
    def foreign_dropped(self) -> int:
        """Messages from another deployment dropped on this deployment's groups."""
        return self._foreign_dropped

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def last_health(self) -> dict[str, Any] | None:
        """This worker's latest health report, sent to each new ``health`` subscriber."""
        return self._last_health

    def stream(self, topic: str) -> TopicStream | None:
        """The ordered stream of a topic with state; None for streams of samples."""
        return self._streams.get(topic)

    def sockets(self) -> list[SocketState]:
        """The local sockets, as a list that stays valid while sockets come and go."""
        return list(self._sockets)

    # -- starting and stopping ----------------------------------------------------------

    async def start(self, background: BackgroundStarter | None = None) -> None:
        """Idempotent. Joins every topic group; if the channel layer is unreachable, sockets
        are served anyway and the read loop keeps trying to join. ``background`` starts the
        loops once (passed in, as ``lifecycle.py`` depends on the hub and not the reverse)."""
        if self._started is None:
            started = self._started = asyncio.get_running_loop().create_future()
            try:
                self._deployment, groups = await database_sync_to_async(self._identity)()
                try:
                    await self._membership.join(groups)
                except RuntimeError:  # no such channel layer: a configuration error
                    raise
                except Exception as exc:
                    self.layer_reachable(False, str(exc) or type(exc).__name__)
                positions = await database_sync_to_async(self._read_positions)()
            except BaseException as exc:
                self._started = None
                started.set_exception(exc)
                started.exception()  # retrieved: the caller gets it from the raise below
                raise
            for topic, (position, recent) in positions.items():
                self._streams[topic].start_at(position, recent)
            started.set_result(None)
            if background is not None:
                self._tasks = background(self)
        await asyncio.shield(self._started)

    @staticmethod
    def _identity() -> tuple[str, dict[str, str]]:
        groups = {name: group_name(name) for name in [*TOPICS, RIGHTS_GROUP]}
        return deployment_id(), groups

    def _read_positions(self) -> dict[str, tuple[StreamPosition, list[TopicMessage]]]:
        """Each stream's position and the last ``HISTORY_IN_MEMORY`` messages before it, so
        the clients of a restarted worker recover from memory, not one outbox read each."""
        memory = tigw_settings.HISTORY_IN_MEMORY
        started = {}
        for topic in self._streams:
            at = history.position(topic)
            recent = (
                history.read(topic, max(0, at.offset - memory), at.offset, memory) if memory else []
            )
            started[topic] = (at, [m for m in recent if m.epoch == at.epoch])
        return started

    def begin_shutdown(self) -> bool:
        """Refuse new sockets from now on; True for the one caller that started the shutdown."""
        if self._shutting_down:
            return False
        self._shutting_down = True
        return True

    def _spawn(self, coroutine: Any) -> None:
        """Run a side job on the loop, keeping a reference so it is not collected mid-way."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- the channel layer --------------------------------------------------------------

    async def rejoin(self) -> None:
        """Join the groups again (a restarted Redis forgot us), then catch up from history."""
        await self._membership.join()
        await self._catch_up()

    async def _catch_up(self) -> None:
        """Deliver from history what was committed while this worker was not listening.

        Another worker's relay may publish those messages before this one has rejoined its
        groups; without this, they would reach this worker's sockets only with the next change.
        """
        for topic, stream in self._streams.items():
            if stream.epoch is None:
                continue
            found = await database_sync_to_async(history.read)(
                topic, stream.last, None, tigw_settings.MAX_REPLAY_MESSAGES
            )
            for ready in stream.fill(found):
                self.fan_out(topic, ready.frame, ready.attrs, ready.offset)

    def layer_reachable(self, up: bool, reason: str = "") -> None:
        """Record a change of the channel layer's reachability: log it and record a system
        event; once the layer is back, rejoin and publish what was committed meanwhile."""
        if up == self._layer_up:
            return
        self._layer_up = up
        event = "channel_layer_up" if up else "channel_layer_down"
        if up:
            logger.warning("Channel layer reachable again; publishing what was committed meanwhile")
        else:
            logger.error("Channel layer unreachable (%s); changes are kept and sent later", reason)
        details = {"worker": self._worker_id, "reason": reason[:200]}
        self._spawn(self._after_layer_change(up, event, details))

    async def _after_layer_change(self, up: bool, event: str, details: dict[str, Any]) -> None:
        try:
            await database_sync_to_async(_record_system_event)(
                event, "INFO" if up else "ERROR", details
            )
            if up:
                await self.rejoin()
                # Rights messages sent meanwhile are lost: anyone's rights may have changed.
                self._on_rights_message(rights_message(self._deployment, everyone=True))
                await self._membership.publish_pending(grace_seconds=0)
        except Exception:
            logger.warning("Recording the %s event failed", event, exc_info=True)

    # -- receiving ----------------------------------------------------------------------

    def on_channel_message(self, message: Message) -> None:
        """One message from this worker's channel (the read loop in ``lifecycle.py``)."""
        kind = message.get("type")
        if kind == DELIVER_EVENT:
            self.on_topic_message(message)
        elif kind == HEALTH_EVENT:
            self._on_health_report(message)
        elif kind == RIGHTS_EVENT:
            self._on_rights_message(message)

    def on_topic_message(self, message: Message) -> None:
        if message.get("deployment") != self._deployment:
            self._drop_foreign(message)
            return
        topic = message.get("topic", "")
        stream = self._streams.get(topic)
        if stream is None:
            if "frame" in message:
                self.fan_out(topic, message["frame"], message.get("attrs") or {}, 0)
            return
        for ready in stream.accept(TopicMessage.from_channel(message)):
            self.fan_out(topic, ready.frame, ready.attrs, ready.offset)
        if stream.early and topic not in self._filling:
            self._filling.add(topic)
            self._spawn(self._fill_gap(stream))

    def _drop_foreign(self, message: Message) -> None:
        """Another deployment's message (a shared Redis, the same GROUP_PREFIX): it must never
        move a stream, trigger a gap fill or reach a socket."""
        self._foreign_dropped += 1
        source = str(message.get("deployment") or "unknown")[:64]
        if (
            source not in self._foreign_sources
            and len(self._foreign_sources) < FOREIGN_SOURCES_LOGGED
        ):
            self._foreign_sources.add(source)
            logger.error(
                "Dropped a '%s' message from deployment '%s' on this deployment's groups (%s "
                "is ours); another deployment shares this Redis and these group names: give "
                "each deployment its own GROUP_PREFIX, or leave it unset (docs/deployment.md)",
                loggable(message.get("topic", ""), 64),
                loggable(source),
                self._deployment,
            )

    async def _fill_gap(self, stream: TopicStream) -> None:
        """Close the stream's gap from history; offsets history no longer has are skipped."""
        try:
            lost = await fill_gap(stream, lambda ready: self._deliver(stream.topic, ready))
            if lost is not None:
                logger.error(
                    "Offsets %s-%s of %s are not in history; skipping them",
                    lost[0],
                    lost[1],
                    stream.topic,
                )
                self._deliver(stream.topic, stream.skip_to(lost[1]))
        finally:
            self._filling.discard(stream.topic)

    def _deliver(self, topic: str, ready: list[TopicMessage]) -> None:
        for message in ready:
            self.fan_out(topic, message.frame, message.attrs, message.offset)

    def fan_out(self, topic: str, frame: str, attrs: dict[str, list[str]], offset: int) -> None:
        """Write one topic message to every local socket whose subscription passes it."""
        subscribers = self._subscribers.get(topic)
        if not subscribers:
            return
        for state, subscription in list(subscribers.items()):
            if offset and offset <= subscription.after:
                continue
            allowed = subscription.filter.allowed
            if allowed and not subscription.filter.matches(attrs):
                continue
            state.writer.push(frame)

    # -- rights -------------------------------------------------------------------------

    def on_rights_change(self, listener: RightsListener) -> None:
        """Hand this deployment's rights messages (``rights_events.py``) to ``listener``; the
        hub itself never checks a right, so fan-out costs what it did."""
        self._rights_listener = listener

    def _on_rights_message(self, message: Message) -> None:
        if message.get("deployment") != self._deployment:
            self._drop_foreign(message)
            return
        if self._rights_listener is not None:
            self._rights_listener(message)

    # -- health of the cluster ----------------------------------------------------------

    async def share_health(self, report: dict[str, Any]) -> None:
        """Keep this worker's report and send it to the other workers of this deployment."""
        self._cluster.record(report, time.time())
        if not self._membership.joined:
            return
        try:
            await self._membership.send_to_group("health", health_message(self._deployment, report))
        except Exception:
            logger.debug("Sharing the health report failed", exc_info=True)

    def _on_health_report(self, message: Message) -> None:
        if message.get("deployment") != self._deployment:
            self._drop_foreign(message)
            return
        report = message.get("report")
        if isinstance(report, dict) and report.get("worker") != self._worker_id:
            self._cluster.record(report, time.time())

    def cluster_summary(self) -> dict[str, Any]:
        """Every worker of this deployment as its latest shared report describes it."""
        return self._cluster.summary(time.time())

    def keep_health(self, report: dict[str, Any], *, notify: bool) -> None:
        """Keep this worker's latest report for new ``health`` subscribers; with ``notify``,
        send it to the current ones as well."""
        self._last_health = report
        if notify:
            frame = encode(
                make_envelope(
                    "health_update",
                    report,
                    source=tigw_settings.SOURCE,
                    extra_metadata={"topic": "health"},
                )
            )
            self.fan_out("health", frame, {}, 0)

    # -- sockets ------------------------------------------------------------------------

    def attach(self, state: SocketState) -> None:
        self._sockets.add(state)

    def detach(self, state: SocketState) -> None:
        for topic in list(state.subscriptions):
            self.unsubscribe(state, topic)
        self._sockets.discard(state)

    def subscribe(self, state: SocketState, topic: str, subscription: Subscription) -> None:
        self._subscribers[topic][state] = subscription
        state.subscriptions[topic] = subscription

    def unsubscribe(self, state: SocketState, topic: str) -> None:
        self._subscribers[topic].pop(state, None)
        state.subscriptions.pop(topic, None)

    def subscribe_live(self, state: SocketState, topic: str, flt: SubscriptionFilter) -> int:
        """Subscribe from now on; return the offset the subscription starts after."""
        stream = self._streams.get(topic)
        after = stream.last if stream is not None else 0
        self.subscribe(state, topic, Subscription(flt, after))
        return after


def _record_system_event(event: str, severity: str, details: dict[str, Any]) -> None:
    reachable = "reachable again" if event == "channel_layer_up" else "unreachable"
    message = f"Worker {details.get('worker')}: channel layer {reachable}"
    record_topic_message(
        "events",
        "system_event",
        {
            "type": event,
            "event": event,
            "severity": severity,
            "message": message,
            "details": details,
        },
        {"event": [event]},
    )


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop (one per worker process in production)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(tigw_settings.CHANNEL_LAYER)
    return hub
