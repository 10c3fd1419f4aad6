"""The message envelope of docs/protocol.md §2, serialised once with orjson."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson

from tigateway_channels import __version__


def utc_timestamp(moment: dt.datetime | None = None) -> str:
    """ISO 8601 in UTC with a ``Z`` and millisecond precision, as docs/protocol.md shows."""
    moment = moment or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_message_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def make_envelope(
    message_type: str,
    data: dict[str, Any],
    *,
    source: str = "tigateway",
    message_id: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"source": source, "version": __version__}
    if extra_metadata:
        metadata.update(extra_metadata)
    return {
        "type": message_type,
        "id": message_id or new_message_id(message_type.replace("_", "-")),
        "timestamp": utc_timestamp(),
        "data": data,
        "metadata": metadata,
    }


def encode(envelope: dict[str, Any]) -> str:
    return orjson.dumps(envelope).decode()
