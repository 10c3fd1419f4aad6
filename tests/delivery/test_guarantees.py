"""Delivery guarantees in one process: recovery by offset, snapshots, relay, heartbeats."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction

from tests.ws import open_socket
from tigateway_channels.delivery import outbox
from tigateway_channels.delivery.hub import get_hub
from tigateway_channels.models import OutboxMessage, Route, TopicSequence

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@sync_to_async
def create(route_id: str, status: str = "ACTIVE") -> None:
    Route.objects.create(id=route_id, uri="http://upstream:8080", status=status)


async def hub_caught_up(timeout: float = 5.0) -> None:
    """Wait until this process's hub has received every committed routes message.

    With Redis the publish is asynchronous; a test that reconnects "after" some changes must
    not race them, or they arrive live instead of being replayed (which is also correct).
    """
    committed = (await TopicSequence.objects.aget(topic="routes")).offset
    deadline = asyncio.get_running_loop().time() + timeout
    while get_hub().stream("routes").last < committed:
        assert asyncio.get_running_loop().time() < deadline, "hub did not catch up"
        await asyncio.sleep(0.01)


async def test_subscribe_ack_gives_the_position_to_recover_from(make_user: Any) -> None:
    await create("before")
    socket = await open_socket(await sync_to_async(make_user)("v", "view_route", "view_metrics"))
    reply = await socket.request("subscribe", {"topics": ["routes", "metrics"]})
    position = reply["data"]["result"]["positions"]["routes"]
    sequence = await TopicSequence.objects.aget(topic="routes")
    assert position == {"offset": sequence.offset, "epoch": sequence.epoch}
    assert "metrics" not in reply["data"]["result"]["positions"]
    await socket.close()


async def test_reconnect_with_offset_replays_missed_messages_in_order(viewer: Any) -> None:
    first = await open_socket(viewer)
    reply = await first.request("subscribe", {"topics": ["routes"]})
    start = reply["data"]["result"]["positions"]["routes"]
    await create("a")
    seen = await first.receive_topic()
    await first.close()

    for name in ("b", "c", "d"):
        await create(name)
    await hub_caught_up()

    second = await open_socket(viewer)
    recover = {"routes": {"offset": seen["metadata"]["offset"], "epoch": start["epoch"]}}
    await second.send(
        {"type": "subscribe", "id": "resub", "data": {"topics": ["routes"], "recover": recover}}
    )
    replayed = [await second.receive() for _ in range(3)]
    ack = await second.receive()
    assert [m["data"]["route"]["id"] for m in replayed] == ["b", "c", "d"]
    assert [m["metadata"]["offset"] for m in replayed] == [
        seen["metadata"]["offset"] + n for n in (1, 2, 3)
    ]
    assert ack["data"]["requestId"] == "resub"
    assert ack["data"]["result"]["recovered"] == {"routes": True}
    assert ack["data"]["result"]["replayed"] == {"routes": 3}
    assert "snapshot" not in ack["data"]["result"]
    # Then the live stream, with nothing repeated.
    await create("e")
    live = await second.receive_topic()
    assert live["data"]["route"]["id"] == "e"
    assert live["metadata"]["offset"] == replayed[-1]["metadata"]["offset"] + 1
    assert await second.nothing_more(0.3)
    await second.close()


async def test_replayed_messages_are_the_originals(viewer: Any) -> None:
    watcher = await open_socket(viewer)
    start = (await watcher.request("subscribe", {"topics": ["routes"]}))["data"]["result"]
    await create("original")
    live = await watcher.receive_topic()
    await watcher.close()

    again = await open_socket(viewer)
    recover = {
        "routes": {
            "offset": live["metadata"]["offset"] - 1,
            "epoch": start["positions"]["routes"]["epoch"],
        }
    }
    await again.send(
        {"type": "subscribe", "id": "s", "data": {"topics": ["routes"], "recover": recover}}
    )
    assert await again.receive() == live
    await again.close()


async def test_recovery_from_history_beyond_worker_memory(viewer: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"HISTORY_IN_MEMORY": 2}
    socket = await open_socket(viewer)
    start = (await socket.request("subscribe", {"topics": ["routes"]}))["data"]["result"]
    position = start["positions"]["routes"]
    for name in ("m1", "m2", "m3", "m4", "m5"):
        await create(name)
    for _ in range(5):
        await socket.receive_topic()
    await socket.close()
    again = await open_socket(viewer)
    reply = await again.request(
        "subscribe", {"topics": ["routes"], "recover": {"routes": position}}
    )
    assert reply["data"]["result"]["recovered"] == {"routes": True}
    assert reply["data"]["result"]["replayed"] == {"routes": 5}
    await again.close()


async def test_gap_older_than_history_gets_a_snapshot(viewer: Any, settings: Any) -> None:
    socket = await open_socket(viewer)
    start = (await socket.request("subscribe", {"topics": ["routes"]}))["data"]["result"]
    await socket.close()
    await create("kept-1", status="PENDING")
    await create("kept-2")
    await hub_caught_up()
    await OutboxMessage.objects.filter(topic="routes").adelete()  # history pruned away

    hub = get_hub()
    hub.stream("routes").recent.clear()
    again = await open_socket(viewer)
    reply = await again.request(
        "subscribe", {"topics": ["routes"], "recover": {"routes": start["positions"]["routes"]}}
    )
    result = reply["data"]["result"]
    assert result["recovered"] == {"routes": False}
    snapshot = result["snapshot"]["routes"]
    assert [r["id"] for r in snapshot["routes"]] == ["kept-1", "kept-2"]
    sequence = await TopicSequence.objects.aget(topic="routes")
    assert snapshot["offset"] == sequence.offset
    assert result["positions"]["routes"]["offset"] == sequence.offset
    await create("after-snapshot")
    assert (await again.receive_topic())["data"]["route"]["id"] == "after-snapshot"
    await again.close()


async def test_unknown_epoch_gets_a_snapshot(viewer: Any) -> None:
    await create("only")
    socket = await open_socket(viewer)
    reply = await socket.request(
        "subscribe",
        {"topics": ["routes"], "recover": {"routes": {"offset": 1, "epoch": "other-epoch"}}},
    )
    assert reply["data"]["result"]["recovered"] == {"routes": False}
    assert [r["id"] for r in reply["data"]["result"]["snapshot"]["routes"]["routes"]] == ["only"]
    await socket.close()


@pytest.mark.parametrize(
    "recover",
    [
        {"routes": {"offset": -1, "epoch": "x"}},
        {"routes": {"offset": "3", "epoch": "x"}},
        {"routes": {"offset": 3}},
        {"routes": 3},
        {"logs": {"offset": 1, "epoch": "x"}},
    ],
)
async def test_bad_recovery_positions_are_invalid_subscriptions(viewer: Any, recover: Any) -> None:
    socket = await open_socket(viewer)
    reply = await socket.request("subscribe", {"topics": ["routes"], "recover": recover})
    assert reply["data"]["code"] == "INVALID_SUBSCRIPTION"
    await socket.close()


async def test_relay_publishes_a_committed_message_whose_publisher_died(
    viewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket = await open_socket(viewer)
    await socket.request("subscribe", {"topics": ["routes"]})
    monkeypatch.setattr(outbox, "publish_outbox_message", lambda message, epoch: False)
    await create("orphan")  # committed; the publish after commit "never happened"
    assert await socket.nothing_more(0.4)
    monkeypatch.undo()
    assert await OutboxMessage.objects.filter(published_at__isnull=True).acount() == 1
    published = await get_hub().membership.publish_pending(grace_seconds=0)
    assert published == 1
    message = await socket.receive_topic()
    assert message["data"]["route"]["id"] == "orphan"
    assert await OutboxMessage.objects.filter(published_at__isnull=True).acount() == 0
    await socket.close()


async def test_a_message_published_twice_reaches_each_socket_once(viewer: Any) -> None:
    socket = await open_socket(viewer)
    await socket.request("subscribe", {"topics": ["routes"]})
    await create("twice")
    first = await socket.receive_topic()
    row = await OutboxMessage.objects.aget(topic="routes", offset=first["metadata"]["offset"])
    await sync_to_async(outbox.send_to_group)(row, first["metadata"]["epoch"])
    assert await socket.nothing_more(0.4)
    await socket.close()


async def test_out_of_order_publishes_are_delivered_in_offset_order(viewer: Any) -> None:
    socket = await open_socket(viewer)
    await socket.request("subscribe", {"topics": ["routes"]})
    held: list[Any] = []

    @sync_to_async
    def commit_two_publish_reversed() -> None:
        real = outbox.publish_outbox_message
        outbox.publish_outbox_message = lambda message, epoch: held.append((message, epoch))  # type: ignore[assignment]
        try:
            with transaction.atomic():
                Route.objects.create(id="first", uri="http://a")
            with transaction.atomic():
                Route.objects.create(id="second", uri="http://b")
        finally:
            outbox.publish_outbox_message = real  # type: ignore[assignment]
        for message, epoch in reversed(held):
            outbox.publish_outbox_message(message, epoch)

    await commit_two_publish_reversed()
    got = [await socket.receive_topic() for _ in range(2)]
    assert [m["data"]["route"]["id"] for m in got] == ["first", "second"]
    await socket.close()


async def test_a_lost_offset_is_filled_from_history(viewer: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"GAP_FILL_DELAY_SECONDS": 0.05, "RELAY_GRACE_SECONDS": 3600}
    socket = await open_socket(viewer)
    await socket.request("subscribe", {"topics": ["routes"]})
    skipped: list[Any] = []

    @sync_to_async
    def commit_lose_first_publish() -> None:
        real = outbox.publish_outbox_message
        outbox.publish_outbox_message = lambda message, epoch: skipped.append(message)  # type: ignore[assignment]
        try:
            Route.objects.create(id="lost-publish", uri="http://a")
        finally:
            outbox.publish_outbox_message = real  # type: ignore[assignment]
        Route.objects.create(id="next", uri="http://b")

    await commit_lose_first_publish()
    got = [await socket.receive_topic() for _ in range(2)]
    assert [m["data"]["route"]["id"] for m in got] == ["lost-publish", "next"]
    await socket.close()


async def test_a_client_that_never_pings_gets_no_application_ping(
    viewer: Any, settings: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "HEARTBEAT_INTERVAL_SECONDS": 0.2,
        "HEARTBEAT_TIMEOUT_SECONDS": 0.2,
    }
    socket = await open_socket(viewer)
    await socket.request("subscribe", {"topics": ["routes"]})
    await asyncio.sleep(1.0)  # five intervals of silence
    await create("still-here")
    got = await socket.receive(timeout=3)
    assert got["type"] == "route_update", got
    await socket.close()


async def test_a_client_that_pinged_is_pinged_when_silent_then_closed_with_4408(
    viewer: Any, settings: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "HEARTBEAT_INTERVAL_SECONDS": 0.3,
        "HEARTBEAT_TIMEOUT_SECONDS": 0.3,
    }
    socket = await open_socket(viewer)
    assert (await socket.request("ping"))["type"] == "pong"
    ping = await socket.receive(timeout=3)
    assert ping["type"] == "ping"
    assert await socket.closed_with(timeout=3) == 4408


async def test_answering_server_pings_keeps_the_socket_open(viewer: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "HEARTBEAT_INTERVAL_SECONDS": 0.3,
        "HEARTBEAT_TIMEOUT_SECONDS": 0.3,
    }
    socket = await open_socket(viewer)
    assert (await socket.request("ping"))["type"] == "pong"
    for _ in range(3):
        ping = await socket.receive(timeout=3)
        assert ping["type"] == "ping"
        await socket.send({"type": "pong", "data": {"requestId": ping["id"]}})
        assert (await socket.receive())["type"] == "ack"
    await socket.close()


async def test_health_topic_reports_database_and_channel_layer(make_user: Any) -> None:
    user = await sync_to_async(make_user)("watcher", "view_health")
    await create("up-route")
    await create("paused-route", status="INACTIVE")
    socket = await open_socket(user)
    await asyncio.sleep(0.3)
    await socket.send({"type": "subscribe", "id": "h", "data": {"topics": ["health"]}})
    ack = await socket.receive()
    assert ack["type"] == "ack"  # the reply first, then the data it started
    health = await socket.receive()
    assert health["type"] == "health_update"
    data = health["data"]
    assert data["status"] == "UP"
    database = data["components"]["database"]
    assert database["status"] == "UP"
    assert database["details"]["responseTime"] >= 0
    if connection.vendor == "postgresql":
        assert database["details"]["connectionCount"] >= 1
    assert data["components"]["routes"]["details"] == {"activeRoutes": 1, "totalRoutes": 2}
    if "redis" in data["components"]:
        redis = data["components"]["redis"]["details"]
        assert redis["memoryUsage"].endswith("MB")
        assert redis["memoryUsageBytes"] > 0
    else:
        assert data["components"]["channelLayer"]["status"] == "UP"
    cluster = data["cluster"]
    assert cluster["workers"] == 1 and cluster["status"] == "UP"
    assert [m["worker"] for m in cluster["members"]] == [data["worker"]]
    await socket.close()


async def test_health_is_sent_at_a_regular_interval_without_changes(
    make_user: Any, settings: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "HEALTH_INTERVAL_SECONDS": 0.1,
        "HEALTH_UPDATE_SECONDS": 0.3,
    }
    user = await sync_to_async(make_user)("watcher", "view_health")
    socket = await open_socket(user)
    await socket.request("subscribe", {"topics": ["health"]})
    updates = []
    async with asyncio.timeout(5):
        while len(updates) < 4:
            message = await socket.receive()
            if message["type"] == "health_update":
                updates.append(message)
    assert len({m["id"] for m in updates}) == 4
    assert {m["data"]["status"] for m in updates} == {"UP"}
    await socket.close()


async def test_a_replay_longer_than_the_live_queue_limit_is_not_cut(
    viewer: Any, settings: Any
) -> None:
    settings.TIGATEWAY_CHANNELS = {"SEND_QUEUE_LIMIT": 3}
    socket = await open_socket(viewer)
    start = (await socket.request("subscribe", {"topics": ["routes"]}))["data"]["result"]
    await socket.close()
    for n in range(8):
        await create(f"burst-{n}")
    await hub_caught_up()
    again = await open_socket(viewer)
    reply = await again.request(
        "subscribe", {"topics": ["routes"], "recover": {"routes": start["positions"]["routes"]}}
    )
    assert reply["data"]["result"]["replayed"] == {"routes": 8}
    await again.close()


async def test_relay_command_publishes_pending_messages(
    viewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from io import StringIO

    from django.core.management import call_command

    socket = await open_socket(viewer)
    await socket.request("subscribe", {"topics": ["routes"]})
    monkeypatch.setattr(outbox, "publish_outbox_message", lambda message, epoch: False)
    await create("by-command")
    monkeypatch.undo()
    out = StringIO()
    await sync_to_async(call_command)("tigateway_relay", "--once", "--grace", "0", stdout=out)
    assert "published 1; 0 still unpublished" in out.getvalue()
    assert (await socket.receive_topic())["data"]["route"]["id"] == "by-command"
    await socket.close()


async def test_a_worker_started_while_the_layer_is_down_serves_sockets_and_catches_up(
    viewer: Any, settings: Any
) -> None:
    from tests.fakes import SwitchableLayer

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.fakes.SwitchableLayer"}}
    settings.TIGATEWAY_CHANNELS = {"RELAY_INTERVAL_SECONDS": 0.1, "RELAY_GRACE_SECONDS": 0}
    SwitchableLayer.reachable = False
    try:
        socket = await open_socket(viewer)  # no crash: the hub keeps trying to join
        reply = await socket.request("subscribe", {"topics": ["routes"]})
        assert reply["type"] == "ack"
        await create("during-outage")  # committed; its publish fails and waits in the outbox
        assert await socket.nothing_more(0.3)
        SwitchableLayer.reachable = True
        message = await socket.receive_topic(timeout=5)
        assert message["data"]["route"]["id"] == "during-outage"
        await socket.close()
    finally:
        SwitchableLayer.reachable = True
