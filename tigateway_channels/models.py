"""Gateway state as Django models, plus the per-topic sequence and outbox behind delivery."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.validators import RegexValidator, validate_slug
from django.db import models, router, transaction
from django.utils.translation import gettext_lazy as _

from tigateway_channels.protocol.envelope import utc_timestamp
from tigateway_channels.protocol.ids import CONFIG_TYPE_MAX_LENGTH, ID_MAX_LENGTH, ID_REGEX

# Text the config service cuts to fit: who saved (Django's username length), and the
# one-line summary of a revision.
AUTHOR_MAX_LENGTH = 150
SUMMARY_MAX_LENGTH = 500

# The admin's check of a route or config id: the id rule with Django's slug message.
validate_id = RegexValidator(ID_REGEX, validate_slug.message, validate_slug.code)


class RouteStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    PENDING = "PENDING", _("Pending")
    INACTIVE = "INACTIVE", _("Inactive")
    ERROR = "ERROR", _("Error")


class Versioned(models.Model):
    """A ``version`` that every saved change bumps, from any entry point, for clients to
    compare (optimistic locking, VERSION_CONFLICT)."""

    version = models.PositiveBigIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            self.version += 1
        # One transaction for the row and the outbox message its post_save signal records,
        # also for a plain autocommit save(): a crash between the two would lose the message.
        with transaction.atomic(
            using=kwargs.get("using") or router.db_for_write(type(self)), savepoint=False
        ):
            super().save(*args, **kwargs)


class Route(Versioned):
    """One gateway route; only ACTIVE routes serve traffic."""

    # Who is saving or deleting this instance (services/audit.py), read by the model signals
    # for the notification's metadata.actor; not a field.
    actor: Any = None

    id = models.CharField(
        primary_key=True,
        max_length=ID_MAX_LENGTH,
        validators=[validate_id],
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The route_config that lists this route, if any. PROTECT: a config is deleted through the
    # config service, which deletes its routes one by one (each pushed) before the config, so
    # a route never loses its owner silently and never disappears unannounced.
    owner_config = models.ForeignKey(
        "GatewayConfig",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_routes",
        editable=False,
        help_text=_("The route_config that manages this route; empty for a standalone route."),
    )

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("route")
        verbose_name_plural = _("routes")

    def __str__(self) -> str:
        return self.id

    def to_message(self) -> dict[str, Any]:
        """The route as docs/protocol.md §6 shows it (plus ``metadata`` and ``version``)."""
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


def config_message(
    config_type: str,
    config_id: str,
    document: Any,
    *,
    version: int,
    created_at: Any,
    updated_at: Any,
    updated_by: str,
) -> dict[str, Any]:
    """A config on the wire (docs/protocol.md §7): ``config`` is the document with its ``id``
    first, as the API document shows it; type, version, times and author sit beside it."""
    if isinstance(document, dict):
        document = {"id": config_id, **{k: v for k, v in document.items() if k != "id"}}
    return {
        "configType": config_type,
        "configId": config_id,
        "version": version,
        "createdAt": utc_timestamp(created_at),
        "updatedAt": utc_timestamp(updated_at),
        "updatedBy": updated_by or None,
        "config": document,
    }


class GatewayConfig(Versioned):
    """A JSON document of one config type (``route_config`` or a registered type), versioned.

    Written through ``services.configs`` only: it validates, applies and records the change;
    ``delivery.model_signals`` keeps a revision of every saved version and pushes it.
    """

    # Who is saving or deleting this instance (services/audit.py), read by the model signals
    # for the notification's metadata.actor; not a field.
    actor: Any = None

    # What the config service knows about the save in progress (who, from where, a rollback
    # of which revision: ``services.config_revisions.ConfigChange``); the post_save signal
    # records the revision with it. None for a save made with the plain ORM.
    _config_change: Any = None

    config_type = models.CharField(max_length=CONFIG_TYPE_MAX_LENGTH, db_index=True)
    config_id = models.CharField(max_length=ID_MAX_LENGTH, validators=[validate_id])
    document = models.JSONField(default=dict, blank=True)
    updated_by = models.CharField(max_length=AUTHOR_MAX_LENGTH, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["config_type", "config_id"]
        constraints = [
            models.UniqueConstraint(fields=["config_type", "config_id"], name="tigw_config_key")
        ]
        permissions = [("rollback_gatewayconfig", "Can roll back gateway config")]
        verbose_name = _("gateway config")
        verbose_name_plural = _("gateway configs")

    def __str__(self) -> str:
        return f"{self.config_type}/{self.config_id}"

    def to_message(self) -> dict[str, Any]:
        """The config as ``config_get`` replies and ``config_update`` notifications carry it."""
        return config_message(
            self.config_type,
            self.config_id,
            self.document,
            version=self.version,
            created_at=self.created_at,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


class ChangeSource(models.TextChoices):
    ADMIN = "admin", _("Admin")
    REST = "rest", _("REST API")
    WEBSOCKET = "websocket", _("WebSocket API")
    SHELL = "shell", _("Shell or code")


class GatewayConfigRevision(models.Model):
    """One saved version of a config: the full document, who, when, from where and what."""

    config = models.ForeignKey(GatewayConfig, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveBigIntegerField()
    document = models.JSONField(default=dict)
    action = models.CharField(max_length=16)
    author = models.CharField(max_length=AUTHOR_MAX_LENGTH, blank=True)
    source = models.CharField(
        max_length=16, choices=ChangeSource.choices, default=ChangeSource.SHELL
    )
    summary = models.CharField(max_length=SUMMARY_MAX_LENGTH, blank=True)
    # The revision a rollback restored; pruning keeps a revision while one still points at it.
    restored_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="restored_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["config", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["config", "version"], name="tigw_config_revision")
        ]
        verbose_name = _("gateway config revision")
        verbose_name_plural = _("gateway config revisions")

    def __str__(self) -> str:
        return f"{self.config} v{self.version}"

    def to_message(self) -> dict[str, Any]:
        """The config as it was at this revision, in the shape of ``GatewayConfig.to_message``."""
        config = self.config
        return config_message(
            config.config_type,
            config.config_id,
            self.document,
            version=self.version,
            created_at=config.created_at,
            updated_at=self.created_at,
            updated_by=self.author,
        )

    def to_summary(self) -> dict[str, Any]:
        """The revision listing entry (no document)."""
        return {
            "version": self.version,
            "action": self.action,
            "author": self.author or None,
            "source": self.source,
            "summary": self.summary,
            "createdAt": utc_timestamp(self.created_at),
            "restoredFrom": self.restored_from.version if self.restored_from else None,
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


def _new_installation_key() -> str:
    return uuid.uuid4().hex


class Installation(models.Model):
    """One row per database: the key that keeps this deployment's channel-layer groups its own
    on a Redis server shared with other deployments (``deployment.py``)."""

    key = models.CharField(max_length=32, unique=True, default=_new_installation_key)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"installation {self.key}"


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
            ("report_metrics", "Can report gateway metrics (external gateways)"),
        ]

    def __str__(self) -> str:
        return "gateway observability"


# Where a node's or a process's name is kept (host:pid, or a name an external gateway gives).
NODE_MAX_LENGTH = 200


class MetricBucket(models.Model):
    """One series (route, method, status class) of one node in one time bucket, as one process
    wrote it (observability/buckets.py). Each process writes only its own rows, with the
    bucket's full figures, so writing a row again is harmless."""

    resolution = models.PositiveIntegerField(help_text=_("Bucket length in seconds."))
    start = models.DateTimeField()
    route_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    method = models.CharField(max_length=16)
    status_class = models.PositiveSmallIntegerField()
    node = models.CharField(max_length=NODE_MAX_LENGTH)
    process = models.CharField(max_length=NODE_MAX_LENGTH)
    count = models.PositiveBigIntegerField()
    sum_ms = models.FloatField()
    min_ms = models.FloatField()
    max_ms = models.FloatField()
    sketch = models.TextField(help_text=_("The latency sketch (observability/sketch.py)."))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "resolution",
                    "start",
                    "route_id",
                    "method",
                    "status_class",
                    "node",
                    "process",
                ],
                name="tigw_metric_bucket_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.route_id or '-'} {self.method} {self.status_class}xx @{self.start}"


