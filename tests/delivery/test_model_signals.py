"""A committed Route change reaches every subscribed socket; a rolled-back one never does."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from tests.ws import Socket, connect, token_for
from tigateway_channels.delivery import outbox
from tigateway_channels.models import Route
from tigateway_channels.services import routes as route_service

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def subscribed(user: Any, filters: Any = None) -> Socket:
    socket, first = await connect(token=token_for(user))
    assert first["type"] == "ack"
    data: dict[str, Any] = {"topics": ["routes"]}
    if filters:
        data["filters"] = {"routes": filters}
    reply = await socket.request("subscribe", data)
    assert reply["type"] == "ack", reply
    return socket


@sync_to_async
def orm_create(route_id: str, status: str = "ACTIVE") -> Route:
    return Route.objects.create(id=route_id, uri="http://upstream:8080", status=status)


@sync_to_async
def orm_update(route_id: str, **fields: Any) -> None:
    route = Route.objects.get(pk=route_id)
    for name, value in fields.items():
        setattr(route, name, value)
    route.save()


@sync_to_async
def orm_delete(route_id: str) -> None:
    Route.objects.get(pk=route_id).delete()


async def test_plain_orm_changes_are_pushed_with_action_and_route(viewer: Any) -> None:
    socket = await subscribed(viewer)
    await orm_create("orm-route")
    created = await socket.receive_topic()
    assert created["type"] == "route_update"
    assert created["data"]["action"] == "created"
    assert created["data"]["route"]["id"] == "orm-route"
    assert created["data"]["route"]["uri"] == "http://upstream:8080"
    assert created["metadata"]["topic"] == "routes"

    await orm_update("orm-route", order=3)
    updated = await socket.receive_topic()
    assert updated["data"]["action"] == "updated"
    assert updated["data"]["route"]["order"] == 3
    assert updated["data"]["route"]["version"] == 2

    await orm_delete("orm-route")
    deleted = await socket.receive_topic()
    assert deleted["data"]["action"] == "deleted"
    assert deleted["data"]["route"]["id"] == "orm-route"

    offsets = [m["metadata"]["offset"] for m in (created, updated, deleted)]
    assert offsets == [offsets[0], offsets[0] + 1, offsets[0] + 2]
    assert len({m["metadata"]["epoch"] for m in (created, updated, deleted)}) == 1
    await socket.close()


async def test_rolled_back_change_is_not_pushed(viewer: Any) -> None:
    socket = await subscribed(viewer)

    @sync_to_async
    def create_then_fail() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            Route.objects.create(id="doomed", uri="http://upstream:8080")
            raise RuntimeError("rollback")

    await create_then_fail()
    assert await socket.nothing_more(0.5)
    await orm_create("kept")
    message = await socket.receive_topic()
    assert message["data"]["route"]["id"] == "kept"
    assert not await Route.objects.filter(pk="doomed").aexists()
    await socket.close()


async def test_change_is_pushed_only_after_commit(viewer: Any) -> None:
    socket = await subscribed(viewer)

    @sync_to_async
    def create_and_check_nothing_sent_yet() -> int:
        with transaction.atomic():
            Route.objects.create(id="pending-commit", uri="http://upstream:8080")
            return outbox.OutboxMessage.objects.filter(published_at__isnull=False).count()

    published_inside = await create_and_check_nothing_sent_yet()
    assert published_inside == 0
    message = await socket.receive_topic()
    assert message["data"]["route"]["id"] == "pending-commit"
    await socket.close()


async def test_status_filter_passes_only_matching_changes(viewer: Any) -> None:
    active_only = await subscribed(viewer, {"status": ["ACTIVE"]})
    everything = await subscribed(viewer)
    await orm_create("pending-route", status="PENDING")
    await orm_create("active-route", status="ACTIVE")
    got = await active_only.receive_topic()
    assert got["data"]["route"]["id"] == "active-route"
    assert (await everything.receive_topic())["data"]["route"]["id"] == "pending-route"
    assert (await everything.receive_topic())["data"]["route"]["id"] == "active-route"

    # Leaving the ACTIVE set is news for an ACTIVE-only subscriber.
    await orm_update("active-route", status="INACTIVE")
    left = await active_only.receive_topic()
    assert left["data"]["route"]["status"] == "INACTIVE"
    # A change among PENDING routes is not.
    await orm_update("pending-route", order=9)
    assert await active_only.nothing_more(0.4)
    for socket in (active_only, everything):
        await socket.close()


async def test_route_id_filter(viewer: Any) -> None:
    socket = await subscribed(viewer, {"routeIds": ["wanted"]})
    await orm_create("unwanted")
    await orm_create("wanted")
    assert (await socket.receive_topic())["data"]["route"]["id"] == "wanted"
    assert await socket.nothing_more(0.3)
    await socket.close()


async def test_message_is_serialised_once_per_publish(
    viewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sockets = [await subscribed(viewer) for _ in range(3)]
    calls = []
    real_encode = outbox.encode

    def counting_encode(envelope: Any) -> str:
        calls.append(envelope["type"])
        return real_encode(envelope)

    monkeypatch.setattr(outbox, "encode", counting_encode)
    await orm_create("once")
    received = [await socket.receive_topic() for socket in sockets]
    assert calls == ["route_update"]
    assert len({message["id"] for message in received}) == 1
    for socket in sockets:
        await socket.close()


async def test_unsubscribed_socket_gets_nothing(viewer: Any) -> None:
    socket = await subscribed(viewer)
    await socket.request("unsubscribe", {"topics": ["routes"]})
    await orm_create("quiet")
    assert await socket.nothing_more(0.4)
    await socket.close()


async def test_websocket_change_reaches_other_sockets(operator: Any, viewer: Any) -> None:
    watcher = await subscribed(viewer)
    writer, _ = await connect(token=token_for(operator))
    reply = await writer.request(
        "route_create", {"route": {"id": "from-ws", "uri": "https://svc.internal"}}
    )
    assert reply["type"] == "ack"
    pushed = await watcher.receive_topic()
    assert pushed["data"]["action"] == "created"
    assert pushed["data"]["route"] == reply["data"]["result"]
    await watcher.close()
    await writer.close()


async def test_service_layer_change_is_pushed(viewer: Any) -> None:
    socket = await subscribed(viewer)
    await sync_to_async(route_service.create_route)(
        {"id": "svc", "uri": "http://svc", "predicates": ["Path=/svc/**"]}
    )
    assert (await socket.receive_topic())["data"]["route"]["predicates"] == ["Path=/svc/**"]
    await socket.close()


async def test_a_plain_autocommit_save_records_route_and_message_in_one_transaction(
    viewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an atomic block, a failure to record the message must undo the save too."""
    from tigateway_channels.delivery import model_signals as signals

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(signals, "record_topic_message", fail)

    @sync_to_async
    def plain_save() -> None:
        with pytest.raises(RuntimeError):
            Route(id="half-saved", uri="http://a").save()

    await plain_save()
    assert not await Route.objects.filter(pk="half-saved").aexists()
