"""The WebSocket consumer of ``/ws/tigateway``: connect, authenticate, dispatch, reply.

It keeps Channels' consumer shape, minus the per-socket channel: topic messages reach the
socket through the process hub (``hub.py``), never through a channel-layer hop per socket.
Request handlers see it through the ``Connection`` protocol (``connection.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.consumer import AsyncConsumer
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
from tigateway_channels.protocol.envelope import utc_timestamp
from tigateway_channels.protocol.errors import internal_error
from tigateway_channels.protocol.text import loggable
from tigateway_channels.services.permissions import require_permission
from tigateway_channels.services.rights import Rights, rights_cache
from tigateway_channels.websocket.auth import (
    ANONYMOUS,
    Identity,
    authenticate,
    authenticate_token,
    redacted,
)
from tigateway_channels.websocket.connect_params import CONNECT_PARAMS_KEY, read_connect_params
from tigateway_channels.websocket.connection import ConnectionState, next_state
from tigateway_channels.websocket.credentials import accepted_subprotocol, presented_token
from tigateway_channels.websocket.expiry import CredentialClock
from tigateway_channels.websocket.handlers import HANDLERS
from tigateway_channels.websocket.inbound import RequestQueue
from tigateway_channels.websocket.rights import (
    RightsWatch,
    SessionEnded,
    current_rights,
    rights_watch,
    unauthorized,
)
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
        self._clock = CredentialClock(self)
        self._watch: RightsWatch | None = None
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
        params = self.scope.get(CONNECT_PARAMS_KEY) or read_connect_params(self.scope)
        self.client_id = params.client_id or ""
        accept: Message = {"type": "websocket.accept"}
        subprotocol = accepted_subprotocol(self.scope)
        if subprotocol is not None:
            accept["subprotocol"] = subprotocol
        await self.base_send(accept)
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
            presented = presented_token(self.scope, params.token)
            self.identity = await authenticate(self.scope, presented)
        except GatewayError as error:
            # Accept as an anonymous session and say why: closing would make a client that
            # resets its retry counter on every open (the API document's 10.1) loop forever.
            self.identity, refused = ANONYMOUS, error
        hub = await start_hub()
        if self._state is not ConnectionState.CONNECTING:
            return  # closed while the hub started: nothing more to say
        if hub.shutting_down:
            return self.close(Disconnect.SHUTTING_DOWN)
        hub.attach(self._socket)
        self._watch = rights_watch(hub)
        self._watch.add(self)
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
            try:
                result["topics"] = await self.subscribe_each(params.subscriptions)
            except SessionEnded as ended:  # the user was deleted since the token was read
                return self.close(Disconnect.SESSION_ENDED, ended.error)
        self.send_message("ack", {"requestId": None, "requestType": "connect", "result": result})
        self.flush_after_reply()
        # After the ack, which comes first: an auth_expiring may be due at once.
        self._clock.start(self.identity)

    # -- credentials and rights ---------------------------------------------------------

    async def rights(self) -> Rights:
        """What the socket's user may do now (``rights.py``); ``SessionEnded`` if nothing."""
        rights = await current_rights(self.identity.user_key)
        if rights.lost is not None:
            raise SessionEnded(unauthorized(rights.lost))
        return rights

    async def renew(self, token: str) -> dict[str, Any]:
        """An ``auth`` request: the same user's fresh token (or a first one, for an anonymous
        socket) replaces the socket's; the subscriptions stay, those the user may read."""
        identity = await authenticate_token(token)
        current = self.identity
        if current.is_authenticated and identity.user_key != current.user_key:
            raise GatewayError(
                ErrorCode.UNAUTHORIZED,
                "Token is for another user",
                {
                    "field": "token",
                    "value": redacted(token),
                    "reason": "a socket keeps its user; open another socket for another user",
                },
            )
        assert self._watch is not None
        self._watch.remove(self)
        self.identity = identity
        self._watch.add(self)
        self._clock.start(identity)
        if not current.is_authenticated:
            self._watch.recheck(identity.user_key)  # what anonymous read, the user may not
        return {
            "user": identity.user.get_username(),
            "auth": identity.method,
            "expiresAt": utc_timestamp(identity.expires_at) if identity.expires_at else None,
        }

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
        self._clock.cancel()
        if self._watch is not None:
            self._watch.remove(self)
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
        except SessionEnded as ended:  # the reply says why, then the socket closes (4401)
            self._after_reply.clear()
            self.close(Disconnect.SESSION_ENDED, ended.error, request.id)
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
        generation = rights_cache.generation
        rights = await self.rights()
        for name in filters:
            require_permission(rights, TOPICS[name].permission, f"subscribe to {name!r}")
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
        if rights_cache.generation != generation and self._watch is not None:
            # Rights changed while recovery read the database: check what was just joined.
            self._watch.recheck(self.identity.user_key)
        return result

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
        rights = await self.rights()
        for name in wanted:
            try:
                require_permission(rights, TOPICS[name].permission, f"subscribe to {name!r}")
            except GatewayError as missing:
                refused[name] = missing
        for name, error in refused.items():
            wanted.pop(name, None)
            # The parameter at fault, and the one topic it cost.
            error.details = {**error.details, "field": "subscriptions", "value": name}
            self.error_after_reply(error)
        if wanted:
            await self.subscribe(wanted, {})
        return self.subscribed_topics()

    def unsubscribe(self, topics: list[str]) -> dict[str, Any]:
        for name in topics:
            self._hub.unsubscribe(self._socket, name)
        return {"topics": self.subscribed_topics()}

    def subscribed_topics(self) -> list[str]:
        return [name for name in TOPICS if name in self._socket.subscriptions]
