"""The fault suite: while a writer commits a stream of route changes and clients on two real
workers subscribe, kill a worker, restart Redis, stall a reader, and stop a worker gracefully.
After each fault the clients reconnect with their offsets; every client must end up having seen
every committed change exactly once and in order (or a documented snapshot resync)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets

from tests.e2e.helpers import run_scenario
from tests.e2e.rawws import Closed, RawWebSocket
from tests.processes import (
    ROOT,
    Cluster,
    Worker,
    cluster,
    manage,
    private_redis,
    rss_bytes,
    start_worker,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

PASSWORD = "fault-password-123"
TIMERS = {
    "RELAY_GRACE_SECONDS": 0.5,
    "RELAY_INTERVAL_SECONDS": 0.25,
    "HEALTH_INTERVAL_SECONDS": 0.25,
    "GAP_FILL_DELAY_SECONDS": 0.1,
    "SEND_QUEUE_LIMIT": 100,
    "SHUTDOWN_GRACE_SECONDS": 2.0,
}
MEMORY_GROWTH_BOUND = 150 * 1024 * 1024


class Client:
    """A reconnecting subscriber that remembers its last offset and recovers from it."""

    def __init__(self, name: str, pick_url: Callable[[], str], token: str, slow: bool = False):
        self.name = name
        self.pick_url = pick_url
        self.token = token
        self.slow = slow
        self.events: list[tuple[str, int]] = []
        self.closes: list[Any] = []
        self.position: dict[str, Any] | None = None
        self.reading = asyncio.Event()
        self.reading.set()
        self.subscribed = asyncio.Event()

    async def _connect(self, url: str) -> Any:
        url = f"{url}?token={self.token}&clientId={self.name}"
        if self.slow:
            return await RawWebSocket.connect(url)
        return websockets.connect(url, open_timeout=5, ping_interval=None, max_size=2**22)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with await self._connect(self.pick_url()) as ws:
                    await self._session(ws, stop)
            except websockets.ConnectionClosed as exc:
                self.closes.append(exc.rcvd.code if exc.rcvd else None)
            except Closed as exc:
                self.closes.append(exc.code)
            except (OSError, TimeoutError, EOFError, websockets.InvalidHandshake) as exc:
                self.closes.append(type(exc).__name__)
            self.subscribed.clear()
            await asyncio.sleep(0.2)

    async def _session(self, ws: Any, stop: asyncio.Event) -> None:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "ack", hello
        data: dict[str, Any] = {"topics": ["routes"]}
        if self.position is not None:
            data["recover"] = {"routes": self.position}
        await ws.send(json.dumps({"type": "subscribe", "id": "sub", "data": data}))
        pending: asyncio.Future[Any] | None = None
        try:
            while not stop.is_set():
                await self.reading.wait()
                # One receive in flight at a time: a cancelled read could split a frame.
                pending = pending or asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({pending}, timeout=0.5)
                if not done:
                    continue
                raw, pending = pending.result(), None
                await self._handle(ws, json.loads(raw))
        finally:
            if pending is not None:
                pending.cancel()

    async def _handle(self, ws: Any, message: dict[str, Any]) -> None:
        meta = message["metadata"]
        if message["type"] == "route_update" and "offset" in meta:
            self.events.append(("message", meta["offset"]))
            self.position = {"offset": meta["offset"], "epoch": meta["epoch"]}
        elif message["type"] == "ack" and message["data"]["requestId"] == "sub":
            result = message["data"]["result"]
            if result.get("recovered", {}).get("routes") is False:
                self.events.append(("resync", result["snapshot"]["routes"]["offset"]))
            if self.position is None:
                self.events.append(("start", result["positions"]["routes"]["offset"]))
            self.position = result["positions"]["routes"]
            self.subscribed.set()
        elif message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif message["type"] == "error" and message["data"].get("requestId") == "sub":
            raise AssertionError(f"{self.name}: subscribe failed: {message}")

    def verify(self, final_offset: int) -> None:
        expected: int | None = None
        for kind, offset in self.events:
            if kind == "start":
                expected = offset + 1
            elif kind == "resync":
                assert expected is not None and offset >= expected - 1, (self.name, self.events)
                expected = offset + 1
            else:
                assert offset == expected, f"{self.name}: got offset {offset}, wanted {expected}"
                expected += 1
        assert expected is not None
        assert expected - 1 == final_offset, f"{self.name} ended at {expected - 1}"


class Watcher:
    """Subscribes to system events and health and keeps what it sees."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.messages: list[dict[str, Any]] = []

    async def run(self, stop: asyncio.Event) -> None:
        async with websockets.connect(f"{self.url}?token={self.token}", ping_interval=None) as ws:
            await ws.recv()
            await ws.send(
                json.dumps(
                    {"type": "subscribe", "id": "w", "data": {"topics": ["events", "health"]}}
                )
            )
            while not stop.is_set():
                try:
                    self.messages.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
                except TimeoutError:
                    continue

    def saw(self, predicate: Callable[[dict[str, Any]], bool]) -> bool:
        return any(predicate(message) for message in self.messages)


def committed_offset(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT \"offset\" FROM tigateway_channels_topicsequence WHERE topic = 'routes'"
        ).fetchone()
    return int(row[0]) if row else 0


