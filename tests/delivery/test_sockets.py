"""SocketWriter: frames leave in order, a slow socket is closed, nobody waits on another."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tigateway_channels.delivery.sockets import SocketWriter
from tigateway_channels.protocol.disconnect import Disconnect

pytestmark = pytest.mark.asyncio


class FakeServerSend:
    """An ASGI ``send`` that can be made to block, like a server under backpressure."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.writable = asyncio.Event()
        self.writable.set()

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        self.sent.append(message.get("text", message.get("code")))


async def test_unblocked_send_happens_within_push() -> None:
    send = FakeServerSend()
    writer = SocketWriter(send, 10, lambda: None)
    writer.push("a")
    assert send.sent == ["a"]  # no task switch needed
    writer.stop()


async def test_frames_keep_their_order_when_a_send_blocks() -> None:
    send = FakeServerSend()
    writer = SocketWriter(send, 10, lambda: None)
    send.writable.clear()
    for frame in ("a", "b", "c"):
        writer.push(frame)
    await asyncio.sleep(0.01)
    assert send.sent == []
    send.writable.set()
    await writer.drained(1)
    await asyncio.sleep(0.01)
    writer.push("d")
    await asyncio.sleep(0.01)
    assert send.sent == ["a", "b", "c", "d"]
    writer.stop()


async def test_a_socket_that_falls_behind_the_limit_is_closed_and_its_queue_dropped() -> None:
    send = FakeServerSend()
    overflowed: list[bool] = []
    writer = SocketWriter(send, 3, lambda: overflowed.append(True))
    send.writable.clear()
    for n in range(10):
        writer.push(f"f{n}")
    assert overflowed == [True]
    assert writer.closed
    assert writer.pending == 0
    writer.stop()


async def test_close_goes_after_the_frames_already_queued() -> None:
    send = FakeServerSend()
    writer = SocketWriter(send, 10, lambda: None)
    send.writable.clear()
    writer.push("last words")
    writer.close(Disconnect.TOO_SLOW)
    writer.push("never")
    send.writable.set()
    await asyncio.sleep(0.05)
    assert send.sent == ["last words", 4409]
    writer.stop()


async def test_dropping_the_queue_keeps_the_send_in_flight_and_what_follows() -> None:
    send = FakeServerSend()
    writer = SocketWriter(send, 10, lambda: None)
    send.writable.clear()
    for frame in ("in flight", "dropped 1", "dropped 2"):
        writer.push(frame)
    writer.drop_queued()
    writer.push("why")
    writer.close(Disconnect.FLOODING)
    send.writable.set()
    await asyncio.sleep(0.05)
    assert send.sent == ["in flight", "why", 4429]
    writer.stop()


async def test_one_blocked_socket_does_not_hold_back_another() -> None:
    slow, fast = FakeServerSend(), FakeServerSend()
    slow_writer = SocketWriter(slow, 100, lambda: None)
    fast_writer = SocketWriter(fast, 100, lambda: None)
    slow.writable.clear()
    for n in range(5):
        slow_writer.push(f"s{n}")
        fast_writer.push(f"f{n}")
    assert fast.sent == [f"f{n}" for n in range(5)]
    assert slow.sent == []
    slow_writer.stop()
    fast_writer.stop()


async def test_replays_do_not_count_against_the_live_limit() -> None:
    send = FakeServerSend()
    overflowed: list[bool] = []
    writer = SocketWriter(send, 2, lambda: overflowed.append(True))
    send.writable.clear()
    writer.push_replay([f"r{n}" for n in range(20)])
    writer.push("live")
    assert overflowed == []
    send.writable.set()
    await writer.drained(1)
    await asyncio.sleep(0.01)
    assert send.sent[-1] == "live"
    assert len(send.sent) == 21
    writer.stop()
