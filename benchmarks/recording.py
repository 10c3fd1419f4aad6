"""What recording costs the gateway: ``record_request`` in a tight loop, with threads, the
reporter's round, and a small ASGI app under load with recording on and off.

    python -m benchmarks.recording                 # about a minute
    python -m benchmarks.recording --seconds 10 --rounds 5

Under load: one uvicorn process serves ``benchmarks.apps.recording_app`` (every request answered
at once, so recording is as large a share of a request as it can be), and this process drives it
with keep-alive HTTP/1.1 connections, alternating recording off and on, ``--rounds`` times each.
It prints requests per second and the server's CPU time per request (psutil) for each, their
medians, and the difference. The app runs on the example project's settings with a SQLite file
(in-memory channel layer: the reporter's rounds and its database writes are real; with
``--redis``, PostgreSQL and Redis are used instead, as in production).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import (
    SECRET_KEY,
    clone_database,
    create_template,
    end_process,
    install_cleanup,
    launch_worker,
    log,
    new_prefix,
    wait_listening,
)
from tests.processes import REDIS_URL, manage
from tigateway_channels.observability import recorder
from tigateway_channels.observability.recorder import harvest, record_request
from tigateway_channels.observability.wire import Delta

APP = "benchmarks.apps.recording_app:application"
REQUEST = b"GET /r/users HTTP/1.1\r\nHost: bench\r\n\r\n"


# -- in process ------------------------------------------------------------------------------


def tight_loop(count: int) -> dict[str, float]:
    """ns per record_request on one thread, next to the same loop calling a no-op."""

    def nothing(route_id: str, method: str, status: int, latency_ms: float) -> None:
        return None

    routes = [f"route-{n}" for n in range(20)]
    latencies = [random.lognormvariate(3, 1) for _ in range(4096)]
    results = {}
    for name, call in (("no-op call", nothing), ("record_request", record_request)):
        recorder._after_fork()
        began = time.perf_counter()
        for n in range(count):
            call(routes[n % 20], "GET", 200, latencies[n & 4095])
        results[name] = (time.perf_counter() - began) / count * 1e9
    began = time.perf_counter()
    collected = harvest()
    results["harvest ms (20 series)"] = (time.perf_counter() - began) * 1000
    assert sum(latency.count for latency in collected.series.values()) == count
    return results


def threaded(count: int, threads: int) -> dict[str, float]:
    """Records per second with ``threads`` threads recording at once and the reporter
    collecting every 10 ms (nothing lost: checked)."""

    recorder._after_fork()
    stop = threading.Event()
    collected = [0]

    def reporter() -> None:
        while not stop.wait(0.01):
            collected[0] += sum(lat.count for lat in harvest().series.values())

    def gateway(index: int) -> None:
        for n in range(count):
            record_request(f"route-{(n + index) % 20}", "GET", 200, float(n % 100))

    collector = threading.Thread(target=reporter)
    collector.start()
    workers = [threading.Thread(target=gateway, args=(i,)) for i in range(threads)]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    stop.set()
    collector.join()
    collected[0] += sum(lat.count for lat in harvest().series.values())
    assert collected[0] == count * threads, (collected[0], count * threads)
    return {
        "records/s": count * threads / elapsed,
        "ns per record": elapsed / (count * threads) * 1e9,
    }


def reporter_round(series: int) -> dict[str, float]:
    """One reporter round's CPU for ``series`` series (harvest, system figures, encoding),
    without the network or database parts."""

    recorder._after_fork()
    for n in range(series * 50):
        record_request(f"route-{n % series}", "GET", 200 + 100 * (n % 3 == 0), float(n % 300))
    began = time.perf_counter()
    collected = harvest()
    payload = Delta("n", "p", "gateway", "h", 0, 1, collected.series, None).encode()
    return {
        "round ms": (time.perf_counter() - began) * 1000,
        "delta bytes": float(len(payload)),
        "series": float(len(collected.series)),
    }


def app_alone(calls: int) -> dict[str, float]:
    """CPU per call of the benchmark app called directly (no server, no network), recording
    off and on: what recording adds to a request, timing included."""
    from benchmarks.apps import recording_app

    scope = {"type": "http", "path": "/r/users", "method": "GET"}

    async def send(message: Any) -> None:
        return None

    async def receive() -> Any:
        return {}

    async def run() -> float:
        began = time.process_time()
        for _ in range(calls):
            await recording_app.application(scope, receive, send)
        return (time.process_time() - began) / calls * 1e9

    found: dict[str, list[float]] = {"off": [], "on": []}
    recorder._after_fork()
    for _ in range(3):
        for mode in ("off", "on"):
            recording_app.RECORDING = mode == "on"
            found[mode].append(asyncio.run(run()))
    recorder._after_fork()
    return {mode: statistics.median(values) for mode, values in found.items()}


# -- under load ------------------------------------------------------------------------------


async def _client(port: int, until: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.monotonic() < until:
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            done += 1
    finally:
        counts.append(done)
        writer.close()


async def _drive(port: int, seconds: float, connections: int) -> int:
    counts: list[int] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(_client(port, until, counts) for _ in range(connections)))
    return sum(counts)


def under_load(env: dict[str, str], seconds: float, rounds: int, connections: int) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="tigw-recording-"))
    rows: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    for round_number in range(rounds):
        # Alternate which goes first, so a machine that gets busier or quieter during a round
        # (other work on it) does not always favour the same side.
        for mode in ("off", "on") if round_number % 2 == 0 else ("on", "off"):
            worker = launch_worker(
                "uvicorn", APP, {**env, "BENCH_RECORDING": "1" if mode == "on" else "0"}, log_dir
            )
            try:
                wait_listening(worker)
                process = psutil.Process(worker.pid)
                asyncio.run(_drive(worker.port, 1.0, connections))  # warm up
                cpu = process.cpu_times()
                began = time.perf_counter()
                served = asyncio.run(_drive(worker.port, seconds, connections))
                elapsed = time.perf_counter() - began
                after = process.cpu_times()
                used = (after.user + after.system) - (cpu.user + cpu.system)
                rows[mode].append((served / elapsed, used / served * 1e6))
                log(
                    f"round {round_number + 1} recording {mode:>3}: {served / elapsed:8.0f} "
                    f"req/s, server CPU {used / served * 1e6:6.1f} us/request"
                )
            finally:
                end_process(worker.process)
    ratios = [on[0] / off[0] for on, off in zip(rows["on"], rows["off"], strict=True)]
    added = [on[1] - off[1] for on, off in zip(rows["on"], rows["off"], strict=True)]
    off_rate = statistics.median(r[0] for r in rows["off"])
    on_rate = statistics.median(r[0] for r in rows["on"])
    off_cpu = statistics.median(r[1] for r in rows["off"])
    on_cpu = statistics.median(r[1] for r in rows["on"])
    print(
        f"\nUnder load (medians of {rounds} rounds, {connections} connections, "
        f"{seconds:.0f} s each):"
    )
    print(f"  recording off: {off_rate:9.0f} req/s  {off_cpu:7.1f} us server CPU per request")
    print(f"  recording on:  {on_rate:9.0f} req/s  {on_cpu:7.1f} us server CPU per request")
    print(
        f"  throughput on/off: {on_rate / off_rate * 100:.1f}% (medians); per round "
        f"{', '.join(f'{r * 100:.1f}%' for r in ratios)}, median "
        f"{statistics.median(ratios) * 100:.1f}%"
    )
    print(
        f"  server CPU per request added: {on_cpu - off_cpu:+.2f} us (medians); per round "
        f"{', '.join(f'{a:+.2f}' for a in added)} us, median {statistics.median(added):+.2f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--redis", action="store_true", help="PostgreSQL and Redis, as in production"
    )
    args = parser.parse_args()
    install_cleanup()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    import django

    django.setup()

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    loop = tight_loop(args.records)
    print(f"\nTight loop, one thread, {args.records:,} requests over 20 routes:")
    print(f"  no-op call with the same arguments: {loop['no-op call']:6.0f} ns")
    print(f"  record_request:                     {loop['record_request']:6.0f} ns")
    own = loop["record_request"] - loop["no-op call"]
    print(f"  recording's own cost:               {own:6.0f} ns per request")
    print(f"  harvest of the round:               {loop['harvest ms (20 series)']:6.2f} ms")
    many = threaded(args.records // 4, 4)
    print("\nFour threads recording at once, the reporter collecting every 10 ms (none lost):")
    print(f"  {many['records/s']:,.0f} records/s, {many['ns per record']:.0f} ns each (one GIL)")
    alone = app_alone(200_000)
    print("\nThe benchmark app called directly (no server), CPU per request, median of 3:")
    print(
        f"  recording off: {alone['off']:5.0f} ns   on: {alone['on']:5.0f} ns   added: "
        f"{alone['on'] - alone['off']:+.0f} ns (timing and record_request)"
    )
    for series in (20, 1000):
        reported = reporter_round(series)
        print(
            f"\nReporter round, {series} series: {reported['round ms']:.2f} ms of CPU, "
            f"{reported['delta bytes']:,.0f} bytes to the backend"
        )

    env = {
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
        "TIGATEWAY_CHANNELS_JSON": '{"LOG_STREAM_LOGGERS": []}',
    }
    if args.redis:
        _name, url = clone_database(create_template("recording"))
        env.update(DATABASE_URL=url, REDIS_URL=REDIS_URL, CHANNEL_LAYER_PREFIX=new_prefix("rec"))
    else:
        directory = Path(tempfile.mkdtemp(prefix="tigw-recording-db-"))
        env["SQLITE_PATH"] = str(directory / "db.sqlite3")
        manage("migrate", "--noinput", env=env)
    under_load(env, args.seconds, args.rounds, args.connections)


if __name__ == "__main__":
    main()
