"""System checks turn a misconfiguration into a message with an id and a hint."""

from __future__ import annotations

from typing import Any

from tigateway_channels.checks import check_channel_layer, check_settings


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
