"""Connection-level requests: heartbeat, subscriptions, client-reported errors, token renewal."""

from __future__ import annotations

import logging
from typing import Any

from tigateway_channels.delivery.streams import StreamPosition
from tigateway_channels.delivery.topics import get_topic, parse_filter
from tigateway_channels.protocol.envelope import utc_timestamp
from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.protocol.json_values import is_integer
from tigateway_channels.protocol.messages import ClientMessage
from tigateway_channels.protocol.text import loggable
from tigateway_channels.websocket.connection import Connection
from tigateway_channels.websocket.handlers.fields import optional, require
from tigateway_channels.websocket.handlers.registry import handles

logger = logging.getLogger(__name__)

MAX_TOPICS_PER_REQUEST = 32


@handles("ping", reply_type="pong")
async def ping(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    conn.opt_in_to_heartbeats()
    return {"serverTime": utc_timestamp()}


@handles("pong")
async def pong(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    conn.heard_from_client()
    return {}


@handles("error")
async def client_error(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    logger.info(
        "Client %s reported an error: %s", loggable(conn.client_id), loggable(message.data, 500)
    )
    return {}


def topic_list(data: dict[str, Any]) -> list[str]:
    topics = require(data, "topics", list, "a list of topic names")
    if not topics or len(topics) > MAX_TOPICS_PER_REQUEST:
        raise GatewayError(
            ErrorCode.INVALID_SUBSCRIPTION,
            f"topics must name 1 to {MAX_TOPICS_PER_REQUEST} topics",
            {"field": "topics", "value": len(topics), "reason": "empty or too long"},
        )
    return [get_topic(name).name for name in topics]


@handles("subscribe")
async def subscribe(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    topics = topic_list(message.data)
    filters = optional(message.data, "filters", dict, "an object of filters by topic") or {}
    for name in filters:
        if name not in topics:
            raise GatewayError(
                ErrorCode.INVALID_SUBSCRIPTION,
                f"Filter given for topic {name[:64]!r} that is not being subscribed",
                {
                    "field": f"filters.{name[:64]}",
                    "value": filters[name] if isinstance(filters[name], dict) else None,
                    "reason": "topic not in data.topics",
                },
            )
    parsed = {name: parse_filter(get_topic(name), filters.get(name)) for name in topics}
    recover = recovery_positions(message.data, topics)
    return await conn.subscribe(parsed, recover)


def recovery_positions(data: dict[str, Any], topics: list[str]) -> dict[str, StreamPosition]:
    """``data.recover``: per topic, the last ``offset`` and ``epoch`` the client saw."""
    recover = optional(data, "recover", dict, "an object of positions by topic") or {}
    positions: dict[str, StreamPosition] = {}
    for name, position in recover.items():
        field = f"recover.{name[:64]}"
        if name not in topics:
            raise GatewayError(
                ErrorCode.INVALID_SUBSCRIPTION,
                f"Recovery asked for topic {name[:64]!r} that is not being subscribed",
                {"field": field, "value": name[:64], "reason": "topic not in data.topics"},
            )
        offset = position.get("offset") if isinstance(position, dict) else None
        epoch = position.get("epoch") if isinstance(position, dict) else None
        if not is_integer(offset) or offset < 0:
            raise GatewayError(
                ErrorCode.INVALID_SUBSCRIPTION,
                "Invalid recovery position",
                {
                    "field": f"{field}.offset",
                    "value": offset if isinstance(offset, int) else None,
                    "reason": "offset must be a non-negative integer",
                },
            )
        if not isinstance(epoch, str) or len(epoch) > 64:
            raise GatewayError(
                ErrorCode.INVALID_SUBSCRIPTION,
                "Invalid recovery position",
                {
                    "field": f"{field}.epoch",
                    "value": epoch[:64] if isinstance(epoch, str) else None,
                    "reason": "epoch must be a string of at most 64 characters",
                },
            )
        positions[name] = StreamPosition(offset, epoch)
    return positions


@handles("unsubscribe")
async def unsubscribe(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    topics = topic_list(message.data)
    return conn.unsubscribe(topics)


@handles("auth")
async def auth(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    """A fresh access token for this socket's user (or a first one for an anonymous socket):
    the session goes on with it, subscriptions kept (docs/protocol.md §1, "Renewing")."""
    token = require(message.data, "token", str, "an access token")
    return await conn.renew(token)
