"""Shared plumbing of the benchmark scripts: deadline, processes, databases, measurements.

Everything a script starts is registered here and ended by PID on exit (normal, exception,
SIGINT/SIGTERM, or the hard deadline); every PostgreSQL database it creates is dropped, and the
Redis keys under its channel-layer prefixes are deleted.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from tests.processes import POSTGRES_URL, REDIS_URL, free_port, manage, require_redis  # noqa: E402

# One key per benchmark run: the example project refuses its built-in key with DEBUG off.
SECRET_KEY = secrets.token_urlsafe(50)

PYTHON = sys.executable
ADMIN_USER = "bench-admin"
ADMIN_PASSWORD = "bench-password-123"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_nofile() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to its hard limit; return the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- deadline and cleanup -------------------------------------------------------------------


class Deadline:
    """A global deadline. ``left()`` is what remains; a watchdog hard-stops after ``grace``."""

    def __init__(self, seconds: float, grace: float = 90.0) -> None:
        self.start = time.monotonic()
        self.end = self.start + seconds
        self.seconds = seconds
        timer = threading.Timer(seconds + grace, self._hard_stop)
        timer.daemon = True
        timer.start()

    def left(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.left() <= 0

    def cap(self, timeout: float) -> float:
        """``timeout``, shortened to what remains of the deadline (never below 1 s)."""
        return max(1.0, min(timeout, self.left()))

    def _hard_stop(self) -> None:
        log(f"hard deadline ({self.seconds:.0f}s + grace) passed: cleaning up and exiting")
        cleanup()
        os._exit(3)


_processes: list[Any] = []  # subprocess.Popen or multiprocessing.Process
_databases: list[str] = []
_redis_prefixes: list[str] = []
_cleanup_lock = threading.Lock()


def register_process(process: Any) -> Any:
    _processes.append(process)
    return process


def end_process(process: Any, grace: float = 5.0) -> None:
    """End one process we started, by its PID: SIGTERM, then SIGKILL after ``grace``."""
    with contextlib.suppress(Exception):
        if isinstance(process, subprocess.Popen):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        else:  # multiprocessing.Process
            if process.is_alive():
                process.terminate()
                process.join(grace)
                if process.is_alive():
                    process.kill()
                    process.join(5)
    with contextlib.suppress(ValueError):
        _processes.remove(process)


def cleanup() -> None:
    with _cleanup_lock:
        for process in list(_processes):
            end_process(process, grace=3.0)
        for name in list(_databases):
            drop_database(name)
        if _redis_prefixes:
            delete_redis_prefixes(list(_redis_prefixes))
            _redis_prefixes.clear()


def install_cleanup() -> None:
    atexit.register(cleanup)

    def on_signal(signum: int, frame: Any) -> None:
        log(f"signal {signum}: cleaning up")
        cleanup()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


# -- PostgreSQL -----------------------------------------------------------------------------


def _admin() -> psycopg.Connection:
    return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)


def _database_url(name: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


def create_template(tag: str) -> str:
    """A migrated database with the admin user; cloned (fast) for each run, dropped at exit."""
    name = f"tigw_bench_{tag}_tmpl_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _databases.append(name)
    env = {
        "DATABASE_URL": _database_url(name),
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
    }
    manage("migrate", "--noinput", env=env)
    manage("tigateway_admin", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD, env=env)
    return name


def migrations_fingerprint() -> str:
    """Changes when a migration of the product is added or edited (others work on it too)."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted((ROOT / "tigateway_channels" / "migrations").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class Template:
    """The migrated template database, re-created when the product's migrations change."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.name = ""
        self.fingerprint = ""

    def current(self) -> str:
        fingerprint = migrations_fingerprint()
        if fingerprint != self.fingerprint:
            if self.name:
                log("the product's migrations changed: migrating a new template database")
                drop_database(self.name)
            self.name = create_template(self.tag)
            self.fingerprint = fingerprint
        return self.name

    def drop(self) -> None:
        if self.name:
            drop_database(self.name)
            self.name = ""


def clone_database(template: str) -> tuple[str, str]:
    name = f"tigw_bench_run_{uuid.uuid4().hex[:10]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    _databases.append(name)
    return name, _database_url(name)


def drop_database(name: str) -> None:
    try:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as exc:
        log(f"could not drop database {name}: {exc}")
        return
    with contextlib.suppress(ValueError):
        _databases.remove(name)


# -- Redis ----------------------------------------------------------------------------------


def new_prefix(tag: str) -> str:
    prefix = f"tigw-bench-{tag}-{uuid.uuid4().hex[:8]}"
    _redis_prefixes.append(prefix)
    return prefix


def delete_redis_prefixes(prefixes: list[str]) -> None:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i : i + 500])
    except redis.RedisError as exc:
        log(f"could not delete Redis keys: {exc}")


def postgres_pid() -> int | None:
    """The postmaster: backends are its children, so its tree CPU covers every backend,
    including those that exited (reaped children). Read only; it may serve others too."""
    for proc in psutil.process_iter(["name", "ppid"]):
        if proc.info["name"] == "postgres":
            try:
                if psutil.Process(proc.info["ppid"]).name() != "postgres":
                    return proc.pid
            except psutil.Error:
                continue
    return None


def redis_pid() -> int | None:
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith("redis-server"):
            return proc.pid
    return None


# -- worker processes -----------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _raise_nofile_in_child() -> None:
    raise_nofile()


def worker_command(server: str, app: str, port: int, options: list[str] | None = None) -> list[str]:
    """The command of one worker; ``options`` are passed to the server before the app."""
    options = options or []
    if server == "daphne":
        return [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *options, app]
    if server == "uvicorn":
        return [
            PYTHON,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            *options,
            app,
        ]
    if server == "websockets":  # our raw server: app is a module run with -m
        return [PYTHON, "-m", app, "--port", str(port)]
    raise ValueError(server)


def launch_worker(
    server: str, app: str, env: dict[str, str], log_dir: Path, options: list[str] | None = None
) -> Worker:
    """Start one worker (RLIMIT_NOFILE raised to the hard limit) without waiting for it."""
    port = free_port()
    log_path = log_dir / f"{server}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            worker_command(server, app, port, options),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_nofile_in_child,
        )
    register_process(process)
    return Worker(f"{server}:{port}", port, process, log_path)


def wait_listening(worker: Worker, timeout: float = 30.0) -> None:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if worker.process.poll() is not None:
            break
        address = ("127.0.0.1", worker.port)
        with contextlib.suppress(OSError), socket.create_connection(address, 0.2):
            return
        time.sleep(0.05)
    end_process(worker.process)
    raise RuntimeError(f"{worker.name} did not listen:\n{worker.log_tail()}")


def start_workers(
    server: str,
    app: str,
    env: dict[str, str],
    log_dir: Path,
    count: int,
    options: list[str] | None = None,
) -> list[Worker]:
    workers = [launch_worker(server, app, env, log_dir, options) for _ in range(count)]
    try:
        for worker in workers:
            wait_listening(worker)
    except BaseException:
        for worker in workers:
            end_process(worker.process)
        raise
    return workers


def get_token(port: int, timeout: float = 15.0) -> str:
    """A JWT access token of the benchmark admin, from POST /api/token/ of a product worker."""
    body = json.dumps({"username": ADMIN_USER, "password": ADMIN_PASSWORD}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/token/",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["access"]


# -- measurements ---------------------------------------------------------------------------


def process_tree_cpu(pids: list[int]) -> float:
    """user+system CPU seconds of these processes and their live and reaped children."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    ct = child.cpu_times()
                    total += ct.user + ct.system
        except psutil.Error:
            pass
    return total


