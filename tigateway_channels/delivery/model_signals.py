"""Model signals: the one place where a saved or deleted route or config becomes a topic
message (a config save also records its revision).

A change made in the admin, over REST or WebSocket, in a shell or a data migration is pushed
alike. ``QuerySet.update()`` and ``bulk_create()`` skip signals; this app never uses them on
gateway models (see docs/settings.md).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_init, post_save
from django.dispatch import receiver

from tigateway_channels.delivery.outbox import record_topic_message
from tigateway_channels.models import GatewayConfig, Route
from tigateway_channels.services.audit import SHELL
from tigateway_channels.services.config_revisions import ConfigChange, record_revision


def route_attrs(route: Route, previous_status: str | None) -> dict[str, list[str]]:
    """Filter attributes: a route leaving a status still reaches that status's subscribers."""
    statuses = [route.status]
    if previous_status and previous_status != route.status:
        statuses.append(previous_status)
    return {"status": statuses, "routeId": [route.id]}


def actor_metadata(instance: Route | GatewayConfig) -> dict[str, Any]:
    """``metadata.actor``: who made the change and through which entry point; a change made
    without the services (a shell, a migration) has no known user."""
    return {"actor": (instance.actor or SHELL).as_metadata()}


def publish_route_change(route: Route, action: str, previous_status: str | None) -> None:
    record_topic_message(
        "routes",
        "route_update",
        {"action": action, "route": route.to_message()},
        route_attrs(route, previous_status),
        actor_metadata(route),
    )


@receiver(post_init, sender=Route)
def remember_loaded_status(sender: type[Route], instance: Route, **kwargs: Any) -> None:
    instance._loaded_status = instance.status if instance.pk else None  # type: ignore[attr-defined]


@receiver(post_save, sender=Route)
def route_saved(
    sender: type[Route], instance: Route, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw:  # loaddata: fixtures are not live changes
        return
    previous = getattr(instance, "_loaded_status", None)
    publish_route_change(instance, "created" if created else "updated", previous)
    instance._loaded_status = instance.status  # type: ignore[attr-defined]


@receiver(post_delete, sender=Route)
def route_deleted(sender: type[Route], instance: Route, **kwargs: Any) -> None:
    publish_route_change(instance, "deleted", None)


def config_attrs(config: GatewayConfig) -> dict[str, list[str]]:
    return {"configType": [config.config_type], "configId": [config.config_id]}


def publish_config_change(config: GatewayConfig, action: str) -> None:
    record_topic_message(
        "config",
        "config_update",
        # Spec 5.1: data.config is the document itself; version, times and author beside it.
        {"action": action, **config.to_message()},
        config_attrs(config),
        actor_metadata(config),
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
