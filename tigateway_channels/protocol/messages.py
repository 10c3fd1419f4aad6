"""Parsing of client frames into ``ClientMessage``; every failure is a ``GatewayError``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error

MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class ClientMessage:
    type: str
    id: str | int | None
    data: dict[str, Any] = field(default_factory=dict)


def _request_id(raw: dict[str, Any]) -> str | int | None:
    """The id to correlate an error with, when the frame carries a usable one."""
    value = raw.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def parse_client_message(text: str | bytes, known_types: frozenset[str]) -> ClientMessage:
    """Decode one frame; raise ``GatewayError`` whose ``details`` name the field at fault.

    The error carries ``request_id`` (when the frame had a usable ``id``) so the reply can be
    correlated even though the message was rejected.
    """
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "$",
            None,
            f"not valid JSON: {exc}",
            "Message is not valid JSON",
        ) from None
    if not isinstance(raw, dict):
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "$",
            type(raw).__name__,
            "a message must be a JSON object",
            "Message must be a JSON object",
        )
    request_id = _request_id(raw)
    try:
        return _validate(raw, request_id, known_types)
    except GatewayError as exc:
        exc.request_id = request_id
        raise


def _validate(
    raw: dict[str, Any], request_id: str | int | None, known_types: frozenset[str]
) -> ClientMessage:
    if "id" in raw and raw["id"] is not None and request_id is None:
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "id",
            raw["id"],
            f"id must be a non-empty string of at most {MAX_ID_LENGTH} characters or an integer",
            "Invalid message id",
        )
    message_type = raw.get("type")
    if message_type is None:
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "type",
            None,
            "type is required",
            "Message has no type",
        )
    if not isinstance(message_type, str):
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "type",
            message_type,
            "type must be a string",
            "Message type must be a string",
        )
    if message_type not in known_types:
        raise GatewayError(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            f"Unknown message type {message_type[:64]!r}",
            {
                "field": "type",
                "value": message_type[:64],
                "reason": "unknown message type",
                "expected": sorted(known_types),
            },
        )
    data = raw.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "data",
            type(data).__name__,
            "data must be a JSON object",
            "Message data must be an object",
        )
    return ClientMessage(type=message_type, id=request_id, data=data)
