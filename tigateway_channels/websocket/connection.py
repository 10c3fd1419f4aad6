"""A connection as request handlers see it, and the life it goes through.

Handlers depend on the ``Connection`` protocol, not on the consumer class: the few things a
request may use of its socket. ``ConnectionState`` is the consumer's life, one explicit state
(as Starlette's ``WebSocketState``) instead of optional fields; a wrong move raises.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from tigateway_channels.delivery.streams import StreamPosition
from tigateway_channels.delivery.topics import SubscriptionFilter
from tigateway_channels.services.rights import Rights
from tigateway_channels.websocket.auth import Identity


class Connection(Protocol):
    """What a request handler may use of the connection it answers for."""

    @property
    def identity(self) -> Identity: ...

    @property
    def user(self) -> Any: ...

    @property
    def client_id(self) -> str: ...

    async def rights(self) -> Rights:
        """What the user may do now; raises ``SessionEnded`` once the user is gone."""
        ...

    async def renew(self, token: str) -> dict[str, Any]: ...

    async def subscribe(
        self, filters: dict[str, SubscriptionFilter], recover: dict[str, StreamPosition]
    ) -> dict[str, Any]: ...

    def unsubscribe(self, topics: list[str]) -> dict[str, Any]: ...

    def opt_in_to_heartbeats(self) -> None: ...

    def heard_from_client(self) -> None: ...


class ConnectionState(enum.Enum):
    # The handshake is being answered: accepted, not yet authenticated and attached.
    CONNECTING = enum.auto()
    # Authenticated and attached to the hub: client frames are answered.
    CONNECTED = enum.auto()
    # The server closes it: the close frame follows the frames already queued.
    CLOSING = enum.auto()
    # The client or the server is gone: nothing more is sent or answered.
    CLOSED = enum.auto()


_MOVES = {
    ConnectionState.CONNECTING: {ConnectionState.CONNECTED, ConnectionState.CLOSING},
    ConnectionState.CONNECTED: {ConnectionState.CLOSING},
    ConnectionState.CLOSING: set(),
    ConnectionState.CLOSED: set(),
}


def next_state(current: ConnectionState, target: ConnectionState) -> ConnectionState:
    """``target`` if the connection may move there from ``current``; a socket can always end
    (CLOSED), and never come back."""
    if target is ConnectionState.CLOSED or target in _MOVES[current]:
        return target
    raise RuntimeError(f"A connection cannot move from {current.name} to {target.name}")
