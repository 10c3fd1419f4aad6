"""Property-based fuzzing of every message type: arbitrary and mutated JSON, deep nesting, huge
numbers and strings, NUL and control characters, raw garbage and binary frames.

For every frame the server sends exactly one reply (ack, pong or error), in order, each a
well-formed envelope; nothing is logged with a traceback; the socket still answers ``ping``.
Bounded: a fixed number of examples of at most a few frames each.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ws import Socket, connect, token_for
from tigateway_channels.websocket.handlers import HANDLERS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

TYPES = sorted(HANDLERS)
NASTY_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc"]),
    max_size=60,
) | st.sampled_from(["", "\x00", "a\x00b", "\r\n\t", "\u202e", "x" * 5000, "../../etc/passwd"])
NUMBERS = st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
SCALARS = st.none() | st.booleans() | NUMBERS | NASTY_TEXT
KEYS = NASTY_TEXT | st.sampled_from(["id", "route", "uri", "filters", "predicates", "metadata"])
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)


ROUTE_LIKE = st.fixed_dictionaries(
    {"id": NASTY_TEXT, "uri": NASTY_TEXT},
    optional={"predicates": JSON, "filters": JSON, "status": JSON, "order": JSON, "metadata": JSON},
)
DATA_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "topics": JSON | st.lists(st.sampled_from(["routes", "config", "health", "nope"])),
        "filters": JSON,
        "recover": JSON,
        "route": ROUTE_LIKE | JSON,
        "routeId": NASTY_TEXT | JSON,
        "updates": ROUTE_LIKE | JSON,
        "configType": st.sampled_from(["route_config", "nope"]) | JSON,
        "configId": NASTY_TEXT | JSON,
        "config": JSON,
        "version": JSON,
    },
)
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | NASTY_TEXT | JSON},
    optional={"id": NASTY_TEXT | NUMBERS | JSON, "data": DATA_LIKE | JSON, "metadata": JSON},
)
ANY_ID = object()  # a frame whose reply may carry any requestId (or null)


@dataclass(frozen=True)
class Frame:
    payload: str | bytes
    # The requestId its reply must carry, when the frame has a usable id.
    request_id: Any = ANY_ID


def encode(message: Any) -> Frame:
    """A message as text; values orjson cannot write (integers beyond 64 bits) are written
    by hand, as a client in another language would send them."""
    try:
        text = orjson.dumps(message).decode()
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(message, ensure_ascii=False)
    request_id = message.get("id") if isinstance(message, dict) else None
    if isinstance(request_id, str) and 0 < len(request_id) <= 128:
        return Frame(text, request_id)
    return Frame(text)


def nested(depth: int) -> str:
    """Nesting deeper than JSON encoders recurse into, written by hand."""
    return (
        '{"a":' * (depth // 2)
        + "[" * (depth - depth // 2)
        + "]" * (depth - depth // 2)
        + ("}" * (depth // 2))
    )


# Raw JSON values, written as text: what no encoder in this test would produce.
RAW_VALUES = st.one_of(
    st.integers(min_value=100, max_value=1200).map(nested),
    st.integers(min_value=20, max_value=400).map(lambda digits: "9" * digits),  # huge numbers
    st.sampled_from(["-0", "1e308", "-1e308", "1E-400", "18446744073709551616", "0.1e999"]),
    st.integers(min_value=1000, max_value=300_000).map(lambda n: '"' + "x" * n + '"'),
    st.sampled_from(['"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"\\n\\r\\t\\u2028\\u001b[31m"']),
    st.sampled_from(['{"\\u0000": 1}', '["\\u0000", {"k\\u0000": null}]', "null", "[]", "{}"]),
    JSON.map(lambda value: json.dumps(value, ensure_ascii=False)),
)
DATA_FIELDS = (
    *("topics", "filters", "recover", "route", "routeId", "updates", "configType", "configId"),
    *("config", "version", "toVersion", "adoptRoutes"),
)
# Where a raw value lands, for every message type: the id, the data, each field of data, an
# unknown top-level field; and inside a route and a config.
PLACES = [
    *(f'{{"type":"{kind}","id":%s,"data":{{}}}}' for kind in TYPES),
    *(f'{{"type":"{kind}","id":"raw","data":%s}}' for kind in TYPES),
    *(f'{{"type":"{kind}","id":"raw","data":{{}},"unknown":%s}}' for kind in TYPES),
    *(
        f'{{"type":"{kind}","id":"raw","data":{{"{field}":%s}}}}'
        for kind in TYPES
        for field in DATA_FIELDS
    ),
    '{"type":"route_create","id":"raw","data":{"route":{"id":"fz","uri":"http://a",'
    '"predicates":%s}}}',
    '{"type":"route_create","id":"raw","data":{"route":{"id":"fz","uri":"http://a",'
    '"metadata":{"deep":%s}}}}',
    '{"type":"config_update","id":"raw","data":{"configType":"route_config","configId":"fz",'
    '"config":{"routes":[{"id":"fz","uri":"http://a","filters":%s}]}}}',
]


def placed(place: str, raw: str) -> Frame:
    request_id = "raw" if '"id":"raw"' in place else ANY_ID
    return Frame(place % raw, request_id)


RAW = st.builds(placed, st.sampled_from(PLACES), RAW_VALUES)


def mutated(base: Frame, edits: list[tuple[int, int, str]]) -> Frame:
    """A message with characters cut, replaced or inserted at random places."""
    text = base.payload if isinstance(base.payload, str) else base.payload.decode("latin1")
    for position, cut, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + cut :]
    return Frame(text)


MUTATED = st.builds(
    mutated,
    MESSAGES.map(encode) | RAW,
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**6),
            st.integers(min_value=0, max_value=4),
            st.sampled_from(['"', "{", "}", "[", "]", ",", ":", "\\", "\x00", "-", "e9"])
            | NASTY_TEXT,
        ),
        min_size=1,
        max_size=4,
    ),
)

FRAMES = st.one_of(
    MESSAGES.map(encode),
    RAW,
    MUTATED,
    NASTY_TEXT.map(Frame),
    st.binary(max_size=64).map(Frame),
    st.sampled_from(["{", "[]", "null", '{"type": 1e999}', '{"id": "x"', "\x00" * 10]).map(Frame),
)


def assert_envelope(reply: dict[str, Any]) -> None:
    assert set(reply) >= {"type", "id", "timestamp", "data", "metadata"}, reply
    assert isinstance(reply["id"], str) and isinstance(reply["timestamp"], str), reply
    assert isinstance(reply["data"], dict), reply
    assert reply["metadata"]["source"] == "tigateway", reply
    if reply["type"] == "error":
        data = reply["data"]
        assert "requestId" in data and data["code"] and data["message"], reply
        assert "reason" in data["details"], reply


async def one_reply(socket: Socket) -> dict[str, Any]:
    """The next reply, skipping topic messages a request may have caused."""
    while True:
        message = await socket.receive(timeout=5)
        if "topic" not in message.get("metadata", {}):
            return message


async def exchange(token: str, frames: list[Frame]) -> None:
    socket, first = await connect(token=token)
    assert first["type"] == "ack", first
    for frame in frames:
        key = "bytes" if isinstance(frame.payload, bytes) else "text"
        await socket.comm.send_input({"type": "websocket.receive", key: frame.payload})
        reply = await one_reply(socket)
        assert reply["type"] in ("ack", "pong", "error"), reply
        assert_envelope(reply)
        if frame.request_id is not ANY_ID:
            assert reply["data"]["requestId"] == frame.request_id, reply
    assert await socket.nothing_more(0.05)
    pong = await socket.request("ping")
    assert pong["type"] == "pong", pong
    await socket.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(FRAMES, min_size=1, max_size=6))
def test_every_frame_gets_one_well_formed_reply_and_the_socket_survives(
    frames: list[Frame], caplog: pytest.LogCaptureFixture
) -> None:
    user = get_user_model().objects.filter(username="fuzz").first()
    if user is None:
        user = get_user_model().objects.create_superuser("fuzz", password="fuzz-password")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        async_to_sync(exchange)(token_for(user), frames)
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def test_the_fuzz_strategies_reach_every_message_type() -> None:
    """A guard on the fuzzer itself: every registered type can be drawn, and a raw value can
    land in every field of every type."""
    assert set(TYPES) >= {"ping", "subscribe", "route_create", "config_update"}
    for kind in TYPES:
        assert sum(f'"type":"{kind}"' in place for place in PLACES) >= len(DATA_FIELDS) + 3
    assert asyncio.iscoroutinefunction(exchange)
