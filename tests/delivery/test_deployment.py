"""Deployments sharing a Redis server: private group names, and foreign messages dropped."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tigateway_channels.delivery import deployment, outbox, relay
from tigateway_channels.delivery.hub import Hub
from tigateway_channels.delivery.outbox import DELIVER_EVENT
from tigateway_channels.delivery.streams import StreamPosition
from tigateway_channels.delivery.topics import SubscriptionFilter
from tigateway_channels.models import Installation, OutboxMessage, Route


@pytest.fixture(autouse=True)
def fresh_identity() -> Any:
    deployment.forget_deployment_id()
    yield
    deployment.forget_deployment_id()


def test_group_names_carry_the_deployment_identity(db: Any) -> None:
    identity = deployment.deployment_id()
    assert len(identity) == 16
    assert deployment.group_name("routes") == f"tigw.{identity}.routes"


def test_group_prefix_is_an_explicit_override(db: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"GROUP_PREFIX": "staging"}
    assert deployment.group_name("config") == "staging.config"


def test_another_database_gets_another_identity(db: Any) -> None:
    first = deployment.deployment_id()
    # What a second database holds: its own installation key, made by its own migration.
    Installation.objects.all().delete()
    Installation.objects.create()
    deployment.forget_deployment_id()
    assert deployment.deployment_id() != first


def test_a_copy_of_the_database_under_another_name_gets_another_identity(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = deployment.deployment_id()
    deployment.forget_deployment_id()
    monkeypatch.setattr(deployment, "_database_identity", lambda: ["postgresql", "staging_copy"])
    assert deployment.deployment_id() != first


def test_a_missing_installation_row_is_recreated_once(db: Any) -> None:
    Installation.objects.all().delete()
    identity = deployment.deployment_id()
    deployment.forget_deployment_id()
    assert deployment.deployment_id() == identity
    assert Installation.objects.count() == 1


def test_published_and_relayed_messages_carry_the_deployment(db: Any) -> None:
    Route.objects.create(id="tagged", uri="http://upstream:8080")
    row = OutboxMessage.objects.get(topic="routes")
    assert outbox.channel_message(row, "e1")["deployment"] == deployment.deployment_id()
    OutboxMessage.objects.update(published_at=None)
    (pending,) = relay.overdue(grace_seconds=0)
    assert pending.group == deployment.group_name("routes")
    assert pending.payload["deployment"] == deployment.deployment_id()


class RecordingWriter:
    def __init__(self) -> None:
        self.frames: list[str] = []

    def push(self, frame: str) -> None:
        self.frames.append(frame)


class FakeSocket:
    def __init__(self) -> None:
        self.writer = RecordingWriter()
        self.subscriptions: dict[str, Any] = {}


def topic_message(deployment_id: str | None, offset: int, epoch: str) -> dict[str, Any]:
    message = {
        "type": DELIVER_EVENT,
        "topic": "routes",
        "offset": offset,
        "epoch": epoch,
        "frame": f'{{"offset": {offset}, "epoch": "{epoch}"}}',
        "attrs": {},
    }
    if deployment_id is not None:
        message["deployment"] = deployment_id
    return message


def test_a_foreign_message_is_dropped_without_moving_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub("default")
    hub._deployment = "ours"
    stream = hub.stream("routes")
    assert stream is not None
    stream.start_at(StreamPosition(21, "our-epoch"))
    socket = FakeSocket()
    assert hub.subscribe_live(socket, "routes", SubscriptionFilter()) == 21  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="tigateway_channels.delivery.hub"):
        hub.on_topic_message(topic_message("theirs", 34, "their-epoch"))
        hub.on_topic_message(topic_message("theirs", 35, "their-epoch"))
        hub.on_topic_message(topic_message(None, 23, "our-epoch"))  # no identity at all

    assert (stream.last, stream.epoch, stream.early) == (21, "our-epoch", {})
    assert socket.writer.frames == []
    assert hub.foreign_dropped == 3
    assert not hub._filling, "a foreign message must not start a gap fill"
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2, logged  # once per source
    assert "'theirs'" in logged[0] and "'unknown'" in logged[1]

    # A socket subscribing now starts at our position, not the neighbour's.
    late = FakeSocket()
    assert hub.subscribe_live(late, "routes", SubscriptionFilter()) == 21  # type: ignore[arg-type]
    hub.on_topic_message(topic_message("ours", 22, "our-epoch"))
    assert socket.writer.frames == late.writer.frames == ['{"offset": 22, "epoch": "our-epoch"}']
    assert stream.last == 22
