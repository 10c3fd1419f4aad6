#!/usr/bin/env python
"""Fan-out benchmark: save-to-socket delivery of route changes, product against baselines.

For each target and run: a fresh PostgreSQL database (cloned from a migrated template), a fresh
channel-layer prefix, 2 worker processes, N sockets split across them by 2 load-generator
processes, a writer process committing K route changes at R per second through the ORM.
Every 10th socket subscribes with a ``routes.status`` filter (["ACTIVE"]); the writer changes
statuses so about half of the changes are excluded for those sockets, and each socket is
checked for exactly the changes it should get.

Targets:
  product-daphne, product-uvicorn   example_project (tigateway_channels), pub/sub layer
  channels-daphne                   plain Channels: consumer per socket, core layer, group_send
  raw-websockets                    ceiling: asyncio websockets server + Redis pub/sub
  raw-asgi-daphne, raw-asgi-uvicorn floor: raw ASGI app doing the same fan-out on each server

Modes: ``fanout`` (default N=1000 K=200 R=20), ``overload`` (K=300, R=100 asked: the writer
reaches what it can, reported as saves/s; 10 "stalled" sockets read nothing until the writer
is done; lost must be 0, or slow sockets closed with a code, reported), ``storm`` (N sockets
connecting at once; how many end subscribed, then 5 changes to check they really receive).

    .venv/bin/python benchmarks/fanout.py                       # all targets, 3 runs
    .venv/bin/python benchmarks/fanout.py --mode storm
    .venv/bin/python benchmarks/fanout.py --mode overload --runs 1
    .venv/bin/python benchmarks/fanout.py --targets product-uvicorn --runs 1 --profile

Prints a table per run and of medians, ratios of the product to each baseline, and one JSON
object per line (``{"kind": "run"|"median"|"ratio"|"profile", ...}``).
"""

from __future__ import annotations

import argparse
import array
import collections
import json
import random
import shutil
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
    machine_busy,
    median_record,
    new_prefix,
    peak_rss_mb,
    percentile,
    postgres_pid,
    print_table,
    process_tree_cpu,
    redis_pid,
    register_process,
    require_redis,
    rss_mb,
    start_workers,
)
from benchmarks.loadgen import client_main
from benchmarks.writer import ROUTE_COUNT, writer_main

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
CORE = "channels_redis.core.RedisChannelLayer"
PRODUCT_APP = "example_project.asgi:application"

TARGETS: dict[str, dict[str, Any]] = {
    "product-daphne": {
        "server": "daphne",
        "app": PRODUCT_APP,
        "writer": "product",
        "layer": PUBSUB,
        "product": True,
    },
    "product-uvicorn": {
        "server": "uvicorn",
        "app": PRODUCT_APP,
        "writer": "product",
        "layer": PUBSUB,
        "product": True,
    },
    "channels-daphne": {
        "server": "daphne",
        "app": "benchmarks.apps.channels_app:application",
        "writer": "channels",
        "layer": CORE,
        "product": False,
    },
    "raw-websockets": {
        "server": "websockets",
        "app": "benchmarks.apps.raw_ws",
        "writer": "raw",
        "layer": PUBSUB,
        "product": False,
    },
    "raw-asgi-daphne": {
        "server": "daphne",
        "app": "benchmarks.apps.raw_asgi:application",
        "writer": "raw",
        "layer": PUBSUB,
        "product": False,
    },
    "raw-asgi-uvicorn": {
        "server": "uvicorn",
        "app": "benchmarks.apps.raw_asgi:application",
        "writer": "raw",
        "layer": PUBSUB,
        "product": False,
    },
}
MODE_DEFAULTS = {
    "fanout": {"n": 1000, "k": 200, "r": 20.0, "targets": list(TARGETS)},
    "overload": {
        "n": 1000,
        "k": 300,
        "r": 100.0,
        "targets": ["product-daphne", "product-uvicorn", "channels-daphne"],
    },
    "storm": {
        "n": 1000,
        "k": 5,
        "r": 5.0,
        "targets": ["product-daphne", "product-uvicorn", "channels-daphne"],
    },
}
STATUSES = ("ACTIVE", "PENDING", "INACTIVE", "ERROR")
FILTER = ["ACTIVE"]
SUBSCRIBE_FILTERED = json.dumps(
    {
        "type": "subscribe",
        "id": "s1",
        "data": {"topics": ["routes"], "filters": {"routes": {"status": FILTER}}},
    }
)


