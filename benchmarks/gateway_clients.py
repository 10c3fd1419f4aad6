"""httpx or aiohttp for the gateway's upstream calls: the same requests with each, measured.

    python -m benchmarks.gateway_clients [--seconds 3]

Starts the test upstream (uvicorn, one process) and, with each client as the gateway uses it
(one pooled client, no redirects, no decompression, bodies streamed), measures:

- sequential GETs on one kept-alive connection: p50/p99 latency;
- 32 concurrent GETs: requests/s;
- a 64 MB download and a 64 MB upload, streamed: MB/s.

Prints one table; docs/gateway.md quotes it for the choice the gateway made (aiohttp).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    end_process,
    install_cleanup,
    launch_worker,
    log,
    print_table,
    wait_listening,
)

SIZE = 64 * 1024 * 1024
CHUNK = b"y" * 65536


async def _upload_body() -> AsyncIterator[bytes]:
    for _ in range(SIZE // len(CHUNK)):
        yield CHUNK


class HttpxClient:
    name = "httpx"

    def __init__(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        self.client = httpx.AsyncClient(limits=limits, timeout=30, follow_redirects=False)

    async def get(self, url: str) -> int:
        async with self.client.stream("GET", url) as response:
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
            return size

    async def upload(self, url: str) -> int:
        async with self.client.stream("POST", url, content=_upload_body()) as response:
            await response.aread()
            return response.status_code

    async def close(self) -> None:
        await self.client.aclose()


class AiohttpClient:
    name = "aiohttp"

    def __init__(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=100, ttl_dns_cache=None)
        self.session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, timeout=aiohttp.ClientTimeout(total=30)
        )

    async def get(self, url: str) -> int:
        async with self.session.get(url, allow_redirects=False) as response:
            size = 0
            async for chunk in response.content.iter_any():
                size += len(chunk)
            return size

    async def upload(self, url: str) -> int:
        async with self.session.post(url, data=_upload_body()) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        await self.session.close()


async def _timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def measure(factory: Any, base: str, seconds: float) -> dict[str, Any]:
    client = factory()
    ok = f"{base}/__ok"
    for _ in range(200):
        await client.get(ok)
    latencies = sorted([await _timed(lambda: client.get(ok)) for _ in range(3000)])
    done = 0
    end = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < end:
            await client.get(ok)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(32)))
    rate = done / (time.perf_counter() - start)
    download = await _timed(lambda: client.get(f"{base}/__bytes?n={SIZE}"))
    upload = await _timed(lambda: client.upload(f"{base}/upload"))
    await client.close()
    return {
        "client": client.name,
        "p50_us": statistics.median(latencies) * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
        "rps_32": rate,
        "download_mb_s": SIZE / download / 1e6,
        "upload_mb_s": SIZE / upload / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    install_cleanup()
    log_dir = Path(tempfile.mkdtemp(prefix="tigw-clients-"))
    upstream = launch_worker("uvicorn", "tests.e2e.gateway_upstream:app", {}, log_dir)
    wait_listening(upstream)
    base = f"http://127.0.0.1:{upstream.port}"
    try:
        import uvloop

        rows = []
        for factory in (HttpxClient, AiohttpClient, HttpxClient, AiohttpClient):
            log(f"measuring {factory.name}")
            rows.append(uvloop.run(measure(factory, base, args.seconds)))
    finally:
        end_process(upstream.process)
    print_table(
        rows,
        [
            ("client", "client"),
            ("p50_us", "p50 us (1 conn)"),
            ("p99_us", "p99 us (1 conn)"),
            ("rps_32", "req/s (32 concurrent)"),
            ("download_mb_s", "download MB/s"),
            ("upload_mb_s", "upload MB/s"),
        ],
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