class MetricSample(models.Model):
    """A figure of a node that is not a request (CPU seconds, memory, collections, route
    counts) in one time bucket: count, sum, min and max of what was reported in it."""

    resolution = models.PositiveIntegerField()
    start = models.DateTimeField()
    name = models.CharField(max_length=32)
    node = models.CharField(max_length=NODE_MAX_LENGTH)
    process = models.CharField(max_length=NODE_MAX_LENGTH)
    count = models.PositiveBigIntegerField()
    sum = models.FloatField()
    min = models.FloatField()
    max = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resolution", "start", "name", "node", "process"],
                name="tigw_metric_sample_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.node} @{self.start}"


class LogRecord(models.Model):
    """A log record of a configured logger, kept for ``log_query`` (observability/logs.py)."""

    timestamp = models.DateTimeField()
    level = models.CharField(max_length=8)
    logger = models.CharField(max_length=200)
    message = models.TextField()
    thread = models.CharField(max_length=200, blank=True)
    context = models.JSONField(default=dict, blank=True)
    node = models.CharField(max_length=NODE_MAX_LENGTH, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["timestamp", "id"], name="tigw_log_time"),
            models.Index(fields=["level", "timestamp", "id"], name="tigw_log_level_time"),
        ]
        verbose_name = _("log entry")
        verbose_name_plural = _("log entries")

    def __str__(self) -> str:
        return f"{self.timestamp} {self.level} {self.logger}"
