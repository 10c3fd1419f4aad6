"""The per-socket request queue: in order, paced, bounded, and closed only on a flood."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tigateway_channels.protocol import ErrorCode, GatewayError
from tigateway_channels.websocket.inbound import RequestQueue
from tigateway_channels.websocket.security import TokenBucket


def test_the_bucket_lends_tokens_and_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=10.0, burst=2)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.1, abs=0.01)
    assert bucket.reserve() == pytest.approx(0.2, abs=0.01)


class Recorder:
    def __init__(self, rate: float = 1000.0, burst: int = 1000, **limits: Any) -> None:
        self.events: list[tuple[str, Any]] = []
        self.flooded: list[Any] = []
        self.queue = RequestQueue(
            self.answer,
            self.refuse,
            TokenBucket(rate, burst),
            limit=limits.get("limit", 100),
            max_chars=limits.get("max_chars", 10_000),
            flood_after=limits.get("flood_after", 100),
            on_flood=self.flooded.append,
        )

    async def answer(self, frame: str) -> None:
        await asyncio.sleep(0)
        self.events.append(("answer", frame))

    def refuse(self, error: GatewayError, request_id: Any) -> None:
        self.events.append((str(error.code), request_id))

    async def drained(self) -> None:
        for _ in range(1000):
            if not self.queue.pending:
                await asyncio.sleep(0.01)
                if not self.queue.pending:
                    return
            await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_frames_and_refusals_are_answered_in_arrival_order() -> None:
    recorder = Recorder()
    recorder.queue.put('{"id": 1}')
    recorder.queue.refuse(GatewayError(ErrorCode.MESSAGE_TOO_LARGE, "big"), 2)
    recorder.queue.put('{"id": 3}')
    await recorder.drained()
    assert recorder.events == [
        ("answer", '{"id": 1}'),
        ("MESSAGE_TOO_LARGE", 2),
        ("answer", '{"id": 3}'),
    ]


@pytest.mark.asyncio
async def test_over_the_rate_frames_wait_instead_of_being_refused() -> None:
    recorder = Recorder(rate=200.0, burst=2)
    started = asyncio.get_running_loop().time()
    for n in range(12):
        recorder.queue.put(f'{{"id": {n}}}')
    await recorder.drained()
    assert [event for event, _ in recorder.events] == ["answer"] * 12
    assert asyncio.get_running_loop().time() - started >= 10 / 200 - 0.01


@pytest.mark.asyncio
async def test_a_full_queue_refuses_in_turn_with_the_frame_id() -> None:
    recorder = Recorder(rate=100.0, burst=1, limit=2)
    for n in range(5):
        recorder.queue.put(f'{{"type": "ping", "id": "p{n}"}}')
    await recorder.drained()
    assert recorder.events == [
        ("answer", '{"type": "ping", "id": "p0"}'),
        ("answer", '{"type": "ping", "id": "p1"}'),
        ("RATE_LIMITED", "p2"),
        ("RATE_LIMITED", "p3"),
        ("RATE_LIMITED", "p4"),
    ]
    assert recorder.flooded == []


@pytest.mark.asyncio
async def test_overflowing_again_and_again_is_a_flood_and_stops_the_queue() -> None:
    recorder = Recorder(rate=1.0, burst=1, limit=2, flood_after=3)
    for n in range(10):
        recorder.queue.put(f'{{"id": "p{n}"}}')
    assert recorder.flooded == ["p4"]  # p0 and p1 fit, p2 and p3 were refused, p4 is the third
    assert recorder.queue.pending == 0
    recorder.queue.put('{"id": "late"}')
    await asyncio.sleep(0.05)
    assert recorder.events == []


@pytest.mark.asyncio
async def test_the_size_bound_lets_one_frame_in_an_empty_queue() -> None:
    recorder = Recorder(max_chars=10)
    recorder.queue.put("x" * 50)  # alone: accepted whatever its size
    recorder.queue.put('{"id": 7}')  # the queue holds 50 characters already
    await recorder.drained()
    assert recorder.events == [("answer", "x" * 50), ("RATE_LIMITED", 7)]


@pytest.mark.asyncio
async def test_frames_that_cannot_be_read_wait_for_their_token_like_any_other() -> None:
    recorder = Recorder(rate=100.0, burst=1)
    started = asyncio.get_running_loop().time()
    for n in range(6):
        recorder.queue.refuse(GatewayError(ErrorCode.MESSAGE_TOO_LARGE, "big"), n)
    await recorder.drained()
    assert recorder.events == [("MESSAGE_TOO_LARGE", n) for n in range(6)]
    assert asyncio.get_running_loop().time() - started >= 5 / 100 - 0.01


@pytest.mark.asyncio
async def test_a_flood_of_frames_that_cannot_be_read_is_closed_like_any_flood() -> None:
    recorder = Recorder(rate=1.0, burst=1, limit=2, flood_after=3)
    for n in range(10):
        recorder.queue.receive({"type": "websocket.receive", "bytes": b"%d" % n}, 100)
    assert recorder.flooded == [None]  # binary frames: no id could be read
    assert recorder.queue.pending == 0


def test_the_reader_gives_the_answers_one_turn_each_time_the_queue_fills() -> None:
    recorder = Recorder(limit=2)
    recorder.queue._queue.extend(['{"id": 1}', '{"id": 2}'])
    assert recorder.queue.turn_for_answers()
    assert not recorder.queue.turn_for_answers()  # still full: no second turn
    recorder.queue._queue.clear()
    assert not recorder.queue.turn_for_answers()  # room again
