"""Ceiling baseline: a raw asyncio ``websockets`` server on Redis pub/sub, no Django.

One Redis subscription per process; each message is split once and the same frame is written
to every matching socket with ``websockets.broadcast`` (encoded once, no per-socket task).
Run: ``python -m benchmarks.apps.raw_ws --port 8001`` with REDIS_URL and BENCH_REDIS_CHANNEL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve

from benchmarks.apps.raw_common import ACK, split_message, status_filter

connections: dict[ServerConnection, frozenset[str] | None] = {}


async def handler(ws: ServerConnection) -> None:
    flt = status_filter(urlsplit(ws.request.path).query if ws.request else "")
    await ws.send(ACK)
    connections[ws] = flt
    try:
        async for _ in ws:
            pass
    except Exception:
        pass
    finally:
        connections.pop(ws, None)


async def reader(url: str, channel: str) -> None:
    client = aioredis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        statuses, frame = split_message(message["data"])
        targets = [
            ws for ws, flt in connections.items() if flt is None or not flt.isdisjoint(statuses)
        ]
        broadcast(targets, frame, text=True)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.cancel)
    task: Any = asyncio.create_task(
        reader(os.environ["REDIS_URL"], os.environ["BENCH_REDIS_CHANNEL"])
    )
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None):
        try:
            await stop
        except asyncio.CancelledError:
            pass
    task.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
