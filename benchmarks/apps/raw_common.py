"""What the raw baselines share: the Redis message format and the connect ack.

The writer publishes ``b"<status>[,<previous status>]\\n" + frame`` on one Redis pub/sub channel
(``BENCH_REDIS_CHANNEL``) right after the ORM commit. A server splits the header once per
message and writes the frame, untouched, to every local socket whose ``?status=`` filter
intersects the header (the same rule as the product's ``routes.status`` filter).
"""

from __future__ import annotations

from urllib.parse import parse_qs

import orjson

ACK = orjson.dumps(
    {
        "type": "ack",
        "data": {"requestId": None, "requestType": "connect", "result": {"topics": ["routes"]}},
    }
).decode()


def status_filter(query: str) -> frozenset[str] | None:
    values = parse_qs(query).get("status")
    return frozenset(values[-1].split(",")) if values else None


def split_message(data: bytes) -> tuple[frozenset[str], bytes]:
    cut = data.index(b"\n")
    return frozenset(data[:cut].decode().split(",")), data[cut + 1 :]