# -- plan -----------------------------------------------------------------------------------


def make_plan(k: int, seed: int) -> tuple[list[str], list[tuple[int, str]], bytes]:
    """Initial statuses, the K (route index, new status) changes, and which of them a socket
    filtered on ``status in FILTER`` must receive (the product also sends a change that moves
    a route out of a filtered status, so subscribers see it leave)."""
    rng = random.Random(seed)
    initial = [rng.choice(STATUSES) for _ in range(ROUTE_COUNT)]
    current = list(initial)
    plan: list[tuple[int, str]] = []
    included = bytearray(k)
    for seq in range(k):
        index = seq % ROUTE_COUNT
        status = rng.choice(STATUSES)
        if status in FILTER or current[index] in FILTER:
            included[seq] = 1
        current[index] = status
        plan.append((index, status))
    return initial, plan, bytes(included)


def socket_specs(
    n: int,
    ports: list[int],
    clients: int,
    product: bool,
    token: str,
    filtered_every: int,
    stalled: int = 0,
) -> list[list[dict[str, Any]]]:
    """Socket j: client process j % clients, worker (j // clients) % workers; every
    ``filtered_every``-th socket of each client/worker pair has the status filter; the last
    ``stalled`` sockets read nothing while the writer runs (slow clients)."""
    per_client: list[list[dict[str, Any]]] = [[] for _ in range(clients)]
    for j in range(n):
        port = ports[(j // clients) % len(ports)]
        filtered = filtered_every > 0 and (j // (clients * len(ports))) % filtered_every == 0
        if product:
            spec = {
                "port": port,
                "path": f"/ws/tigateway?token={token}&subscriptions=routes",
                "subscribe": SUBSCRIBE_FILTERED if filtered else None,
                "filtered": filtered,
            }
        else:
            path = "/ws/tigateway" + ("?status=" + ",".join(FILTER) if filtered else "")
            spec = {"port": port, "path": path, "subscribe": None, "filtered": filtered}
        spec["stall"] = j >= n - stalled
        per_client[j % clients].append(spec)
    return per_client


# -- profile --------------------------------------------------------------------------------


def summarize_profile(path: Path, top: int = 15) -> list[dict[str, Any]]:
    """py-spy raw (collapsed) stacks -> functions by own samples, with their total samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [_short_frame(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    rows = []
    for frame, count in own.most_common(top):
        rows.append(
            {
                "function": frame,
                "own_pct": 100.0 * count / max(samples, 1),
                "total_pct": 100.0 * total[frame] / max(samples, 1),
                "own_samples": count,
            }
        )
    return rows


def _short_frame(frame: str) -> str:
    """'func (path/to/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py:12)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "lib/python3.":
                where = "stdlib/" + where.split("/", 1)[-1]
            break
    return f"{name} ({where})"


def start_profiler(pid: int, duration: int, path: Path) -> subprocess.Popen[bytes]:
    """py-spy record (raw collapsed stacks, not pausing the target) for ``duration`` seconds."""
    pyspy = Path(sys.executable).parent / "py-spy"
    return register_process(
        subprocess.Popen(
            [
                str(pyspy),
                "record",
                "--pid",
                str(pid),
                "--nonblocking",
                "--format",
                "raw",
                "--rate",
                "100",
                "--duration",
                str(duration),
                "--output",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    )


def wait_for_quiet(max_wait: float, threshold: float = 25.0) -> float:
    """Others may run tests on this machine: wait (bounded) until it is mostly idle.
    Returns the busy percentage of the last 1 s sample."""
    end = time.monotonic() + max_wait
    while True:
        busy0, wall0 = machine_busy()
        time.sleep(1.0)
        busy1, wall1 = machine_busy()
        pct = 100.0 * (busy1 - busy0) / ((wall1 - wall0) * _cpu_count())
        if pct < threshold or time.monotonic() > end:
            return pct


# -- one run --------------------------------------------------------------------------------


class RunFailed(Exception):
    pass


def run_target(
    name: str,
    run: int,
    args: argparse.Namespace,
    template: str,
    log_dir: Path,
    deadline: Deadline,
    profile: bool = False,
) -> dict[str, Any]:
    target = TARGETS[name]
    prefix = new_prefix(name.replace("-", ""))
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
    initial, plan, included = make_plan(args.k, seed=1000 + run)
    children: list[Child] = []
    workers = []
    profilers: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        writer_cfg = {
            "env": env,
            "mode": target["writer"],
            "initial_statuses": initial,
            "plan": plan,
            "rate": args.r,
            "redis_url": REDIS_URL,
            "redis_channel": env["BENCH_REDIS_CHANNEL"],
            "idle_timeout": deadline.cap(600),
            "writers": args.writers,
            "writer_index": 0,
        }
        writer = Child(f"writer-{name}", writer_main, writer_cfg)
        children.append(writer)
        writers = [writer]
        workers = start_workers(target["server"], target["app"], env, log_dir, args.workers)
        token = get_token(workers[0].port) if target["product"] else ""
        specs = socket_specs(
            args.n,
            [w.port for w in workers],
            args.clients,
            target["product"],
            token,
            args.filtered_every,
            args.stalled,
        )
        clients = []
        for c, client_specs in enumerate(specs):
            client = Child(
                f"client{c}-{name}",
                client_main,
                {
                    "sockets": client_specs,
                    "k": args.k,
                    "included": included,
                    "included_count": sum(included),
                    "concurrency": args.concurrency,
                    "connect_timeout": args.connect_timeout,
                    "start_timeout": 60,
                    "connect_phase_timeout": deadline.cap(args.connect_timeout * 4 + 30),
                    "progress_interval": 0.25,
                },
            )
            clients.append(client)
            children.append(client)
        for child in clients:
            child.expect("spawned", 60)
        writer.expect("ready", 60)
        for index in range(1, args.writers):  # they load the routes writer 0 created
            extra = Child(
                f"writer{index}-{name}",
                writer_main,
                {**writer_cfg, "create": False, "writer_index": index},
            )
            children.append(extra)
            writers.append(extra)
        for extra in writers[1:]:
            extra.expect("ready", 60)
        rss_idle = [rss_mb(w.pid) for w in workers]
        worker_pids = [w.pid for w in workers]
        cpu_connect0 = process_tree_cpu(worker_pids)
        for child in clients:
            child.send("connect")
        ready = [child.expect("ready", args.connect_timeout * 4 + 60)[1] for child in clients]
        cpu_connect = process_tree_cpu(worker_pids) - cpu_connect0
        subscribed = sum(r["subscribed"] for r in ready)
        failures: collections.Counter[str] = collections.Counter()
        for r in ready:
            failures.update(r["failures"])
        connect_s = max(r["end_wall"] for r in ready) - min(r["start_wall"] for r in ready)
        expected_total = sum(r["expected"] for r in ready)
        rss_connected = [rss_mb(w.pid) for w in workers]
        log(
            f"{name} run {run}: {subscribed}/{args.n} subscribed in {connect_s:.1f}s"
            + (f" failures {dict(failures)}" if failures else "")
        )

        writer.send("warmup", 2)
        writer.expect("warmed", 30)
        time.sleep(1.0)

        rpid = redis_pid()
        client_pids = [c.pid for c in clients]
        cpu0 = process_tree_cpu(worker_pids)
        lg0 = process_tree_cpu(client_pids)
        redis0 = process_tree_cpu([rpid]) if rpid else 0.0
        ppid = postgres_pid()
        pg0 = process_tree_cpu([ppid]) if ppid else 0.0
        busy0, wall0 = machine_busy()
        if profile:
            duration = int(args.k / args.r) + 3
            for role, pid in (("worker", workers[0].pid), ("writer", writers[0].pid)):
                path = log_dir / f"profile-{name}-{role}.txt"
                profilers.append((role, start_profiler(pid, duration, path), path))
        go_at = time.time() + 0.1
        for w in writers:
            w.send("go", go_at)
        send_window = args.k / args.r
        dones = [w.expect("done", deadline.cap(send_window * 4 + 60))[1] for w in writers]
        durations = sorted(d for done in dones for d in done["durations"])
        done = {
            "first_t0": min(d["first_t0"] for d in dones if d["first_t0"]),
            "last_t0": max(d["last_t0"] for d in dones),
            "writer_cpu_s": sum(d["writer_cpu_s"] for d in dones),
            "save_p50_ms": 1000 * percentile(durations, 50),
            "save_p99_ms": 1000 * percentile(durations, 99),
            "max_lag_ms": max(d["max_lag_ms"] for d in dones),
        }
        done["achieved_rate"] = (args.k - 1) / max(done["last_t0"] - done["first_t0"], 1e-9)
        for child in clients:
            child.send("resume")

        # Drain: until every expected frame arrived, or no progress for idle_s, or drain_max.
        drain_end = time.monotonic() + deadline.cap(args.drain_max)
        last_total, last_change = -1, time.monotonic()
        drained = False
        while time.monotonic() < drain_end:
            for child in clients:
                child.pump(0.1)
            total = sum(c.progress[1] for c in clients if c.progress)
            if total >= expected_total:
                drained = True
                break
            if total != last_total:
                last_total, last_change = total, time.monotonic()
            elif time.monotonic() - last_change > args.idle_s:
                break
        cpu1 = process_tree_cpu(worker_pids)
        lg1 = process_tree_cpu(client_pids)
        redis1 = process_tree_cpu([rpid]) if rpid else 0.0
        pg1 = process_tree_cpu([ppid]) if ppid else 0.0
        busy1, wall1 = machine_busy()

        for child in clients:
            child.send("report")
        reports = [child.expect("report", 60)[1] for child in clients]
        peak = [peak_rss_mb(w.pid) for w in workers]
        alive = [w.process.poll() is None for w in workers]

        profile_rows: dict[str, list[dict[str, Any]]] = {}
        for role, proc, path in profilers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                end_process(proc)
            if path.exists() and path.stat().st_size:
                profile_rows[role] = summarize_profile(path)
            else:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                log(f"py-spy produced no profile of the {role}: {err[-500:]}")
    finally:
        for child in children:
            child.stop()
        for worker in workers:
            end_process(worker.process)
        for _, proc, _ in profilers:
            end_process(proc)
        drop_database(db_name)

    latencies = array.array("d")
    latency_seqs = array.array("i")
    for rep in reports:
        latencies.frombytes(rep["latencies"])
        latency_seqs.frombytes(rep["latency_seqs"])
    lat = sorted(latencies)
    # Backlog check: a server that falls behind shows it as later changes waiting longer.
    first_quarter = sorted(
        v for v, q in zip(latencies, latency_seqs, strict=True) if q < args.k // 4
    )
    last_quarter = sorted(
        v for v, q in zip(latencies, latency_seqs, strict=True) if q >= args.k - args.k // 4
    )
    delivered = sum(r["delivered"] for r in reports)
    close_codes: collections.Counter[str] = collections.Counter()
    for rep in reports:
        close_codes.update(rep["close_codes"])
    last_recv = max((r["last_recv"] for r in reports if r["last_recv"]), default=0.0)
    span = (last_recv - done["first_t0"]) if last_recv else float("nan")
    server_cpu = cpu1 - cpu0
    loadgen_cpu = lg1 - lg0
    window = wall1 - wall0
    record = {
        "kind": "run",
        "mode": args.mode,
        "target": name,
        "run": run,
        "n": args.n,
        "k": args.k,
        "r": args.r,
        "subscribed": subscribed,
        "connect_failures": dict(failures),
        "connect_s": connect_s,
        "connect_cpu_ms_per_socket": 1000 * cpu_connect / max(subscribed, 1),
        "expected": sum(r["expected"] for r in reports),
        "delivered": delivered,
        "lost": sum(r["lost"] for r in reports),
        "lost_on_closed": sum(r["lost_closed"] for r in reports),
        "stalled": sum(r["stalled"] for r in reports),
        "dup": sum(r["dup"] for r in reports),
        "filter_wrong": sum(r["wrong"] for r in reports),
        "filter_missing": sum(r["missing_filtered"] for r in reports),
        "filter_errors": sum(r["wrong"] + r["missing_filtered"] for r in reports),
        "closed": sum(r["closed"] for r in reports),
        "close_codes": dict(close_codes),
        "p50_ms": 1000 * percentile(lat, 50),
        "p90_ms": 1000 * percentile(lat, 90),
        "p99_ms": 1000 * percentile(lat, 99),
        "max_ms": 1000 * lat[-1] if lat else float("nan"),
        "p50_first_quarter_ms": 1000 * percentile(first_quarter, 50),
        "p50_last_quarter_ms": 1000 * percentile(last_quarter, 50),
        "deliveries_per_s": delivered / span if span and span > 0 else float("nan"),
        # What the writer really offered: it may not reach R (each save is a DB transaction
        # plus, for the product, its outbox work and publish).
        "offered_per_s": expected_total
        / max(done["last_t0"] - done["first_t0"] + 1 / args.r, 1e-9),
        "server_cpu_s": server_cpu,
        "cpu_us_per_delivery": 1e6 * server_cpu / delivered if delivered else float("nan"),
        "peak_rss_mb": peak,
        "rss_idle_mb": rss_idle,
        "rss_connected_mb": rss_connected,
        "loadgen_cpu_s": loadgen_cpu,
        "loadgen_us_per_delivery": 1e6 * loadgen_cpu / delivered if delivered else float("nan"),
        "writers": args.writers,
        "writer_cpu_s": done["writer_cpu_s"],
        "writer_rate": done["achieved_rate"],
        "writer_max_lag_ms": done["max_lag_ms"],
        "save_p50_ms": done["save_p50_ms"],
        "save_p99_ms": done["save_p99_ms"],
        "redis_cpu_s": redis1 - redis0,
        "machine_cpu_pct": 100.0 * (busy1 - busy0) / (window * _cpu_count()),
        # PostgreSQL (postmaster + all backends; shared with whoever else uses it).
        "postgres_cpu_s": pg1 - pg0,
        # Machine CPU used by none of the above: the kernel (softirq), this orchestrator, and
        # anything else running on the machine, e.g. others' test suites (noise).
        "other_cpu_pct": 100.0
        * (
            busy1
            - busy0
            - server_cpu
            - loadgen_cpu
            - done["writer_cpu_s"]
            - (redis1 - redis0)
            - (pg1 - pg0)
        )
        / (window * _cpu_count()),
        "window_s": window,
        "drained": drained,
        "workers_alive": all(alive),
        "warm_sockets": sum(r["warm_sockets"] for r in reports),
        "other_frames": sum(r["other_frames"] for r in reports),
        "bad_frames": sum(r["bad_frames"] for r in reports),
        "profiled": profile,
    }
    if profile_rows:
        record["profile_top"] = profile_rows
    return record


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


# -- reporting ------------------------------------------------------------------------------


FANOUT_COLUMNS = [
    ("target", "target"),
    ("run", "run"),
    ("subscribed", "subscr"),
    ("delivered", "delivered"),
    ("lost", "lost"),
    ("dup", "dup"),
    ("filter_errors", "flt_err"),
    ("closed", "closed"),
    ("p50_ms", "p50 ms"),
    ("p90_ms", "p90 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("p50_first_quarter_ms", "p50 Q1"),
    ("p50_last_quarter_ms", "p50 Q4"),
    ("deliveries_per_s", "deliv/s"),
    ("offered_per_s", "offered/s"),
    ("cpu_us_per_delivery", "srv us/del"),
    ("peak_rss_mb", "peak RSS MB"),
    ("loadgen_us_per_delivery", "lg us/del"),
    ("machine_cpu_pct", "mach cpu%"),
    ("writer_rate", "saves/s"),
]
STORM_COLUMNS = [
    ("target", "target"),
    ("run", "run"),
    ("n", "sockets"),
    ("subscribed", "subscribed"),
    ("connect_failures", "failures"),
    ("connect_s", "connect s"),
    ("connect_cpu_ms_per_socket", "cpu ms/sock"),
    ("expected", "expected"),
    ("delivered", "delivered"),
    ("lost", "lost"),
    ("closed", "closed"),
    ("peak_rss_mb", "peak RSS MB"),
]
OVERLOAD_COLUMNS = [
    *FANOUT_COLUMNS[:5],
    ("stalled", "stalled"),
    ("lost_on_closed", "lost@closed"),
    *FANOUT_COLUMNS[5:8],
    ("close_codes", "close codes"),
    *FANOUT_COLUMNS[8:],
]

BASELINES = {
    "product-daphne": [
        ("ceiling", "raw-websockets"),
        ("floor", "raw-asgi-daphne"),
        ("plain-channels", "channels-daphne"),
    ],
    "product-uvicorn": [
        ("ceiling", "raw-websockets"),
        ("floor", "raw-asgi-uvicorn"),
        ("plain-channels", "channels-daphne"),
    ],
}


def ratios(medians: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for product, baselines in BASELINES.items():
        if product not in medians:
            continue
        p = medians[product]
        for role, baseline in baselines:
            if baseline not in medians:
                continue
            b = medians[baseline]

            def ratio(key: str, p: dict[str, Any] = p, b: dict[str, Any] = b) -> float:
                return p[key] / b[key] if b.get(key) else float("nan")

            rows.append(
                {
                    "kind": "ratio",
                    "mode": p["mode"],
                    "product": product,
                    "role": role,
                    "baseline": baseline,
                    "cpu_per_delivery": ratio("cpu_us_per_delivery"),
                    "p50": ratio("p50_ms"),
                    "p99": ratio("p99_ms"),
                    "deliveries_per_s": ratio("deliveries_per_s"),
                    "peak_rss": sum(p["peak_rss_mb"]) / sum(b["peak_rss_mb"]),
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=list(MODE_DEFAULTS), default="fanout")
    parser.add_argument(
        "--targets",
        help="comma-separated; default depends on --mode: "
        + "; ".join(f"{m}: {','.join(d['targets'])}" for m, d in MODE_DEFAULTS.items()),
    )
    parser.add_argument("-n", type=int, help="sockets (default 1000)")
    parser.add_argument("-k", type=int, help="route changes (fanout 200, overload 300, storm 5)")
    parser.add_argument("-r", type=float, help="changes per second (fanout 20, overload 100)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--writers",
        type=int,
        default=None,
        help="writer processes sharing the schedule (fanout/storm 1, overload 2); "
        "must divide 20 (each route has one writer)",
    )
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--filtered-every",
        type=int,
        default=10,
        help="every Nth socket filters routes.status=[ACTIVE] (0: none)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="connects in flight per client process (fanout/overload 100, storm: all)",
    )
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument(
        "--idle-s",
        type=float,
        default=5.0,
        help="stop waiting for frames after this long without progress",
    )
    parser.add_argument("--drain-max", type=float, default=180.0)
    parser.add_argument("--deadline", type=float, default=1500.0, help="global deadline, seconds")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one extra run per product target (not in the medians) with py-spy "
        "on its first worker and on the writer",
    )
    parser.add_argument(
        "--stalled",
        type=int,
        default=None,
        help="sockets that read nothing while the writer runs (overload: 10)",
    )
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this long for the machine to be idle",
    )
    args = parser.parse_args()
    defaults = MODE_DEFAULTS[args.mode]
    args.n = args.n or defaults["n"]
    args.k = args.k or defaults["k"]
    args.r = args.r or defaults["r"]
    if args.concurrency is None:
        args.concurrency = 0 if args.mode == "storm" else 100
    if args.writers is None:
        args.writers = 2 if args.mode == "overload" else 1
    if 20 % args.writers:
        parser.error("--writers must divide 20")
    if args.stalled is None:
        args.stalled = 10 if args.mode == "overload" else 0
    if args.mode == "storm" and args.filtered_every == 10:
        args.filtered_every = 0
    targets = args.targets.split(",") if args.targets else defaults["targets"]
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {list(TARGETS)}")

    deadline = Deadline(args.deadline)
    install_cleanup()
    require_redis()
    log_dir = Path(tempfile.mkdtemp(prefix="tigw-bench-"))
    log(
        f"mode {args.mode}: targets {targets}, N={args.n} K={args.k} R={args.r}, "
        f"{args.runs} run(s), logs in {log_dir}"
    )
    template = Template("fanout")
    template.current()
    records: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    columns = {"fanout": FANOUT_COLUMNS, "overload": OVERLOAD_COLUMNS, "storm": STORM_COLUMNS}[
        args.mode
    ]
    failed = False
    profiles: list[dict[str, Any]] = []
    try:
        jobs = [(run, t, False) for run in range(1, args.runs + 1) for t in targets]
        if args.profile:
            jobs += [(0, t, True) for t in targets if TARGETS[t]["product"]]
        for run, name, profile in jobs:
            if deadline.left() < 60:
                log(f"deadline near: skipping {name} run {run}")
                failed = True
                continue
            busy = wait_for_quiet(min(args.quiet_wait, max(0.0, deadline.left() - 120)))
            log(
                f"{name} run {run}{' (profiled)' if profile else ''}: machine {busy:.0f}% busy "
                "before the run"
            )
            try:
                record = run_target(name, run, args, template.current(), log_dir, deadline, profile)
            except Exception as exc:
                failed = True
                log(f"{name} run {run} failed: {type(exc).__name__}: {exc}")
                continue
            record["busy_before_pct"] = busy
            top = record.pop("profile_top", None)
            json_line(record)
            print_table([record], columns)
            if profile:
                for role, rows in (top or {}).items():
                    profiles.append(
                        {"kind": "profile", "target": name, "process": role, "top": rows}
                    )
                continue
            records[name].append(record)
    finally:
        template.drop()
        if not args.keep_logs and not failed:
            shutil.rmtree(log_dir, ignore_errors=True)

    print()
    print(f"== {args.mode}: each run (N={args.n} K={args.k} R={args.r}) ==")
    print_table([r for t in targets for r in records[t]], columns)
    medians: dict[str, dict[str, Any]] = {}
    for name in targets:
        if records[name]:
            med = median_record(records[name])
            med.update({"kind": "median", "run": f"med{len(records[name])}"})
            medians[name] = med
    print()
    print(f"== {args.mode}: medians across runs ==")
    print_table(list(medians.values()), columns)
    for med in medians.values():
        json_line(med)
    if args.mode != "storm":
        rows = ratios(medians)
        if rows:
            print()
            print("== product / baseline (medians; <1 means the product is lower) ==")
            print_table(
                rows,
                [
                    ("product", "product"),
                    ("role", "vs"),
                    ("baseline", "baseline"),
                    ("cpu_per_delivery", "cpu/deliv"),
                    ("p50", "p50"),
                    ("p99", "p99"),
                    ("deliveries_per_s", "deliv/s"),
                    ("peak_rss", "peak RSS"),
                ],
            )
            for row in rows:
                json_line(row)
    for prof in profiles:
        print()
        which = "worker 0" if prof["process"] == "worker" else "writer (ORM saves + publish)"
        print(f"== py-spy top 15 by own samples: {prof['target']} {which} ==")
        print_table(
            prof["top"], [("own_pct", "%own"), ("total_pct", "%total"), ("function", "function")]
        )
        json_line(prof)
    if failed:
        log(f"some runs failed or were skipped; logs kept in {log_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
