"""Client-side helpers shared by the cross-process tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any

import httpx

from tests.processes import Cluster


def jwt_for(base: str, password: str, username: str = "admin") -> str:
    """An access token from the worker's simplejwt endpoint."""
    response = httpx.post(
        f"{base}/api/token/", json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["access"]


async def next_topic_message(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The next message that belongs to a topic, skipping replies."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if "topic" in message.get("metadata", {}):
            return message


def run_scenario(running: Cluster, scenario: Coroutine[Any, Any, None]) -> None:
    """Run an async scenario against real workers; on failure, show what each worker logged."""
    try:
        asyncio.run(scenario)
    except BaseException:
        for worker in running.workers:
            print(f"--- worker {worker.port} log ---\n{worker.log()}")
        raise
