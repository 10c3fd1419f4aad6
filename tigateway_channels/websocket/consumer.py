"""The WebSocket consumer of ``/ws/tigateway``: connect, authenticate, dispatch, reply.

It keeps Channels' consumer shape, minus the per-socket channel: topic messages reach the
socket through the process hub (``hub.py``), never through a channel-layer hop per socket.
Request handlers see it through the ``Connection`` protocol (``connection.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer

from tigateway_channels.asgi_types import Message, Receive, Scope, Send
from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.hub import get_hub
from tigateway_channels.delivery.lifecycle import start_hub
from tigateway_channels.delivery.recovery import subscribe_topic
from tigateway_channels.delivery.sockets import SocketState, SocketWriter
from tigateway_channels.delivery.streams import StreamPosition
from tigateway_channels.delivery.topics import TOPICS, SubscriptionFilter, get_topic
from tigateway_channels.protocol import (
    ClientMessage,
    ErrorCode,
    GatewayError,
    encode,
    make_envelope,
    parse_client_message,
)
from tigateway_channels.protocol.disconnect import Disconnect
from tigateway_channels.protocol.errors import internal_error
from tigateway_channels.protocol.text import loggable
from tigateway_channels.services.permissions import require_permission
from tigateway_channels.websocket.auth import ANONYMOUS, Identity, authenticate
from tigateway_channels.websocket.connect_params import read_connect_params
from tigateway_channels.websocket.connection import ConnectionState, next_state
from tigateway_channels.websocket.handlers import HANDLERS
from tigateway_channels.websocket.inbound import RequestQueue
from tigateway_channels.websocket.security import TokenBucket, origin_allowed, request_origin

logger = logging.getLogger(__name__)

KNOWN_TYPES = frozenset(HANDLERS)


class GatewayConsumer(AsyncConsumer):
    # Who is on the socket: set while CONNECTING, read once CONNECTED.
    identity: Identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # No per-socket channel: the hub delivers topic messages (see module docstring).
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        # The server's own send, below the session middleware's wrapper, for the hot path.
        raw_send: Send = scope.get("tigateway.raw_send", send)
        self.client_id = ""
        self._state = ConnectionState.CONNECTING
        self._hub = get_hub()
        self._writer = SocketWriter(raw_send, tigw_settings.SEND_QUEUE_LIMIT, self._too_slow)
        self._socket = SocketState(self._writer, self.close)
        self._requests = RequestQueue(
            self.answer,
            self.send_error,
            TokenBucket(tigw_settings.CLIENT_RATE_PER_SECOND, tigw_settings.CLIENT_RATE_BURST),
            limit=tigw_settings.CLIENT_QUEUE_LIMIT,
            max_chars=tigw_settings.CLIENT_QUEUE_BYTES,
            flood_after=tigw_settings.FLOOD_CLOSE_AFTER,
            on_flood=self._flooding,
        )
        self._expiry_timer: asyncio.TimerHandle | None = None
        # Frames a request starts that must follow its reply (the first health_update).
        self._after_reply: list[tuple[str, dict[str, Any]]] = []
        try:
            # Message after message, without the task per message of Channels'
            # await_many_dispatch: a server that queues every frame it reads, unbounded
            # (daphne), is drained as fast as it reads, so a flood cannot pile up there.
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            self._teardown()

    async def dispatch(self, message: Message) -> None:
        # Channels closes stale DB connections before every event; handlers that use the
        # ORM already do so through database_sync_to_async, so skip the thread hop here.
        kind = message["type"]
        if kind == "websocket.receive":
            await self.websocket_receive(message)
        elif kind == "websocket.connect":
            await self.websocket_connect(message)
        elif kind == "websocket.disconnect":
            raise StopConsumer

    # -- connection ---------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    def _move_to(self, target: ConnectionState) -> None:
        self._state = next_state(self._state, target)

    @property
    def user(self) -> Any:
        return self.identity.user

    async def websocket_connect(self, message: Message) -> None:
        params = read_connect_params(self.scope)
        self.client_id = params.client_id or ""
        await self.base_send({"type": "websocket.accept"})
        origin = request_origin(self.scope)
        if origin is not None and not origin_allowed(origin):
            error = GatewayError(
                ErrorCode.FORBIDDEN,
                "Origin not allowed",
                {
                    "field": "origin",
                    "value": origin[:200],
                    "reason": "not in TIGATEWAY_CHANNELS['ALLOWED_ORIGINS'] or ALLOWED_HOSTS",
                },
            )
            return self.close(Disconnect.ORIGIN_NOT_ALLOWED, error)
        refused: GatewayError | None = None
        try:
            self.identity = await authenticate(self.scope, params.token)
        except GatewayError as error:
            # Accept as an anonymous session and say why: closing would make a client that
            # resets its retry counter on every open (the API document's 10.1) loop forever.
            self.identity, refused = ANONYMOUS, error
        self._schedule_token_expiry()
        hub = await start_hub()
        if self._state is not ConnectionState.CONNECTING:
            return  # closed while the hub started (the token expired): nothing more to say
        if hub.shutting_down:
            return self.close(Disconnect.SHUTTING_DOWN)
        hub.attach(self._socket)
        self._move_to(ConnectionState.CONNECTED)
        result: dict[str, Any] = {
            "clientId": self.client_id or None,
            "user": self.user.get_username() if self.identity.is_authenticated else None,
            "auth": self.identity.method,
            "topics": [],
        }
        # The connect ack comes first; what went wrong with the token or the parameters, and
        # the first health_update, follow it.
        for problem in [refused, *params.errors]:
            if problem is not None:
                self.error_after_reply(problem)
        if params.subscriptions:
            result["topics"] = await self.subscribe_each(params.subscriptions)
        self.send_message("ack", {"requestId": None, "requestType": "connect", "result": result})
        self.flush_after_reply()

    def _schedule_token_expiry(self) -> None:
        expires_at = self.identity.expires_at
        if expires_at is None:
            return
        delay = max(0.0, expires_at.timestamp() - time.time())
        self._expiry_timer = asyncio.get_running_loop().call_later(delay, self._token_expired)

    def _token_expired(self) -> None:
        error = GatewayError(
            ErrorCode.UNAUTHORIZED,
            "Token expired",
            {"field": "token", "reason": "reconnect with a fresh access token"},
        )
        self.close(Disconnect.TOKEN_EXPIRED, error)

    def _too_slow(self) -> None:
        logger.warning(
            "Closing socket %s: %d frames behind",
            loggable(self.client_id or "-"),
            tigw_settings.SEND_QUEUE_LIMIT,
        )
        self.close(Disconnect.TOO_SLOW)

    def _flooding(self, request_id: Any) -> None:
        # Replies still queued are dropped too: a flooder that does not read would hold them,
        # and the close behind them, for as long as it keeps the socket open.
        self._writer.drop_queued()
        error = GatewayError(
            ErrorCode.RATE_LIMITED,
            "Too many messages; closing",
            {
                "reason": "flooding: messages kept arriving faster than they were answered",
                "limitPerSecond": tigw_settings.CLIENT_RATE_PER_SECOND,
            },
        )
        self.close(Disconnect.FLOODING, error, request_id)

    def close(
        self, disconnect: Disconnect, error: GatewayError | None = None, request_id: Any = None
    ) -> None:
        """The one way the server ends a connection: an ``error`` saying why (when there is
        one), then the close, after the frames already queued. Closing twice is harmless."""
        if self._state is ConnectionState.CLOSED:
            return
        if self._state is not ConnectionState.CLOSING:
            self._move_to(ConnectionState.CLOSING)
            level = logging.DEBUG if disconnect is Disconnect.SHUTTING_DOWN else logging.INFO
            logger.log(
                level,
                "Closing socket %s with %d: %s",
                loggable(self.client_id or "-"),
                disconnect.code,
                disconnect.reason,
            )
            if error is not None:
                self.send_error(error, request_id)
        # Also when already closing: a writer that dropped its queue sends the close now.
        self._writer.close(disconnect)

    def _teardown(self) -> None:
        self._move_to(ConnectionState.CLOSED)
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
        self._requests.stop()
        self._hub.detach(self._socket)
        self._writer.stop()

    def heard_from_client(self) -> None:
        """Any client frame proves the socket is alive (server heartbeats, ``lifecycle.py``)."""
        self._socket.heard()

    def opt_in_to_heartbeats(self) -> None:
        """A client that sends ``ping`` speaks the heartbeat protocol, so the server may ping
        it and close it with 4408. Silent clients rely on WebSocket protocol pings instead."""
        self._socket.app_heartbeat = True

    # -- replies ------------------------------------------------------------------------

    def frame(self, message_type: str, data: dict[str, Any]) -> str:
        return encode(make_envelope(message_type, data, source=tigw_settings.SOURCE))

    def send_message(self, message_type: str, data: dict[str, Any]) -> None:
        self._writer.push(self.frame(message_type, data))

    def send_error(self, error: GatewayError, request_id: Any) -> None:
        """The one place an error becomes a reply, ``requestId`` always present (protocol.md §8)."""
        self.send_message("error", {**error.as_data(), "requestId": request_id})

    def send_after_reply(self, message_type: str, data: dict[str, Any]) -> None:
        self._after_reply.append((message_type, data))

    def error_after_reply(self, error: GatewayError) -> None:
        self.send_after_reply("error", {**error.as_data(), "requestId": None})

    def flush_after_reply(self) -> None:
        frames, self._after_reply = self._after_reply, []
        for message_type, data in frames:
            self.send_message(message_type, data)

    # -- requests -----------------------------------------------------------------------

    async def websocket_receive(self, message: Message) -> None:
        """Queue the frame to be answered in its turn; refuse at once what cannot be read.

        Only a CONNECTED socket's frames are answered: before, the connect is not finished;
        after a close has started, no reply could reach the client."""
        if self._state is not ConnectionState.CONNECTED:
            return
        self.heard_from_client()
        if self._requests.turn_for_answers():
            await asyncio.sleep(0)
        self._requests.receive(message, tigw_settings.MAX_MESSAGE_BYTES)

    async def answer(self, text: str) -> None:
        """Parse, handle and answer one queued frame (called by the request queue, in order).

        Nothing escapes: a failure nobody foresaw is answered with ``INTERNAL_ERROR``, whose
        ``incident`` id is logged beside the traceback, and the socket goes on."""
        request_id: Any = None
        request_type = "unparsed"
        try:
            request = parse_client_message(text, KNOWN_TYPES)
            request_id, request_type = request.id, request.type
            await self.handle_request(request)
        except GatewayError as error:
            self.send_error(error, error.request_id)
        except Exception:
            self._after_reply.clear()
            internal = internal_error()
            logger.exception(
                "Answering a %s request failed (incident %s)",
                loggable(request_type),
                internal.details["incident"],
            )
            self.send_error(internal, request_id)

    async def handle_request(self, request: ClientMessage) -> None:
        """Run the message's handler and reply; the reply is encoded before it is sent, so a
        result that cannot be encoded is an error, not a missing reply."""
        handler = HANDLERS[request.type]
        try:
            result = await handler.func(self, request)
        except GatewayError as error:
            self._after_reply.clear()
            self.send_error(error, request.id)
            return
        if handler.reply_type == "pong":
            reply = self.frame("pong", {"requestId": request.id, **result})
        else:
            reply = self.frame(
                "ack", {"requestId": request.id, "requestType": request.type, "result": result}
            )
        self._writer.push(reply)
        self.flush_after_reply()

    # -- subscriptions (called by handlers) ---------------------------------------------

    async def subscribe(
        self, filters: dict[str, SubscriptionFilter], recover: dict[str, StreamPosition]
    ) -> dict[str, Any]:
        """All or nothing: every topic's permission is checked before any is joined."""
        if self.identity.is_authenticated or not tigw_settings.ALLOW_ANONYMOUS_READ:
            await database_sync_to_async(self._check_topic_permissions)(list(filters))
        result: dict[str, Any] = {"filters": {}, "positions": {}}
        for name, flt in filters.items():
            outcome = await subscribe_topic(self._hub, self._socket, name, flt, recover.get(name))
            result["filters"][name] = flt.as_dict()
            if outcome.position is not None:
                result["positions"][name] = outcome.position.as_data()
            if outcome.recovered is not None:
                result.setdefault("recovered", {})[name] = outcome.recovered
                result.setdefault("replayed", {})[name] = outcome.replayed
            if outcome.snapshot is not None:
                result.setdefault("snapshot", {})[name] = outcome.snapshot
        last_health = self._hub.last_health
        if "health" in filters and last_health is not None:
            self.send_after_reply("health_update", last_health)
        result["topics"] = self.subscribed_topics()
        return result

    def _check_topic_permissions(self, topics: list[str]) -> None:
        for name in topics:
            require_permission(self.user, TOPICS[name].permission, f"subscribe to {name!r}")

    async def subscribe_each(self, names: list[str]) -> list[str]:
        """Subscribe topic by topic (the ``subscriptions`` parameter): an unknown or forbidden
        topic gets an error of its own and the others are subscribed."""
        wanted: dict[str, SubscriptionFilter] = {}
        refused: dict[str, GatewayError] = {}
        for name in names:
            try:
                wanted[get_topic(name).name] = SubscriptionFilter()
            except GatewayError as unknown:
                refused[name] = unknown
        if self.identity.is_authenticated or not tigw_settings.ALLOW_ANONYMOUS_READ:
            refused.update(await database_sync_to_async(self._refused_topics)(list(wanted)))
        for name, error in refused.items():
            wanted.pop(name, None)
            # The parameter at fault, and the one topic it cost.
            error.details = {**error.details, "field": "subscriptions", "value": name}
            self.error_after_reply(error)
        if wanted:
            await self.subscribe(wanted, {})
        return self.subscribed_topics()

    def _refused_topics(self, topics: list[str]) -> dict[str, GatewayError]:
        refused = {}
        for name in topics:
            try:
                self._check_topic_permissions([name])
            except GatewayError as error:
                refused[name] = error
        return refused

    def unsubscribe(self, topics: list[str]) -> dict[str, Any]:
        for name in topics:
            self._hub.unsubscribe(self._socket, name)
        return {"topics": self.subscribed_topics()}

    def subscribed_topics(self) -> list[str]:
        return [name for name in TOPICS if name in self._socket.subscriptions]