def machine_busy() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, wall time)."""
    times = psutil.cpu_times()
    busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    return busy, time.monotonic()


def rss_mb(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total / 2**20
    except psutil.Error:
        return float("nan")


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of resident memory (VmHWM) of one process."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(sorted_values: Any, q: float) -> float:
    if not len(sorted_values):
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return float(sorted_values[index])


def median_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-wise median of numeric fields (lists: element-wise); other fields from the first."""
    out: dict[str, Any] = {}
    for key in records[0]:
        values = [r.get(key) for r in records]
        if all(isinstance(v, bool) for v in values):
            out[key] = values[0] if len(set(values)) == 1 else values
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            clean = [v for v in values if v == v]  # drop NaN
            out[key] = statistics.median(clean) if clean else float("nan")
        elif (
            all(
                isinstance(v, list) and v and all(isinstance(x, int | float) for x in v)
                for v in values
            )
            and len({len(v) for v in values}) == 1
        ):
            out[key] = [statistics.median(col) for col in zip(*values, strict=True)]
        elif all(isinstance(v, dict) for v in values):  # counts by kind: summed over runs
            merged: dict[str, int] = {}
            for v in values:
                for code, count in v.items():
                    merged[code] = merged.get(code, 0) + count
            out[key] = merged
        else:
            out[key] = values[0]
    return out


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if 0 < abs(value) < 0.1:
            return f"{value:.2g}"
        return f"{value:.{digits}f}"
    if isinstance(value, list):
        return "/".join(fmt(v, 0) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items()) or "-"
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Print rows as an aligned text table; ``columns`` are (key, heading)."""
    cells = [[heading for _, heading in columns]]
    for row in rows:
        cells.append([fmt(row.get(key)) for key, _ in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for n, r in enumerate(cells):
        pairs = enumerate(zip(r, widths, strict=True))
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def json_line(record: dict[str, Any]) -> None:
    def clean(v: Any) -> Any:
        if isinstance(v, float):
            return None if v != v else round(v, 3)
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    print(json.dumps(clean(record)), flush=True)


__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "PYTHON",
    "REDIS_URL",
    "ROOT",
    "Deadline",
    "Worker",
    "clone_database",
    "create_template",
    "drop_database",
    "end_process",
    "get_token",
    "install_cleanup",
    "json_line",
    "log",
    "machine_busy",
    "median_record",
    "new_prefix",
    "peak_rss_mb",
    "percentile",
    "postgres_pid",
    "print_table",
    "process_tree_cpu",
    "raise_nofile",
    "redis_pid",
    "register_process",
    "require_redis",
    "rss_mb",
    "start_workers",
]


# -- multiprocessing children (load generators, writer) -------------------------------------


class Child:
    """A spawned Python process with a Pipe; ``expect`` waits, bounded, for one message kind."""

    def __init__(self, name: str, target: Any, cfg: dict[str, Any]) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.name = name
        self.proc = ctx.Process(target=target, args=(child_conn, cfg), daemon=True, name=name)
        self.proc.start()
        child_conn.close()
        register_process(self.proc)
        self.progress: tuple[Any, ...] | None = None
        self.inbox: list[tuple[Any, ...]] = []
        self.eof = False

    @property
    def pid(self) -> int:
        return self.proc.pid  # type: ignore[return-value]

    def send(self, *message: Any) -> None:
        self.conn.send(message)

    def pump(self, timeout: float = 0.0) -> None:
        """Read what has arrived (waiting up to ``timeout`` for the first message)."""
        try:
            ready = self.conn.poll(timeout)
            while ready:
                message = self.conn.recv()
                if message[0] == "progress":
                    self.progress = message
                else:
                    self.inbox.append(message)
                ready = self.conn.poll(0)
        except (EOFError, OSError):
            self.eof = True

    def expect(self, kind: str, timeout: float) -> tuple[Any, ...]:
        end = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.inbox):
                if message[0] == kind:
                    return self.inbox.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {kind!r} within {timeout:.0f}s")
            if self.eof or not self.proc.is_alive():
                self.pump(0)
                if any(message[0] == kind for message in self.inbox):
                    continue
                self.proc.join(1)
                raise RuntimeError(f"{self.name} exited ({self.proc.exitcode}) before {kind!r}")
            self.pump(min(left, 0.5))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.send("exit")
        self.proc.join(3)
        end_process(self.proc, grace=2.0)
        with contextlib.suppress(Exception):
            self.conn.close()
