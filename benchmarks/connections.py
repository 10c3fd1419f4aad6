#!/usr/bin/env python
"""Idle-connection benchmark: memory per socket and time to connect N sockets to ONE worker.

For each target: a fresh PostgreSQL database and channel-layer prefix, one worker process with
RLIMIT_NOFILE raised to its hard limit, 20 warm-up sockets (the worker's lazily started parts:
hub, Redis subscription, DB connection), then N authenticated sockets subscribed to ``routes``
(product: JWT in ``?token=``, ``subscriptions=routes``, counted when the connect ack lists
["routes"]) opened by several load-generator processes with a bounded number of handshakes in
flight each. Reports the time to connect them all, the worker's RSS delta / N (memory per
connection), its CPU per connect, its idle CPU while holding them, and its peak RSS.

    .venv/bin/python benchmarks/connections.py                   # 10,000 sockets, daphne + uvicorn
    .venv/bin/python benchmarks/connections.py -n 2000 --targets product-uvicorn,raw-asgi-uvicorn

Prints a table and one JSON object per target per run (plus medians with --runs > 1).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    median_record,
    new_prefix,
    peak_rss_mb,
    print_table,
    process_tree_cpu,
    raise_nofile,
    require_redis,
    rss_mb,
    start_workers,
)
from benchmarks.fanout import TARGETS, start_profiler, summarize_profile, wait_for_quiet
from benchmarks.loadgen import client_main

WARM_SOCKETS = 20
COLUMNS = [
    ("target", "target"),
    ("run", "run"),
    ("n", "sockets"),
    ("subscribed", "subscribed"),
    ("failures", "failures"),
    ("connect_s", "connect s"),
    ("connects_per_s", "conn/s"),
    ("rss_before_mb", "RSS before MB"),
    ("rss_after_mb", "RSS after MB"),
    ("kib_per_connection", "KiB/conn"),
    ("peak_rss_mb", "peak RSS MB"),
    ("cpu_ms_per_connect", "cpu ms/conn"),
    ("idle_cpu_pct", "idle cpu%"),
    ("closed_while_idle", "closed idle"),
]


def specs_for(n: int, port: int, product: bool, token: str) -> list[dict[str, Any]]:
    path = f"/ws/tigateway?token={token}&subscriptions=routes" if product else "/ws/tigateway"
    return [{"port": port, "path": path, "subscribe": None, "filtered": False} for _ in range(n)]


def client_cfg(
    specs: list[dict[str, Any]], concurrency: int, timeout: float, deadline: Deadline
) -> dict[str, Any]:
    return {
        "sockets": specs,
        "k": 1,
        "included": b"\x00",
        "included_count": 0,
        "concurrency": concurrency,
        "connect_timeout": timeout,
        "start_timeout": 60,
        "connect_phase_timeout": deadline.cap(900),
        "progress_interval": 0.5,
    }


def run_target(
    name: str, run: int, args: argparse.Namespace, template: str, log_dir: Path, deadline: Deadline
) -> dict[str, Any]:
    target = TARGETS[name]
    prefix = new_prefix("conn" + name.replace("-", ""))
    db_name, db_url = clone_database(template)
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": REDIS_URL,
        "CHANNEL_LAYER_BACKEND": target["layer"],
        "CHANNEL_LAYER_PREFIX": prefix,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
        "BENCH_REDIS_CHANNEL": f"{prefix}:routes",
    }
    children: list[Child] = []
    workers = []
    try:
        workers = start_workers(target["server"], target["app"], env, log_dir, 1)
        worker = workers[0]
        token = get_token(worker.port) if target["product"] else ""
        warm = Child(
            f"warm-{name}",
            client_main,
            client_cfg(
                specs_for(WARM_SOCKETS, worker.port, target["product"], token),
                0,
                args.connect_timeout,
                deadline,
            ),
        )
        children.append(warm)
        clients = []
        share, extra = divmod(args.n, args.clients)
        for c in range(args.clients):
            count = share + (1 if c < extra else 0)
            child = Child(
                f"client{c}-{name}",
                client_main,
                client_cfg(
                    specs_for(count, worker.port, target["product"], token),
                    args.concurrency,
                    args.connect_timeout,
                    deadline,
                ),
            )
            clients.append(child)
            children.append(child)
        warm.expect("spawned", 60)
        warm.send("connect")
        warm_ready = warm.expect("ready", 120)[1]
        for child in clients:
            child.expect("spawned", 60)
        time.sleep(1.0)
        rss_before = rss_mb(worker.pid)
        profile_path = log_dir / f"profile-connect-{name}.txt"
        profiler = start_profiler(worker.pid, 900, profile_path) if args.profile else None
        cpu0 = process_tree_cpu([worker.pid])
        for child in clients:
            child.send("connect")
        ready = [child.expect("ready", deadline.cap(900))[1] for child in clients]
        cpu1 = process_tree_cpu([worker.pid])
        profile_top: list[dict[str, Any]] = []
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                profiler.wait(30)
            except subprocess.TimeoutExpired:
                end_process(profiler)
            if profile_path.exists() and profile_path.stat().st_size:
                profile_top = summarize_profile(profile_path)
        subscribed = sum(r["subscribed"] for r in ready)
        failures: collections.Counter[str] = collections.Counter()
        for r in ready:
            failures.update(r["failures"])
        connect_s = max(r["end_wall"] for r in ready) - min(r["start_wall"] for r in ready)
        log(
            f"{name}: {subscribed}/{args.n} subscribed in {connect_s:.1f}s"
            + (f" failures {dict(failures)}" if failures else "")
        )
        time.sleep(args.settle)
        cpu2 = process_tree_cpu([worker.pid])
        rss_after = rss_mb(worker.pid)
        peak = peak_rss_mb(worker.pid)
        for child in clients:
            child.pump(0.6)
        closed = sum(c.progress[3] for c in clients if c.progress)
        alive = worker.process.poll() is None
    finally:
        for child in children:
            child.stop()
        for worker in workers:
            end_process(worker.process)
        drop_database(db_name)
    return {
        "kind": "run",
        "target": name,
        "run": run,
        "n": args.n,
        "clients": args.clients,
        "concurrency": args.concurrency,
        "warm_subscribed": warm_ready["subscribed"],
        "subscribed": subscribed,
        "failures": dict(failures),
        "connect_s": connect_s,
        "connects_per_s": subscribed / connect_s if connect_s else float("nan"),
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "kib_per_connection": 1024 * (rss_after - rss_before) / max(subscribed, 1),
        "peak_rss_mb": peak,
        "cpu_ms_per_connect": 1000 * (cpu1 - cpu0) / max(subscribed, 1),
        "idle_cpu_pct": 100 * (cpu2 - cpu1) / args.settle,
        "closed_while_idle": closed,
        "worker_alive": alive,
        "profile_top": profile_top,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=10_000, help="sockets to one worker")
    parser.add_argument(
        "--targets",
        default="product-daphne,product-uvicorn",
        help=f"comma-separated, from {','.join(TARGETS)}",
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--clients", type=int, default=4, help="load-generator processes")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=50,
        help="handshakes in flight per load-generator process",
    )
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds to hold the sockets idle before measuring",
    )
    parser.add_argument("--deadline", type=float, default=1200.0)
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the worker during the connect phase; print the top 15",
    )
    args = parser.parse_args()
    targets = args.targets.split(",")
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}")
    deadline = Deadline(args.deadline)
    install_cleanup()
    require_redis()
    log(f"RLIMIT_NOFILE here: {raise_nofile()}")
    log_dir = Path(tempfile.mkdtemp(prefix="tigw-bench-conn-"))
    template = Template("conn")
    records: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    failed = False
    profiles: list[dict[str, Any]] = []
    try:
        for run in range(1, args.runs + 1):
            for name in targets:
                if deadline.left() < 90:
                    log(f"deadline near: skipping {name} run {run}")
                    failed = True
                    continue
                busy = wait_for_quiet(min(args.quiet_wait, max(0.0, deadline.left() - 150)))
                log(f"{name} run {run}: {args.n} sockets (machine {busy:.0f}% busy before)")
                try:
                    record = run_target(name, run, args, template.current(), log_dir, deadline)
                except Exception as exc:
                    failed = True
                    log(f"{name} run {run} failed: {type(exc).__name__}: {exc}")
                    continue
                record["busy_before_pct"] = busy
                top = record.pop("profile_top")
                json_line(record)
                records[name].append(record)
                if top:
                    profiles.append(
                        {"kind": "profile", "target": name, "phase": "connect", "top": top}
                    )
    finally:
        template.drop()
        if not args.keep_logs and not failed:
            shutil.rmtree(log_dir, ignore_errors=True)
    print()
    print(f"== idle connections to one worker (N={args.n}) ==")
    print_table([r for t in targets for r in records[t]], COLUMNS)
    if args.runs > 1:
        medians = []
        for name in targets:
            if records[name]:
                med = median_record(records[name])
                med.update({"kind": "median", "run": f"med{len(records[name])}"})
                medians.append(med)
                json_line(med)
        print()
        print("== medians ==")
        print_table(medians, COLUMNS)
    for prof in profiles:
        print()
        print(f"== py-spy top 15 by own samples: {prof['target']} worker while connecting ==")
        print_table(
            prof["top"], [("own_pct", "%own"), ("total_pct", "%total"), ("function", "function")]
        )
        json_line(prof)
    if failed:
        log(f"some runs failed or were skipped; logs kept in {log_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
