"""The query parameters of a connection (docs/protocol.md §1): ``token``, ``clientId`` and
``subscriptions``.

A bad parameter never refuses the socket: it becomes an error sent after the connect ``ack``,
and the rest of the connection goes on, so a client written from the document does not fall
into a reconnect loop over a label or one topic name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from tigateway_channels.asgi_types import Scope
from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error
from tigateway_channels.protocol.json_values import is_scalar

# Where ``routing.KeepRawSend`` leaves the parameters it read, so the consumer reads them once.
CONNECT_PARAMS_KEY = "tigateway.connect_params"
MAX_CLIENT_ID_LENGTH = 128
MAX_QUERY_FIELDS = 32
# Topic names read from all ``subscriptions`` values together (there are six topics).
MAX_SUBSCRIPTION_NAMES = 32


@dataclass(frozen=True)
class ConnectParams:
    token: str | None = None
    client_id: str | None = None
    # Every topic name asked for, in order, each once; whether it exists is checked later.
    subscriptions: list[str] = field(default_factory=list)
    errors: list[GatewayError] = field(default_factory=list)


def _subscriptions_error(value: Any, reason: str) -> GatewayError:
    shown = value[:200] if isinstance(value, str) else value
    if not is_scalar(shown):
        shown = str(shown)[:200]
    return field_error(
        ErrorCode.INVALID_SUBSCRIPTION,
        "subscriptions",
        shown,
        reason,
        "Invalid subscriptions parameter",
    )


def parse_subscriptions(values: list[str]) -> tuple[list[str], list[GatewayError]]:
    """Merge every ``subscriptions`` value, each a JSON array (docs/protocol.md §1) or a comma list.

    A value that cannot be read, or an item that is not a name, is an error of its own; the
    names read elsewhere still count.
    """
    names: list[str] = []
    errors: list[GatewayError] = []
    for raw in values:
        value = raw.strip()
        if not value.startswith("["):
            names += [name.strip() for name in value.split(",") if name.strip()]
            continue
        try:
            items = orjson.loads(value)
        except orjson.JSONDecodeError:
            errors.append(_subscriptions_error(value, "starts with [ but is not a JSON array"))
            continue
        if not isinstance(items, list):
            errors.append(_subscriptions_error(value, "not a JSON array"))
            continue
        for item in items:
            if isinstance(item, str) and item.strip():
                names.append(item.strip())
            else:
                errors.append(_subscriptions_error(item, "a topic name must be a string"))
    unique = list(dict.fromkeys(names))
    if len(unique) > MAX_SUBSCRIPTION_NAMES:
        reason = f"at most {MAX_SUBSCRIPTION_NAMES} topic names; the rest were ignored"
        errors.append(_subscriptions_error(",".join(unique[MAX_SUBSCRIPTION_NAMES:]), reason))
        unique = unique[:MAX_SUBSCRIPTION_NAMES]
    return unique, errors


def _client_id(values: list[str]) -> tuple[str | None, list[GatewayError]]:
    value = values[-1] if values else ""
    if len(value) <= MAX_CLIENT_ID_LENGTH:
        return value or None, []
    error = GatewayError(
        ErrorCode.INVALID_MESSAGE_FORMAT,
        "Invalid clientId",
        {
            "field": "clientId",
            "value": value[:64] + "...",
            "reason": (
                f"clientId must be at most {MAX_CLIENT_ID_LENGTH} characters, got {len(value)}; "
                "the connection has no clientId"
            ),
        },
    )
    return None, [error]


def read_connect_params(scope: Scope) -> ConnectParams:
    raw = scope.get("query_string", b"").decode("latin1")
    try:
        query = parse_qs(raw, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        error = GatewayError(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "Invalid query string",
            {
                "field": "query",
                "value": None,
                "reason": f"more than {MAX_QUERY_FIELDS} parameters; none were read",
            },
        )
        return ConnectParams(errors=[error])
    client_id, errors = _client_id(query.get("clientId", []))
    subscriptions, subscription_errors = parse_subscriptions(query.get("subscriptions", []))
    tokens = query.get("token")
    return ConnectParams(
        token=tokens[-1] if tokens else None,
        client_id=client_id,
        subscriptions=subscriptions,
        errors=errors + subscription_errors,
    )
