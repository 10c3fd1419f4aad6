"""The table from client message type to handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tigateway_channels.protocol.messages import ClientMessage
from tigateway_channels.websocket.connection import Connection

HandlerFunc = Callable[[Connection, ClientMessage], Awaitable[Any]]


@dataclass(frozen=True)
class Handler:
    func: HandlerFunc
    # The reply's type: "ack" carries the result; "pong" answers a ping.
    reply_type: str = "ack"


HANDLERS: dict[str, Handler] = {}


def handles(message_type: str, reply_type: str = "ack") -> Callable[[HandlerFunc], HandlerFunc]:
    def register(func: HandlerFunc) -> HandlerFunc:
        HANDLERS[message_type] = Handler(func, reply_type)
        return func

    return register
