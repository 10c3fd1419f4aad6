"""Two deployments on one Redis server: each sees exactly its own changes, nothing of the other.

Each deployment has its own PostgreSQL database and its own Redis database number, and the
same default settings (including the channel-layer prefix), as two projects sharing a Redis
server would. Redis pub/sub ignores the database number, so only the deployment identity in
the group names keeps their messages apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import websockets

from tests.e2e.helpers import next_topic_message
from tests.processes import REDIS_URL, ROOT, Cluster, cluster

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

COMMITS = 40
RATE = 20.0
CLIENTS_PER_WORKER = 2
# The same settings for both deployments: what a second project on the same Redis would have.
SHARED_ENV = {"CHANNEL_LAYER_PREFIX": "asgi", "TIGATEWAY_ALLOW_ANONYMOUS_READ": "1"}


def redis_db(number: int) -> str:
    return REDIS_URL.rsplit("/", 1)[0] + f"/{number}"


def committed_offsets(database_url: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT \"offset\" FROM tigateway_channels_outboxmessage WHERE topic = 'routes' "
            'ORDER BY "offset"'
        ).fetchall()
    return [offset for (offset,) in rows]


async def collect(url: str, ready: asyncio.Event, done: asyncio.Event) -> list[dict[str, Any]]:
    """Every routes message one socket receives until the writers are done and it is quiet."""
    seen: list[dict[str, Any]] = []
    async with websockets.connect(f"{url}?subscriptions=routes") as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "ack", hello
        ready.set()
        while True:
            try:
                seen.append(await next_topic_message(ws, timeout=3.0 if done.is_set() else 30.0))
            except TimeoutError:
                if done.is_set():
                    return seen
    return seen


async def write(running: Cluster, prefix: str) -> None:
    """A separate process committing route changes through the ORM of one deployment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.e2e.writer",
        str(COMMITS),
        str(RATE),
        "0",
        prefix,
        cwd=ROOT,
        env={**running.env, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()[-3000:]


async def scenario(deployments: dict[str, Cluster]) -> dict[str, list[list[dict[str, Any]]]]:
    done = asyncio.Event()
    tasks: dict[str, list[asyncio.Task[list[dict[str, Any]]]]] = {}
    readies: list[asyncio.Event] = []
    for name, running in deployments.items():
        tasks[name] = []
        for worker in running.workers:
            for _ in range(CLIENTS_PER_WORKER):
                ready = asyncio.Event()
                readies.append(ready)
                tasks[name].append(asyncio.create_task(collect(worker.ws, ready, done)))
    async with asyncio.timeout(30):
        await asyncio.gather(*(ready.wait() for ready in readies))
    await asyncio.gather(*(write(running, name) for name, running in deployments.items()))
    done.set()
    return {name: list(await asyncio.gather(*group)) for name, group in tasks.items()}


async def subscribe_position(url: str) -> dict[str, Any]:
    async with websockets.connect(url) as ws:
        json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"type": "subscribe", "id": "s", "data": {"topics": ["routes"]}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return reply["data"]["result"]["positions"]["routes"]


@pytest.mark.parametrize(
    ("layer", "numbers", "writer_redis"),
    [
        # Pub/sub ignores database numbers: different ones do not separate anything.
        ("channels_redis.pubsub.RedisPubSubChannelLayer", (1, 2), None),
        # The core layer's keys live in a database number, so the same number is shared; and
        # the "shop" writer cannot reach Redis, so the workers' relay publishes its changes.
        ("channels_redis.core.RedisChannelLayer", (3, 3), "redis://127.0.0.1:9/0"),
    ],
    ids=["pubsub-layer", "core-layer-and-relay"],
)
def test_two_deployments_on_one_redis_never_see_each_others_changes(
    layer: str, numbers: tuple[int, int], writer_redis: str | None, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        deployments = {
            name: stack.enter_context(
                cluster(
                    servers,
                    tmp_path,
                    layer=layer,
                    redis_url=redis_db(number),
                    extra_env=SHARED_ENV,
                )
            )
            for name, servers, number in (
                ("shop", ["daphne", "uvicorn"], numbers[0]),
                ("blog", ["uvicorn", "daphne"], numbers[1]),
            )
        }
        if writer_redis:
            deployments["shop"].env = {**deployments["shop"].env, "REDIS_URL": writer_redis}
        try:
            seen = asyncio.run(scenario(deployments))
            for name, running in deployments.items():
                expected = committed_offsets(running.env["DATABASE_URL"])
                assert len(expected) >= COMMITS
                for client in seen[name]:
                    routes = [m["data"]["route"]["id"] for m in client]
                    foreign = [r for r in routes if not r.startswith(f"{name}-")]
                    assert not foreign, f"{name} received another deployment's routes {foreign}"
                    offsets = [m["metadata"]["offset"] for m in client]
                    assert offsets == expected, f"{name}: got {offsets}, committed {expected}"
                    assert len({m["metadata"]["epoch"] for m in client}) == 1
                assert seen[name][0][-1]["data"]["route"]["metadata"]["n"] == COMMITS - 1
                for worker in running.workers:
                    position = asyncio.run(subscribe_position(worker.ws))
                    assert position["offset"] == expected[-1], (name, position)
                    # Nothing crossed at all: no worker even had to drop a foreign message.
                    assert "Dropped a" not in worker.log_path.read_text(errors="replace")
        except BaseException:
            for name, running in deployments.items():
                for worker in running.workers:
                    print(f"--- {name} worker {worker.port} log ---\n{worker.log()}")
            raise
