"""Real services for cross-process tests: PostgreSQL databases, Redis, worker processes.

Nothing here skips: a missing service fails the test with what to start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TIGW_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TIGW_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise RuntimeError(
            f"Redis is not reachable at {REDIS_URL} ({exc}); start it (see .ci/run)"
        ) from None


def _admin_connection() -> psycopg.Connection:
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}); start it (see .ci/run)"
        ) from None


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database; dropped afterwards."""
    name = f"tigw_e2e_{uuid.uuid4().hex[:10]}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        manage("migrate", "--noinput", env={"DATABASE_URL": url})
        yield url
    finally:
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker on port {port} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"worker on port {port} did not listen within {timeout}s")


@dataclass
class Worker:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/tigateway"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@dataclass
class Cluster:
    env: dict[str, str]
    workers: list[Worker] = field(default_factory=list)


def start_worker(server: str, env: dict[str, str], log_dir: Path, port: int = 0) -> Worker:
    port = port or free_port()
    if server == "daphne":
        command = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            # WebSocket protocol pings: how silent clients are kept honest (docs/deployment.md).
            "--ping-interval",
            "20",
            "--ping-timeout",
            "30",
            "example_project.asgi:application",
        ]
    elif server == "uvicorn":
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "5",
            "--ws-ping-interval",
            "20",
            "--ws-ping-timeout",
            "20",
            "example_project.asgi:application",
        ]
    else:
        raise ValueError(server)
    return launch(command, env, log_dir / f"{server}-{port}.log", port, server)


def launch(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    port: int,
    what: str,
    timeout: float = 30.0,
) -> Worker:
    """Start one of our processes (its output in ``log_path``) and wait until it listens on
    ``port``; if it does not, stop it and say why, with its log."""
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=log_file, stderr=subprocess.STDOUT
        )
    worker = Worker(port, process, log_path)
    try:
        wait_for_port(port, process, timeout=timeout)
    except RuntimeError:
        stop_worker(worker)
        raise RuntimeError(f"{what} did not start:\n{worker.log()}") from None
    return worker


def stop_worker(worker: Worker) -> None:
    """Stop our own worker by PID: SIGTERM, then SIGKILL after a grace period."""
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(10)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(5)


@contextlib.contextmanager
def cluster(
    servers: list[str],
    log_dir: Path,
    layer: str = "channels_redis.pubsub.RedisPubSubChannelLayer",
    redis_url: str = REDIS_URL,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """N workers of the example project on one real Redis and one fresh PostgreSQL database."""
    if redis_url == REDIS_URL:
        require_redis()
    with postgres_database() as database_url:
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CHANNEL_LAYER_BACKEND": layer,
            "CHANNEL_LAYER_PREFIX": f"tigw-test-{uuid.uuid4().hex[:8]}",
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        result = Cluster(env)
        try:
            for server in servers:
                result.workers.append(start_worker(server, env, log_dir))
            yield result
        finally:
            for worker in result.workers:
                stop_worker(worker)


def start_asgi_app(
    app: str, env: dict[str, str], log_dir: Path, name: str, extra: list[str] | None = None
) -> Worker:
    """Any ASGI app of this repository (``tests.e2e.traffic_app:app``) on uvicorn, with the
    cluster's environment; stopped like a worker (``stop_worker``)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--lifespan",
        "on",
        "--timeout-graceful-shutdown",
        "5",
        *(extra or []),
        app,
    ]
    return launch(command, env, log_dir / f"{name}-{port}.log", port, app)


@dataclass
class PrivateRedis:
    """A redis-server of our own on a free port, so a test may stop and restart it."""

    port: int
    log_dir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.log_dir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.log_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@contextlib.contextmanager
def private_redis(log_dir: Path) -> Iterator[PrivateRedis]:
    if not shutil.which("redis-server"):
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    server = PrivateRedis(free_port(), log_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def rss_bytes(pid: int) -> int:
    import psutil

    return psutil.Process(pid).memory_info().rss


def start_upstream(name: str, log_dir: Path, port: int = 0) -> Worker:
    """The gateway tests' upstream (tests/e2e/gateway_upstream.py) on uvicorn, named ``name``."""
    port = port or free_port()
    log_path = log_dir / f"upstream-{name}-{port}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "tests.e2e.gateway_upstream:app",
    ]
    return launch(command, {"UPSTREAM_NAME": name}, log_path, port, f"upstream {name}")


def start_gateway(env: dict[str, str], log_dir: Path, workers: int = 1, port: int = 0) -> Worker:
    """A gateway process (``manage.py tigateway_gateway``); listening means its table loaded."""
    port = port or free_port()
    log_path = log_dir / f"gateway-{port}.log"
    command = [
        sys.executable,
        "manage.py",
        "tigateway_gateway",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "info",
    ]
    return launch(command, env, log_path, port, "gateway", timeout=60)


def start_server(server: str, options: list[str], env: dict[str, str], log_dir: Path) -> Worker:
    """A daphne or uvicorn worker started with exactly ``options`` besides its address (for
    tests of what the servers themselves do, such as their logs); stop it with stop_worker."""
    port = free_port()
    if server == "daphne":
        address = ["-b", "127.0.0.1", "-p", str(port)]
    elif server == "uvicorn":
        address = ["--host", "127.0.0.1", "--port", str(port)]
    else:
        raise ValueError(server)
    command = [sys.executable, "-m", server, *address, *options, "example_project.asgi:application"]
    return launch(command, env, log_dir / f"{server}-{port}.log", port, server)
