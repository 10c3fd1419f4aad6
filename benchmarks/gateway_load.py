"""HTTP load for the gateway benchmark: keep-alive connections, each sending GETs one after the
other, for a fixed time. Prints one JSON line: requests/s, p50/p99 latency (microseconds),
errors.

    python -m benchmarks.gateway_load --port P --paths /a,/b --connections 32 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


async def connection(
    port: int, paths: list[str], offset: int, end: float, latencies: list[float], errors: list[int]
) -> None:
    """One keep-alive connection; reopened (the request not counted) if the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    requests = [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() for path in paths]
    n = offset
    try:
        while time.perf_counter() < end:
            request = requests[n % len(requests)]
            n += 1
            started = time.perf_counter()
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            length = 0
            chunked = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(1)
    finally:
        writer.close()


async def run(port: int, paths: list[str], connections: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    warm_end = time.perf_counter() + min(1.0, seconds / 5)
    await asyncio.gather(
        *(connection(port, paths, i, warm_end, [], []) for i in range(connections))
    )
    end = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(connection(port, paths, i * 7, end, latencies, errors) for i in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "errors": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--paths", default="/__ok")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    import uvloop

    result = uvloop.run(run(args.port, args.paths.split(","), args.connections, args.seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