def start_writer(env: dict[str, str], count: int, rate: float, pad: int = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.writer", str(count), str(rate), str(pad)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def wait_writer(writer: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while writer.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a process
        await asyncio.sleep(0.1)
    if writer.poll() is None:
        writer.kill()
    output = writer.stdout.read() if writer.stdout else ""
    assert writer.returncode == 0, output[-3000:]


async def until(
    condition: Callable[[], bool], timeout: float, what: str | Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what if isinstance(what, str) else what()}"
            )
        await asyncio.sleep(0.1)


async def scenario(running: Cluster, redis_server: Any, log_dir: Path) -> None:
    env = running.env
    daphne_worker, uvicorn_worker = running.workers
    async with httpx.AsyncClient(base_url=daphne_worker.http, timeout=10) as http:
        response = await http.post("/api/token/", json={"username": "admin", "password": PASSWORD})
    token = response.json()["access"]
    alive: list[Worker] = [daphne_worker, uvicorn_worker]

    def prefer(worker_index: int) -> Callable[[], str]:
        def pick() -> str:
            preferred = [daphne_worker, uvicorn_worker][worker_index]
            live = [w for w in alive if w.process.poll() is None]
            return (preferred if preferred in live else live[0]).ws

        return pick

    clients = [
        Client("on-daphne-1", prefer(0), token),
        Client("on-daphne-2", prefer(0), token),
        Client("on-uvicorn-1", prefer(1), token),
        Client("on-uvicorn-2", prefer(1), token),
        Client("slow-reader", prefer(1), token, slow=True),
    ]
    watcher = Watcher(uvicorn_worker.ws, token)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    watcher_task = asyncio.create_task(watcher.run(stop))
    try:
        await until(lambda: all(c.subscribed.is_set() for c in clients), 15, "subscriptions")
        baseline = {w.port: rss_bytes(w.process.pid) for w in alive}

        # 1. SIGKILL a worker while changes stream in.
        writer = start_writer(env, 40, 20)
        await asyncio.sleep(1.0)
        daphne_worker.process.kill()
        daphne_worker.process.wait(5)
        alive.remove(daphne_worker)
        await wait_writer(writer)
        replacement = start_worker("daphne", env, log_dir)
        alive.append(replacement)
        running.workers.append(replacement)
        await until(lambda: all(c.subscribed.is_set() for c in clients), 15, "reconnects")

        # 2. Restart Redis while changes stream in: sockets stay open, nothing is lost.
        closes_before = [len(c.closes) for c in clients]
        writer = start_writer(env, 60, 20)
        await asyncio.sleep(1.0)
        redis_server.stop()
        await asyncio.sleep(2.0)
        redis_server.start()
        await wait_writer(writer)
        assert [len(c.closes) for c in clients] == closes_before, (
            "a socket closed during the outage"
        )

        # 3. Stall one reader: it is closed with 4409, then recovers by offset. The kernel
        #    buffers about 4 MB per socket before the server feels backpressure, so the
        #    writer sends large changes for a few seconds.
        slow = clients[-1]
        slow.reading.clear()
        writer = start_writer(env, 450, 90, pad=15000)
        await wait_writer(writer)
        await asyncio.sleep(1.0)
        slow.reading.set()
        await until(lambda: 4409 in slow.closes, 15, "the slow reader to be closed with 4409")

        # 4. SIGTERM a worker: its sockets get 1001 and move to the other worker.
        writer = start_writer(env, 20, 20)
        await asyncio.sleep(0.3)
        uvicorn_worker.process.terminate()
        uvicorn_worker.process.wait(15)
        alive.remove(uvicorn_worker)
        await wait_writer(writer)

        final = committed_offset(env["DATABASE_URL"])
        assert final >= 570
        await until(
            lambda: all(c.position and c.position["offset"] == final for c in clients),
            30,
            lambda: (
                f"every client to reach offset {final}: "
                + str({c.name: (c.position, c.closes) for c in clients})
            ),
        )
        for client in clients:
            client.verify(final)
        moved = [c for c in clients if c.name.startswith("on-uvicorn")]
        assert all(1001 in c.closes for c in moved), [c.closes for c in moved]
        assert watcher.saw(
            lambda m: m["type"] == "system_event" and m["data"]["event"] == "channel_layer_down"
        )
        assert watcher.saw(
            lambda m: (
                m["type"] == "health_update"
                and m["data"]["components"]["redis"]["status"] == "DOWN"
            )
        )
        for worker in alive:
            if worker.port in baseline:
                growth = rss_bytes(worker.process.pid) - baseline[worker.port]
                assert growth < MEMORY_GROWTH_BOUND, f"worker {worker.port} grew {growth} bytes"
            assert rss_bytes(worker.process.pid) < 400 * 1024 * 1024
    finally:
        stop.set()
        await asyncio.gather(*tasks, watcher_task, return_exceptions=True)


def test_every_client_sees_every_committed_change_once_in_order_through_faults(
    tmp_path: Path,
) -> None:
    with (
        private_redis(tmp_path) as redis_server,
        cluster(
            ["daphne", "uvicorn"],
            tmp_path,
            redis_url=redis_server.url,
            extra_env={"TIGATEWAY_CHANNELS_JSON": json.dumps(TIMERS)},
        ) as running,
    ):
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        # The cluster stops every worker it lists, the replacement started mid-test included.
        run_scenario(running, scenario(running, redis_server, tmp_path))
