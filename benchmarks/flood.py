#!/usr/bin/env python
"""Flood benchmark: one client sends a million pings without ever reading; another pings.

For each target (daphne, uvicorn, and uvicorn with ``--loop asyncio`` or ``--ws websockets``
on request): a fresh PostgreSQL database and channel-layer prefix, one worker of the example
project, one well-behaved client that sends a ``ping`` every ``--interval`` seconds and times
its ``pong``, and one flooder process that sends ``-n`` pings as fast as the kernel takes
them, never reading its socket (a small receive buffer, so the server's replies back up at
once), for at most ``--seconds``. After the flood the
flooder reads what the server sent, to learn how it ended (its close code, or a cut
connection). The worker's RSS is sampled every 20 ms from before the flood until
``--settle`` seconds after it.

    .venv/bin/python benchmarks/flood.py                  # 1,000,000 pings, daphne + uvicorn
    .venv/bin/python benchmarks/flood.py -n 200000 --servers uvicorn,uvicorn-asyncio

Prints a table and one JSON object per server: frames sent, how sending stopped, the close
code, the peak RSS growth and the growth left after the settle time, and the other
client's ping round trips (p50/p99/max, and pongs that never came).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from benchmarks.common import (
    REDIS_URL,
    SECRET_KEY,
    Child,
    Deadline,
    Template,
    clone_database,
    drop_database,
    end_process,
    get_token,
    install_cleanup,
    json_line,
    log,
    new_prefix,
    percentile,
    print_table,
    require_redis,
    start_workers,
)

PRODUCT_APP = "example_project.asgi:application"
PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
# Each target: the server and its options. uvicorn's defaults are uvloop and the sans-I/O
# websockets protocol; the variants show what each choice does under a flood.
TARGETS: dict[str, tuple[str, list[str]]] = {
    "daphne": ("daphne", []),
    "uvicorn": ("uvicorn", []),
    "uvicorn-asyncio": ("uvicorn", ["--loop", "asyncio"]),
    "uvicorn-ws-legacy": ("uvicorn", ["--ws", "websockets"]),
}
COLUMNS = [
    ("server", "server"),
    ("frames_sent", "frames sent"),
    ("flood_s", "flood s"),
    ("stopped", "stopped"),
    ("close_code", "close"),
    ("read_end", "read end"),
    ("peak_growth_mb", "peak RSS +MB"),
    ("settled_growth_mb", "settled +MB"),
    ("pings", "pings"),
    ("lost", "lost"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("tracebacks", "tracebacks"),
]


def flooder_main(conn: Any, cfg: dict[str, Any]) -> None:
    """Entry point of the flooder process: wait for "go", flood, report."""
    from tests.e2e.flooder import flood

    conn.send(("spawned",))
    conn.recv()
    result = flood(cfg["url"], cfg["frames"], cfg["seconds"])
    conn.send(("done", result.as_dict()))
    conn.recv()  # "exit"


class RssSampler:
    """The worker's resident memory every 20 ms, on a thread: its peak and its last value."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.peak = self.last = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.last = self.process.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, self.last)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


async def pinger(url: str, interval: float, stop: asyncio.Event) -> tuple[list[float], int]:
    """Ping every ``interval`` seconds until ``stop``; round trips in ms, and pongs lost."""
    import websockets

    rtts: list[float] = []
    lost = 0
    async with websockets.connect(url, ping_interval=None, max_size=2**22) as ws:
        await ws.recv()  # the connect ack
        n = 0
        while not stop.is_set():
            n += 1
            request_id = f"other-{n}"
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "ping", "id": request_id}))
            try:
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if reply["data"].get("requestId") == request_id:
                        break
                rtts.append(1000 * (time.perf_counter() - started))
            except TimeoutError:
                lost += 1
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))
    return rtts, lost


