"""Rights follow the user across workers: a change made in one worker's admin (permissions
removed, user deactivated or deleted, session logged out) reaches the open sockets on another
worker at once, over the channel layer (real Redis, real PostgreSQL, daphne and uvicorn)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.e2e.admin_forms import admin_client, change_object, delete_object, logout, without
from tests.e2e.helpers import jwt_for, run_scenario
from tests.processes import Cluster, cluster, manage

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

PASSWORD = "e2e-password-123"
USER_PASSWORD = "user-password-123"
SESSION_GONE = "the session ended: logged out, expired, or the password changed"
# Bounded waits, not timed assertions: the measured figures are printed.
WAIT = 10.0

MAKE_USERS = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
readers = Permission.objects.filter(
    content_type__app_label="tigateway_channels", codename__in=["view_route", "view_events"]
)
for name in ("alice", "bob"):
    user = get_user_model().objects.create_user(name, password="{USER_PASSWORD}")
    user.user_permissions.set(readers)
    print("PK", name, user.pk)
"""


def make_users(running: Cluster) -> dict[str, int]:
    manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
    out = manage("shell", "-c", MAKE_USERS, env=running.env)
    return {name: int(pk) for name, pk in re.findall(r"PK (\w+) (\d+)", out)}


async def open_reader(url: str, **options: Any) -> Any:
    ws = await websockets.connect(url, **options)
    ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert ack["type"] == "ack", ack
    return ws, ack["data"]["result"]


async def until_closed(ws: Any) -> tuple[list[dict[str, Any]], int | None, float]:
    """Every message up to the close, the close code, and when the close came."""
    messages: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(WAIT):
            while True:
                messages.append(json.loads(await ws.recv()))
    except websockets.ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None, time.monotonic()


async def next_error(ws: Any) -> tuple[dict[str, Any], float]:
    async with asyncio.timeout(WAIT):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "error":
                return message, time.monotonic()


def errors(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [message["data"] for message in messages if message["type"] == "error"]


async def scenario(running: Cluster, users: dict[str, int], measured: dict[str, float]) -> None:
    """The change on worker A (``running.workers[0]``), the sockets on worker B."""
    a, b = running.workers
    admin = await asyncio.to_thread(admin_client, a.http, "admin", PASSWORD)
    tokens = {name: await asyncio.to_thread(jwt_for, b.http, USER_PASSWORD, name) for name in users}
    alice, result = await open_reader(f"{b.ws}?token={tokens['alice']}&subscriptions=routes,events")
    assert result["topics"] == ["routes", "events"]
    bob, _ = await open_reader(
        b.ws, additional_headers={"Authorization": f"Bearer {tokens['bob']}"}
    )

    # 1. Alice's permissions removed in A's admin: B's socket loses its topics, stays open.
    alice_page = f"/admin/auth/user/{users['alice']}/change/"
    started = time.monotonic()
    await asyncio.to_thread(change_object, admin, alice_page, without("user_permissions"))
    lost, at = await next_error(alice)
    measured["permission removed -> FORBIDDEN"] = at - started
    lost_topics = {lost["data"]["details"]["value"]}
    lost_topics.add((await next_error(alice))[0]["data"]["details"]["value"])
    assert lost["data"]["code"] == "FORBIDDEN"
    assert lost_topics == {"routes", "events"}
    await alice.send(json.dumps({"type": "subscribe", "id": "s", "data": {"topics": ["routes"]}}))
    refused, _ = await next_error(alice)
    assert (refused["data"]["code"], refused["data"]["requestId"]) == ("FORBIDDEN", "s")

    # 2. Alice deactivated in A's admin: B's socket is told why and closed with 4401.
    started = time.monotonic()
    change = asyncio.create_task(
        asyncio.to_thread(change_object, admin, alice_page, without("is_active"))
    )
    messages, code, closed_at = await until_closed(alice)
    await change
    measured["user deactivated -> close 4401"] = closed_at - started
    assert code == 4401
    assert errors(messages)[-1]["code"] == "UNAUTHORIZED"
    assert errors(messages)[-1]["details"]["reason"] == "the user was deactivated"

    # 3. Bob deleted in A's admin (his token came in the Authorization header).
    started = time.monotonic()
    delete = asyncio.create_task(
        asyncio.to_thread(delete_object, admin, f"/admin/auth/user/{users['bob']}/delete/")
    )
    messages, code, closed_at = await until_closed(bob)
    await delete
    measured["user deleted -> close 4401"] = closed_at - started
    assert code == 4401
    assert errors(messages)[-1]["details"]["reason"] == "the user was deleted"

    # 4. The admin's own session logged out on A: its socket on B closes.
    cookie = f"sessionid={admin.cookies['sessionid']}"
    session, result = await open_reader(
        f"{b.ws}?subscriptions=routes", additional_headers={"Cookie": cookie}
    )
    assert (result["auth"], result["user"]) == ("session", "admin")
    started = time.monotonic()
    out = asyncio.create_task(asyncio.to_thread(logout, admin))
    messages, code, closed_at = await until_closed(session)
    await out
    measured["session logged out -> close 4401"] = closed_at - started
    assert code == 4401
    assert errors(messages)[-1]["details"]["reason"] == SESSION_GONE


@pytest.mark.parametrize(
    "servers",
    [["daphne", "uvicorn"], ["uvicorn", "daphne"]],
    ids=["daphne-to-uvicorn", "uvicorn-to-daphne"],
)
def test_changes_in_one_workers_admin_close_sockets_on_another(
    servers: list[str], tmp_path: Path
) -> None:
    with cluster(servers, tmp_path) as running:
        users = make_users(running)
        measured: dict[str, float] = {}
        run_scenario(running, scenario(running, users, measured))
    for what, seconds in measured.items():
        # From the admin request's start (the commit is inside it) to the socket's frame.
        print(f"{servers[0]} admin -> {servers[1]} socket: {what}: {seconds * 1000:.0f} ms")
