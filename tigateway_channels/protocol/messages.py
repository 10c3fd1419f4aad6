"""Parsing of client frames into ``ClientMessage``; every failure is a ``GatewayError``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error, field_issue
from tigateway_channels.protocol.json_values import is_integer

MAX_ID_LENGTH = 128
# How much of a frame ``peek_request_id`` reads: a client's id comes early in practice.
PEEK_CHARS = 4096

# A string (one cut off by ``limit`` runs to the end, so the scan stays linear) or a bracket.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[{}\[\]]')
_KEY_END = re.compile(r"\s*:\s*")
# A string id (each character at most a 6-character \uXXXX escape) or an integer one.
_ID_VALUE = re.compile(r'"(?:[^"\\]|\\.){1,768}"|-?\d{1,18}(?![\d.eE])')


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
    if is_integer(value):
        return value
    return None


def peek_request_id(text: str | bytes, limit: int = PEEK_CHARS) -> str | int | None:
    """The top-level ``id`` of a frame that will not be parsed (too large, or not processed),
    read from its first ``limit`` characters only, so an error can still be correlated.

    A scan of string and bracket tokens tracks the nesting depth, so the ``id`` of a nested
    object (``data.route.id``) is never taken for the message's own.
    """
    head = text[:limit]
    if isinstance(head, bytes):
        head = head.decode("utf-8", "ignore")
    depth = 0
    for token in _TOKEN.finditer(head):
        kind = token.group()
        if kind in "{[":
            depth += 1
        elif kind in "}]":
            depth -= 1
        elif depth == 1 and kind == '"id"':
            colon = _KEY_END.match(head, token.end())
            if colon is None:
                continue  # "id" as a value, not a key
            value = _ID_VALUE.match(head, colon.end())
            if value is None:
                return None
            try:
                return _request_id({"id": orjson.loads(value.group())})
            except orjson.JSONDecodeError:
                return None
        if depth <= 0:
            return None  # not an object, or its end
    return None


def parse_client_message(text: str | bytes, known_types: frozenset[str]) -> ClientMessage:
    """Decode one frame; raise ``GatewayError`` whose ``details`` name the field at fault.

    The error carries ``request_id`` (when the frame had a usable ``id``) so the reply can be
    correlated even though the message was rejected.
    """
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        error = field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "$",
            None,
            f"not valid JSON: {exc}",
            "Message is not valid JSON",
        )
        error.request_id = peek_request_id(text)
        raise error from None
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
                **field_issue("type", message_type[:64], "unknown message type"),
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
