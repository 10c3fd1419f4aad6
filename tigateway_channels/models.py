"""Gateway state as Django models, plus the per-topic sequence and outbox behind delivery."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.validators import validate_slug
from django.db import models
from django.utils.translation import gettext_lazy as _

from tigateway_channels.protocol.envelope import utc_timestamp


class RouteStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    PENDING = "PENDING", _("Pending")
    INACTIVE = "INACTIVE", _("Inactive")
    ERROR = "ERROR", _("Error")


class Route(models.Model):
    """One gateway route; only ACTIVE routes serve traffic."""

    id = models.CharField(
        primary_key=True,
        max_length=200,
        validators=[validate_slug],
        help_text=_("The route id of the WebSocket and REST APIs: letters, digits, - and _."),
    )
    uri = models.CharField(max_length=2048, help_text=_("Absolute http(s) or ws(s) URI."))
    predicates = models.JSONField(default=list, blank=True)
    filters = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=RouteStatus.choices, default=RouteStatus.ACTIVE, db_index=True
    )
    order = models.IntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    version = models.PositiveBigIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("route")
        verbose_name_plural = _("routes")

    def __str__(self) -> str:
        return self.id

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Every committed change, from any entry point, bumps the version clients compare.
        if not self._state.adding:
            self.version += 1
        super().save(*args, **kwargs)

    def to_message(self) -> dict[str, Any]:
        """The route as spec section 4.1 shows it (plus ``metadata`` and ``version``)."""
        return {
            "id": self.id,
            "uri": self.uri,
            "predicates": self.predicates,
            "filters": self.filters,
            "status": self.status,
            "order": self.order,
            "metadata": self.metadata,
            "version": self.version,
            "createdAt": utc_timestamp(self.created_at),
            "updatedAt": utc_timestamp(self.updated_at),
        }


def _new_epoch() -> str:
    return uuid.uuid4().hex[:12]


class TopicSequence(models.Model):
    """The last offset handed out on a topic; the row lock makes offsets contiguous."""

    topic = models.CharField(primary_key=True, max_length=64)
    offset = models.PositiveBigIntegerField(default=0)
    epoch = models.CharField(max_length=32, default=_new_epoch)

    def __str__(self) -> str:
        return f"{self.topic}@{self.offset} ({self.epoch})"


class OutboxMessage(models.Model):
    """A topic message recorded in the transaction that caused it, published after commit."""

    topic = models.CharField(max_length=64)
    offset = models.PositiveBigIntegerField()
    frame = models.TextField(help_text=_("The serialised envelope, sent to sockets as is."))
    attrs = models.JSONField(default=dict, help_text=_("What subscription filters match on."))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "offset"], name="tigw_outbox_topic_offset")
        ]
        indexes = [models.Index(fields=["published_at", "id"], name="tigw_outbox_pending")]

    def __str__(self) -> str:
        return f"{self.topic}#{self.offset}"


class Observability(models.Model):
    """No table: carries the permissions of the streams that are not models."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_metrics", "Can view gateway metrics"),
            ("view_logs", "Can view gateway logs"),
            ("view_health", "Can view gateway health"),
            ("view_events", "Can view gateway system events"),
        ]

    def __str__(self) -> str:
        return "gateway observability"
