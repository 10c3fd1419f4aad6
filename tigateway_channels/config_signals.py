"""Config signals: a saved config gets its revision and a ``config_update``; a deleted one too.

Like ``signals.py`` for routes, this is the one place where a config change becomes a topic
message, so a save made by the service, a shell or a data migration is recorded and pushed
alike. The service passes who, from where and why (``ConfigChange``) on the instance.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tigateway_channels.bus import record_topic_message
from tigateway_channels.models import GatewayConfig
from tigateway_channels.services.config_history import ConfigChange, record_revision


def config_attrs(config: GatewayConfig) -> dict[str, list[str]]:
    return {"configType": [config.config_type], "configId": [config.config_id]}


def publish_config_change(config: GatewayConfig, action: str) -> None:
    record_topic_message(
        "config",
        "config_update",
        # Spec 5.1: data.config is the document itself; version, times and author beside it.
        {"action": action, **config.to_message()},
        config_attrs(config),
    )


@receiver(post_save, sender=GatewayConfig)
def config_saved(
    sender: type[GatewayConfig], instance: GatewayConfig, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw:  # loaddata: fixtures are not live changes
        return
    change = getattr(instance, "_config_change", None) or ConfigChange(
        "created" if created else "updated", author=instance.updated_by
    )
    instance._config_change = None  # type: ignore[attr-defined]
    record_revision(instance, change)
    publish_config_change(instance, change.action)


@receiver(post_delete, sender=GatewayConfig)
def config_deleted(sender: type[GatewayConfig], instance: GatewayConfig, **kwargs: Any) -> None:
    publish_config_change(instance, "deleted")
