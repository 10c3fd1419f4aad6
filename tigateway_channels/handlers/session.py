"""Connection-level requests: heartbeat, subscriptions, client-reported errors."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tigateway_channels.handlers.fields import optional, require
from tigateway_channels.handlers.registry import handles
from tigateway_channels.protocol.envelope import utc_timestamp
from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.topics import get_topic, parse_filter

if TYPE_CHECKING:
    from tigateway_channels.consumers import GatewayConsumer
    from tigateway_channels.protocol.messages import ClientMessage

logger = logging.getLogger(__name__)

MAX_TOPICS_PER_REQUEST = 32


@handles("ping", reply_type="pong")
async def ping(conn: GatewayConsumer, message: ClientMessage) -> dict[str, Any]:
    return {"serverTime": utc_timestamp()}


@handles("pong")
async def pong(conn: GatewayConsumer, message: ClientMessage) -> dict[str, Any]:
    conn.heard_from_client()
    return {}


@handles("error")
async def client_error(conn: GatewayConsumer, message: ClientMessage) -> dict[str, Any]:
    logger.info("Client %s reported an error: %.500r", conn.client_id, message.data)
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
async def subscribe(conn: GatewayConsumer, message: ClientMessage) -> dict[str, Any]:
    topics = topic_list(message.data)
    filters = optional(message.data, "filters", dict, "an object of filters by topic") or {}
    for name in filters:
        if name not in topics:
            raise GatewayError(
                ErrorCode.INVALID_SUBSCRIPTION,
                f"Filter given for topic {name[:64]!r} that is not being subscribed",
                {"field": f"filters.{name[:64]}", "reason": "topic not in data.topics"},
            )
    parsed = {name: parse_filter(get_topic(name), filters.get(name)) for name in topics}
    return await conn.subscribe(parsed)


@handles("unsubscribe")
async def unsubscribe(conn: GatewayConsumer, message: ClientMessage) -> dict[str, Any]:
    topics = topic_list(message.data)
    return conn.unsubscribe(topics)
