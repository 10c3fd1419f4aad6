"""System checks turn a misconfiguration into a message with an id and a hint."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks

from tigateway_channels.checks import check_channel_layer, check_deployment, check_settings


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def test_missing_channel_layer_is_e001(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {}
    messages = check_channel_layer()
    assert ids(messages) == ["tigateway_channels.E001"]
    assert "RedisPubSubChannelLayer" in messages[0].hint


def test_layer_without_backend_is_e002(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"CONFIG": {}}}
    assert ids(check_channel_layer()) == ["tigateway_channels.E002"]


def test_unimportable_backend_is_e003(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "nowhere.Layer"}}
    assert ids(check_channel_layer()) == ["tigateway_channels.E003"]


def test_in_memory_layer_without_debug_is_w001(settings: Any) -> None:
    settings.DEBUG = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert ids(check_channel_layer()) == ["tigateway_channels.W001"]


def test_redis_layer_passes(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}
    }
    assert check_channel_layer() == []


def test_layer_alias_follows_the_setting(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"CHANNEL_LAYER": "gateway"}
    assert ids(check_channel_layer()) == ["tigateway_channels.E001"]


def test_unknown_setting_key_is_e011(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOW_ANONYMOUS_REED": True}
    messages = check_settings()
    assert ids(messages) == ["tigateway_channels.E011"]
    assert "ALLOW_ANONYMOUS_READ" in messages[0].hint


def test_non_positive_limits_are_e012(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"MAX_MESSAGE_BYTES": 0, "SEND_QUEUE_LIMIT": "many"}
    assert ids(check_settings()) == ["tigateway_channels.E012", "tigateway_channels.E012"]


def test_bad_allowed_origins_is_e013(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"ALLOWED_ORIGINS": "https://a.example"}
    assert ids(check_settings()) == ["tigateway_channels.E013"]


def test_settings_not_a_dict_is_e010(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = ["nope"]
    assert ids(check_settings()) == ["tigateway_channels.E010"]


def test_example_project_passes_all_checks(settings: Any) -> None:
    settings.DEBUG = True  # pytest-django turns it off; the example project runs with it on
    assert check_channel_layer() == []
    assert check_settings() == []


REDIS_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"


def redis_layer(*hosts: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": REDIS_LAYER, "CONFIG": {"hosts": list(hosts)}}}


def test_check_deploy_names_the_in_memory_layer_with_several_workers(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = True
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    messages = [m for m in run_checks(include_deployment_checks=True) if "tigateway" in m.id]
    assert ids(messages) == ["tigateway_channels.W001"]
    assert "4 workers" in messages[0].msg
    assert "tigateway_channels.W001" not in ids(run_checks())  # DEBUG on, no --deploy


@pytest.mark.parametrize(
    "host",
    [
        "redis://redis.internal:6379/0",
        "rediss://10.0.0.7:6380/1",
        {"address": "redis://redis.internal:6379/0"},
        ("redis.internal", 6379),
    ],
)
def test_redis_without_password_off_this_machine_is_w003(settings: Any, host: Any) -> None:
    settings.CHANNEL_LAYERS = redis_layer(host)
    messages = check_deployment()
    assert ids(messages) == ["tigateway_channels.W003"]
    assert "password" in messages[0].msg


@pytest.mark.parametrize(
    "host",
    [
        "redis://:s3cret@redis.internal:6379/0",
        "redis://user:s3cret@redis.internal:6379/0",
        {"address": "redis://redis.internal:6379/0", "password": "s3cret"},
        "redis://127.0.0.1:6379/0",
        "redis://localhost:6379/0",
        "redis://[::1]:6379/0",
        "unix:///run/redis.sock",
    ],
)
def test_redis_with_password_or_on_loopback_passes(settings: Any, host: Any) -> None:
    settings.CHANNEL_LAYERS = redis_layer(host)
    assert check_deployment() == []


def test_history_that_cannot_cover_a_deploy_is_w004(settings: Any) -> None:
    settings.CHANNEL_LAYERS = redis_layer("redis://127.0.0.1:6379/0")
    settings.TIGATEWAY_CHANNELS = {"HISTORY_MAX_AGE_SECONDS": 30}
    assert ids(check_deployment()) == ["tigateway_channels.W004"]
    settings.TIGATEWAY_CHANNELS = {"HISTORY_MAX_MESSAGES": 10}
    assert ids(check_deployment()) == ["tigateway_channels.W004"]


def test_relay_and_history_numbers_must_be_positive_e015(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"RELAY_INTERVAL_SECONDS": 0, "HISTORY_MAX_MESSAGES": "all"}
    assert ids(check_settings()) == ["tigateway_channels.E015", "tigateway_channels.E015"]


def test_rights_cache_and_expiry_warning_must_be_positive_e017(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"RIGHTS_CACHE_SECONDS": 0, "AUTH_EXPIRY_WARNING_SECONDS": "1m"}
    assert ids(check_settings()) == ["tigateway_channels.E017", "tigateway_channels.E017"]


@pytest.mark.parametrize("prefix", ["", "has space", "x" * 61, 7])
def test_bad_group_prefix_is_e016(settings: Any, prefix: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"GROUP_PREFIX": prefix}
    assert ids(check_settings()) == ["tigateway_channels.E016"]


def test_explicit_group_prefix_passes(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"GROUP_PREFIX": "shop-staging"}
    assert check_settings() == []