async def measure(
    worker_url: str, token: str, flooder: Child, args: argparse.Namespace, sampler_pid: int
) -> dict[str, Any]:
    stop = asyncio.Event()
    ping_task = asyncio.create_task(pinger(f"{worker_url}?token={token}", args.interval, stop))
    await asyncio.sleep(2.0)  # a few undisturbed pings first, and a settled baseline
    sampler = RssSampler(sampler_pid)
    flooder.send("go")
    loop = asyncio.get_running_loop()
    _, flood_result = await loop.run_in_executor(None, flooder.expect, "done", args.seconds + 60)
    flood_ended = sampler.peak
    await asyncio.sleep(args.settle)
    stop.set()
    rtts, lost = await ping_task
    sampler.stop()
    rtts.sort()
    return {
        **{key: flood_result[key] for key in ("frames_sent", "stopped", "close_code", "read_end")},
        "flood_s": flood_result["seconds"],
        "errors_read": flood_result["errors"],
        "replies_read": flood_result["replies"],
        "baseline_rss_mb": sampler.baseline / 2**20,
        "peak_growth_mb": (sampler.peak - sampler.baseline) / 2**20,
        "growth_at_flood_end_mb": (flood_ended - sampler.baseline) / 2**20,
        "settled_growth_mb": (sampler.last - sampler.baseline) / 2**20,
        "pings": len(rtts),
        "lost": lost,
        "p50_ms": percentile(rtts, 50),
        "p99_ms": percentile(rtts, 99),
        "max_ms": rtts[-1] if rtts else float("nan"),
    }


def run_server(
    target: str, args: argparse.Namespace, template: str, log_dir: Path, deadline: Deadline
) -> dict[str, Any]:
    server, options = TARGETS[target]
    prefix = new_prefix("flood" + server)
    db_name, db_url = clone_database(template)
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": REDIS_URL,
        "CHANNEL_LAYER_BACKEND": PUBSUB,
        "CHANNEL_LAYER_PREFIX": prefix,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    workers = []
    flooder: Child | None = None
    try:
        workers = start_workers(server, PRODUCT_APP, env, log_dir, 1, options)
        worker = workers[0]
        token = get_token(worker.port)
        url = f"ws://127.0.0.1:{worker.port}/ws/tigateway"
        flooder = Child(
            f"flooder-{target}",
            flooder_main,
            {"url": f"{url}?token={token}", "frames": args.n, "seconds": args.seconds},
        )
        flooder.expect("spawned", 60)
        record = asyncio.run(measure(url, token, flooder, args, worker.pid))
        record["tracebacks"] = worker.log_tail(10**7).count("Traceback")
        record["worker_alive"] = worker.process.poll() is None
    finally:
        if flooder is not None:
            flooder.stop()
        for worker in workers:
            end_process(worker.process)
        drop_database(db_name)
    return {"kind": "flood", "server": target, "n": args.n, **record}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1_000_000, help="pings the flooder sends")
    parser.add_argument(
        "--servers", default="daphne,uvicorn", help=f"comma-separated, from {','.join(TARGETS)}"
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="longest flood")
    parser.add_argument("--interval", type=float, default=0.2, help="the other client's pace")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds measured after")
    parser.add_argument("--deadline", type=float, default=900.0)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    servers = args.servers.split(",")
    if unknown := [s for s in servers if s not in TARGETS]:
        parser.error(f"unknown servers {unknown}")
    deadline = Deadline(args.deadline)
    install_cleanup()
    require_redis()
    log_dir = Path(tempfile.mkdtemp(prefix="tigw-bench-flood-"))
    template = Template("flood")
    records = []
    failed = False
    try:
        for server in servers:
            if deadline.left() < args.seconds + 60:
                log(f"deadline near: skipping {server}")
                failed = True
                continue
            log(f"{server}: flooding with {args.n:,} pings (at most {args.seconds:.0f}s)")
            try:
                record = run_server(server, args, template.current(), log_dir, deadline)
            except Exception as exc:
                failed = True
                log(f"{server} failed: {type(exc).__name__}: {exc}")
                continue
            json_line(record)
            records.append(record)
    finally:
        template.drop()
        if not args.keep_logs and not failed:
            shutil.rmtree(log_dir, ignore_errors=True)
    print()
    print(f"== a flood of {args.n:,} pings without reading, and another client's pings ==")
    print_table(records, COLUMNS)
    if failed:
        log(f"some runs failed or were skipped; logs kept in {log_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
