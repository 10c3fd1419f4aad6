"""Gateway data plane benchmark: the same upstream reached directly, through nginx, through a
minimal Python proxy and through the gateway with 10, 1,000 and 10,000 routes; then the
propagation of route changes to two gateway processes.

    python -m benchmarks.gateway [--seconds 2] [--rounds 5] [--connections 32] [--changes 50]

Everything runs on loopback, one process each (upstream: uvicorn; nginx: one worker; the
minimal proxy and the gateway: uvicorn, one worker), so the ratios compare like with like on
this machine. nginx is Debian's, installed when missing (``apt-get install -y nginx``) and run
as a process of our own (config in a temp dir, a loopback port, stopped by PID).

All six targets run side by side and are measured in turn, ``--rounds`` times (the median of
each figure is reported), so a change in the machine's load affects them alike. For each:
requests/s and p50/p99 latency at ``--connections`` concurrent keep-alive connections, and
p50/p99 on one connection (requests one after the other), whose p50 minus the direct one is the
latency a proxy adds. Propagation is measured with 10 and with 10,000 routes.

Targets (docs/gateway.md): the gateway's added p50 within 1.5x of the minimal proxy's;
throughput at 10,000 routes within 10% of 10 routes; propagation p99 under 100 ms; throughput
with request recording (docs/observability.md) within 5% of the same gateway without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PYTHON,
    REDIS_URL,
    ROOT,
    SECRET_KEY,
    Deadline,
    Worker,
    clone_database,
    create_template,
    end_process,
    install_cleanup,
    launch_worker,
    log,
    median_record,
    new_prefix,
    print_table,
    register_process,
    wait_listening,
)
from tests.processes import free_port, manage

SEED = """
from tigateway_channels.models import Route
have = Route.objects.filter(id__startswith="svc").count()
Route.objects.bulk_create([
    Route(id=f"svc{{i}}", uri="http://127.0.0.1:{upstream}", predicates=[f"Path=/svc{{i}}/**"],
          filters=["StripPrefix=1"], order=i % 100)
    for i in range(have, {count})
])
"""


def ensure_nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if found:
        return found
    log("nginx is missing: apt-get update && apt-get install -y nginx")
    # RUNLEVEL=1: the package's init script must not start a system nginx we did not ask for.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    subprocess.run(
        "apt-get update -q && apt-get install -y -q nginx",
        shell=True,
        env=env,
        check=True,
        stdout=sys.stderr,
    )
    return shutil.which("nginx") or "/usr/sbin/nginx"


def start_nginx(binary: str, upstream: int, log_dir: Path) -> Worker:
    port = free_port()
    prefix = Path(tempfile.mkdtemp(prefix="tigw-nginx-"))
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    user = "user root;" if os.geteuid() == 0 else ""
    config = f"""
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    upstream backend {{ server 127.0.0.1:{upstream}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""
    (prefix / "nginx.conf").write_text(config)
    log_path = log_dir / f"nginx-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    register_process(process)
    worker = Worker(f"nginx:{port}", port, process, log_path)
    wait_listening(worker)
    return worker


def start_gateway(env: dict[str, str], log_dir: Path, timeout: float = 120.0) -> Worker:
    port = free_port()
    log_path = log_dir / f"gateway-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [PYTHON, "manage.py", "tigateway_gateway", "--port", str(port), "--workers", "1"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    register_process(process)
    worker = Worker(f"gateway:{port}", port, process, log_path)
    wait_listening(worker, timeout)
    return worker


def load(port: int, paths: list[str], connections: int, seconds: float) -> dict[str, Any]:
    result = subprocess.run(
        [
            PYTHON, "-m", "benchmarks.gateway_load", "--port", str(port),
            "--paths", ",".join(paths), "--connections", str(connections),
            "--seconds", str(seconds),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=seconds * 3 + 60, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(targets: list[tuple[str, int, list[str]]], args: argparse.Namespace) -> list[dict]:
    """Every target in turn, ``--rounds`` times, so a change in the machine's background load
    hits them all alike; each figure is the median of its rounds."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in targets}
    for round_number in range(args.rounds):
        for name, port, paths in targets:
            log(f"round {round_number + 1}/{args.rounds}: {name}")
            single = load(port, paths, 1, args.seconds)
            many = load(port, paths, args.connections, args.seconds)
            runs[name].append(
                {
                    "target": name,
                    "rps": many["rps"],
                    "p50_us": many["p50_us"],
                    "p99_us": many["p99_us"],
                    "p50_1_us": single["p50_us"],
                    "p99_1_us": single["p99_us"],
                    "errors": many["errors"] + single["errors"],
                }
            )
    rows = []
    for name, _, _ in targets:
        row = median_record(runs[name])
        row["errors"] = sum(run["errors"] for run in runs[name])
        rows.append(row)
    return rows


def propagation(gateways: list[Worker], upstream: int, env: dict[str, str], changes: int) -> dict:
    result = subprocess.run(
        [
            PYTHON, "-m", "benchmarks.gateway_propagation",
            "--ports", ",".join(str(g.port) for g in gateways),
            "--upstream", str(upstream), "--changes", str(changes),
        ],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"propagation run failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def spread(count: int, samples: int = 64) -> list[str]:
    step = max(1, count // samples)
    return [f"/svc{i}/__ok" for i in range(0, count, step)][:samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per run (2)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per target (5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    install_cleanup()
    Deadline(1500)
    log_dir = Path(tempfile.mkdtemp(prefix="tigw-gateway-bench-"))
    nginx_binary = ensure_nginx()
    upstream = launch_worker("uvicorn", "tests.e2e.gateway_upstream:app", {}, log_dir)
    wait_listening(upstream)
    nginx = start_nginx(nginx_binary, upstream.port, log_dir)
    proxy = launch_worker(
        "uvicorn",
        "benchmarks.apps.min_proxy:app",
        {"MIN_PROXY_UPSTREAM": f"http://127.0.0.1:{upstream.port}"},
        log_dir,
    )
    wait_listening(proxy)
    template = create_template("gw")
    targets = [
        ("direct", upstream.port, ["/__ok"]),
        ("nginx", nginx.port, ["/__ok"]),
        ("minimal Python proxy", proxy.port, ["/__ok"]),
    ]
    envs: dict[int, dict[str, str]] = {}
    gateways: dict[int, Worker] = {}
    for count in (10, 1_000, 10_000):
        _, database_url = clone_database(template)
        env = envs[count] = {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "CHANNEL_LAYER_PREFIX": new_prefix("gw"),
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "TIGATEWAY_LOG_LEVEL": "WARNING",
        }
        manage("shell", "-c", SEED.format(upstream=upstream.port, count=count), env=env)
        started = time.monotonic()
        gateways[count] = start_gateway(env, log_dir)
        log(f"gateway with {count} routes listening after {time.monotonic() - started:.1f}s")
        targets.append((f"gateway, {count:,} routes", gateways[count].port, spread(count)))
    # The same 10-route gateway with request recording off: what recording costs.
    unrecorded = start_gateway(
        {**envs[10], "TIGATEWAY_CHANNELS_JSON": json.dumps({"GATEWAY_RECORD_REQUESTS": False})},
        log_dir,
    )
    targets.append((UNRECORDED, unrecorded.port, spread(10)))
    rows = measure(targets, args)
    for worker in (nginx, proxy, gateways[1_000], unrecorded):
        end_process(worker.process)
    spread_out = {}
    for count in (10, 10_000):
        pair = [gateways[count], start_gateway(envs[count], log_dir)]
        log(f"propagation: {args.changes} route changes to 2 gateway processes, {count:,} routes")
        spread_out[count] = propagation(pair, upstream.port, envs[count], args.changes)
        for worker in pair:
            end_process(worker.process)
    report(rows, spread_out, args)


UNRECORDED = "gateway, 10 routes, recording off"


def report(
    rows: list[dict[str, Any]], spread_out: dict[int, dict[str, Any]], args: argparse.Namespace
) -> None:
    direct = rows[0]["p50_1_us"]
    for row in rows:
        row["added_us"] = row["p50_1_us"] - direct if row is not rows[0] else 0.0
    print()
    print(
        f"Gateway benchmark ({args.connections} connections for throughput, 1 for added "
        f"latency; median of {args.rounds} rounds of {args.seconds:g}s; {os.cpu_count()} cores)"
    )
    print_table(
        rows,
        [
            ("target", "target"),
            ("rps", f"req/s ({args.connections} conn)"),
            ("p50_us", "p50 us"),
            ("p99_us", "p99 us"),
            ("p50_1_us", "p50 us (1 conn)"),
            ("p99_1_us", "p99 us (1 conn)"),
            ("added_us", "added p50 us"),
            ("errors", "errors"),
        ],
    )
    by = {row["target"]: row for row in rows}
    minimal = by["minimal Python proxy"]["added_us"]
    g10, g10k = by["gateway, 10 routes"], by["gateway, 10,000 routes"]
    latency_ratio = g10["added_us"] / minimal if minimal > 0 else float("nan")
    latency_ratio_10k = g10k["added_us"] / minimal if minimal > 0 else float("nan")
    throughput_ratio = g10k["rps"] / g10["rps"]
    recording_ratio = g10["rps"] / by[UNRECORDED]["rps"]
    print()
    print(f"gateway added p50 / minimal proxy added p50: {latency_ratio:.2f} (10 routes), "
          f"{latency_ratio_10k:.2f} (10,000 routes); target <= 1.5")  # fmt: skip
    print(f"gateway throughput 10,000 routes / 10 routes: {throughput_ratio:.3f}; target >= 0.90")
    print(f"gateway throughput with request recording / without: {recording_ratio:.3f}; "
          "target >= 0.95")  # fmt: skip
    print(f"gateway throughput / nginx: {g10['rps'] / by['nginx']['rps']:.2f}; "
          f"/ minimal proxy: {g10['rps'] / by['minimal Python proxy']['rps']:.2f}")  # fmt: skip
    for count, found in spread_out.items():
        print(
            f"propagation of {found['changes']} route changes to 2 gateway processes "
            f"({count:,} routes): p50 {found['p50_ms']:.1f} ms, p99 {found['p99_ms']:.1f} ms, "
            f"max {found['max_ms']:.1f} ms (slowest: {found['slowest_ms']}); target p99 < 100 ms"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
