"""System events operators need to know about, on the ``events`` topic.

Each is a ``system_event`` with ``type``, ``severity`` (``INFO``, ``WARN``, ``ERROR``),
``message`` and ``details`` (and ``event``, the same as ``type``, as the channel-layer events
recorded by the hub have it). They go through the outbox like route changes: rare, ordered,
recoverable after a reconnect; subscribers filter them by type (``filters.events.types``).

Recorded here: ``worker_started``, ``worker_stopping``, ``health_changed`` (a worker's status),
``config_applied``, ``config_rolled_back``, ``route_status_changed`` and
``auth_failure_burst``. The hub records ``channel_layer_down`` and ``channel_layer_up``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.outbox import record_topic_message
from tigateway_channels.models import GatewayConfigRevision, Route
from tigateway_channels.observability.backends import get_backend

logger = logging.getLogger(__name__)

# The types recorded here, which SYSTEM_EVENTS chooses from; the hub's are always recorded.
RECORDED_TYPES = (
    "worker_started",
    "worker_stopping",
    "health_changed",
    "config_applied",
    "config_rolled_back",
    "route_status_changed",
    "auth_failure_burst",
)
EVENT_TYPES = (*RECORDED_TYPES, "channel_layer_down", "channel_layer_up")


def wanted(event_type: str) -> bool:
    """Whether this deployment records events of this type (``SYSTEM_EVENTS``)."""
    chosen = tigw_settings.SYSTEM_EVENTS
    return chosen is None or event_type in chosen


def record_system_event(
    event_type: str, severity: str, message: str, details: dict[str, Any]
) -> None:
    """Record an event in the current transaction (sync code); it is published after commit."""
    if not wanted(event_type):
        return
    record_topic_message(
        "events",
        "system_event",
        {
            "type": event_type,
            "event": event_type,
            "severity": severity,
            "message": message,
            "details": details,
        },
        {"event": [event_type]},
    )


# -- route status -----------------------------------------------------------------------


@receiver(pre_save, sender=Route, dispatch_uid="tigw_observability_route_before")
def _remember_status(sender: type[Route], instance: Route, raw: bool, **kwargs: Any) -> None:
    instance._status_before_save = getattr(instance, "_loaded_status", None)  # type: ignore[attr-defined]


@receiver(post_save, sender=Route, dispatch_uid="tigw_observability_route_after")
def _route_status_changed(
    sender: type[Route], instance: Route, created: bool, raw: bool, **kwargs: Any
) -> None:
    before = getattr(instance, "_status_before_save", None)
    if raw or created or before is None or before == instance.status:
        return
    actor = instance.actor.as_metadata() if instance.actor is not None else None
    record_system_event(
        "route_status_changed",
        "WARN" if instance.status == "ERROR" else "INFO",
        f"Route {instance.id} went from {before} to {instance.status}",
        {"routeId": instance.id, "from": before, "to": instance.status, "actor": actor},
    )


# -- configs ----------------------------------------------------------------------------


@receiver(post_save, sender=GatewayConfigRevision, dispatch_uid="tigw_observability_revision")
def _config_revision(
    sender: type[GatewayConfigRevision],
    instance: GatewayConfigRevision,
    created: bool,
    raw: bool,
    **kwargs: Any,
) -> None:
    if raw or not created:
        return
    config = instance.config
    details = {
        "configType": config.config_type,
        "configId": config.config_id,
        "version": instance.version,
        "action": instance.action,
        "author": instance.author or None,
        "source": instance.source,
        "summary": instance.summary,
    }
    if instance.action == "rolled_back":
        restored = instance.restored_from.version if instance.restored_from else None
        details["restoredVersion"] = restored
        record_system_event(
            "config_rolled_back",
            "WARN",
            f"Config {config} rolled back to version {restored} (now version {instance.version})",
            details,
        )
    else:
        record_system_event(
            "config_applied",
            "INFO",
            f"Config {config} version {instance.version} applied ({instance.action})",
            details,
        )


# -- authentication failures --------------------------------------------------------------


def authentication_failed(source: str, reason: str) -> None:
    """Count one failed authentication across the cluster; the failure that makes it
    ``AUTH_FAILURE_BURST`` within ``AUTH_FAILURE_WINDOW_SECONDS`` records one
    ``auth_failure_burst`` event (sync code). The WebSocket and REST edges call it where they
    refuse credentials; Django's ``user_login_failed`` (admin, token endpoint) is counted here.
    """
    if not wanted("auth_failure_burst"):
        return
    window = tigw_settings.AUTH_FAILURE_WINDOW_SECONDS
    try:
        count = get_backend().count_in_window("auth_failures", window)
    except Exception:
        logger.debug("Counting an authentication failure failed", exc_info=True)
        return
    if count == tigw_settings.AUTH_FAILURE_BURST:
        record_system_event(
            "auth_failure_burst",
            "WARN",
            f"{count} authentication failures within {window:g} s",
            {
                "failures": count,
                "windowSeconds": window,
                "lastSource": source,
                "lastReason": reason,
            },
        )


@receiver(user_login_failed, dispatch_uid="tigw_observability_login_failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any) -> None:
    path = getattr(request, "path", "") or ""
    authentication_failed("password", f"password refused{' at ' + path if path else ''}")
