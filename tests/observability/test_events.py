"""System events: config applied and rolled back, route status changed, bursts of failed
logins; each with type, severity, message and details, and filterable by type."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.contrib.auth import authenticate

from tigateway_channels.delivery.topics import TOPICS, parse_filter
from tigateway_channels.models import OutboxMessage
from tigateway_channels.services import configs as config_service
from tigateway_channels.services.routes import create_route, update_route

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def every_event(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"SYSTEM_EVENTS": None, "AUTH_FAILURE_BURST": 3}


def events() -> list[dict[str, Any]]:
    frames = OutboxMessage.objects.filter(topic="events").order_by("offset")
    return [orjson.loads(message.frame)["data"] for message in frames]


def test_a_route_status_change_is_an_event_and_a_creation_is_not() -> None:
    create_route({"id": "users", "uri": "http://users", "status": "ACTIVE"})
    update_route("users", {"uri": "http://users-2"})
    update_route("users", {"status": "ERROR"})
    [event] = events()
    assert event["type"] == event["event"] == "route_status_changed"
    assert event["severity"] == "WARN"
    assert event["message"] == "Route users went from ACTIVE to ERROR"
    assert event["details"]["routeId"] == "users"
    assert (event["details"]["from"], event["details"]["to"]) == ("ACTIVE", "ERROR")


def test_applying_and_rolling_back_a_config_are_events() -> None:
    document = {"routes": [{"id": "a", "uri": "http://a"}]}
    config_service.save_config("route_config", "site", document)
    config_service.save_config("route_config", "site", {"routes": []})
    config_service.rollback_config("route_config", "site", 1)
    kinds = [(e["type"], e["severity"], e["details"]["version"]) for e in events()]
    assert kinds == [
        ("config_applied", "INFO", 1),
        ("config_applied", "INFO", 2),
        ("config_rolled_back", "WARN", 3),
    ]
    rolled = events()[-1]
    assert rolled["details"]["restoredVersion"] == 1
    assert rolled["details"]["configId"] == "site"


def test_a_burst_of_failed_logins_is_one_event(django_user_model: Any) -> None:
    django_user_model.objects.create_user(username="alice", password="right-password")
    for _ in range(5):
        assert authenticate(username="alice", password="wrong") is None
    [event] = [e for e in events() if e["type"] == "auth_failure_burst"]
    assert event["details"]["failures"] == 3
    assert event["severity"] == "WARN"


def test_events_not_chosen_are_not_recorded(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"SYSTEM_EVENTS": ["config_applied"]}
    create_route({"id": "users", "uri": "http://users"})
    update_route("users", {"status": "INACTIVE"})
    assert events() == []


def test_subscribers_filter_events_by_type() -> None:
    flt = parse_filter(TOPICS["events"], {"types": ["config_applied", "auth_failure_burst"]})
    assert flt.matches({"event": ["config_applied"]})
    assert not flt.matches({"event": ["route_status_changed"]})
