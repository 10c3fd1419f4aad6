"""Floor baseline: a raw ASGI app (no Django, no Channels) doing the same fan-out.

Run on daphne or uvicorn as ``benchmarks.apps.raw_asgi:application`` with REDIS_URL and
BENCH_REDIS_CHANNEL. One Redis subscription per process (started by the first socket); each
message is split once, and the same frame is sent to every matching socket with the server's
own ``send``: what remains is the server's WebSocket path.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import redis.asyncio as aioredis

from benchmarks.apps.raw_common import ACK, split_message, status_filter

sockets: dict[Any, frozenset[str] | None] = {}
_reader: asyncio.Task[None] | None = None
_ready: asyncio.Event | None = None


async def _read() -> None:
    assert _ready is not None
    client = aioredis.from_url(os.environ["REDIS_URL"])
    pubsub = client.pubsub()
    await pubsub.subscribe(os.environ["BENCH_REDIS_CHANNEL"])
    _ready.set()
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        statuses, frame = split_message(message["data"])
        event = {"type": "websocket.send", "text": frame.decode()}
        for send, flt in list(sockets.items()):
            if flt is None or not flt.isdisjoint(statuses):
                try:
                    await send(event)
                except Exception:
                    sockets.pop(send, None)


async def _ensure_reader() -> None:
    global _reader, _ready
    if _reader is None:
        _ready = asyncio.Event()
        _reader = asyncio.get_running_loop().create_task(_read())
    assert _ready is not None
    await asyncio.wait_for(_ready.wait(), 10)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["type"] != "websocket":
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await _ensure_reader()
    await send({"type": "websocket.send", "text": ACK})
    sockets[send] = status_filter(scope.get("query_string", b"").decode("latin1"))
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        sockets.pop(send, None)
