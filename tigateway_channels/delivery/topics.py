"""The topics of docs/protocol.md §5: message type, permission and subscription filters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tigateway_channels.models import RouteStatus
from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error
from tigateway_channels.protocol.json_values import is_integer, is_scalar
from tigateway_channels.services.permissions import (
    VIEW_CONFIG,
    VIEW_EVENTS,
    VIEW_HEALTH,
    VIEW_LOGS,
    VIEW_METRICS,
    VIEW_ROUTE,
)

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")


@dataclass(frozen=True)
class SubscriptionFilter:
    """What one socket wants of a topic: allowed values per message attribute.

    A topic message carries ``attrs`` (attribute -> list of values); the filter passes it when,
    for every attribute it names, at least one value is allowed. ``options`` hold settings that
    shape delivery rather than select it (the metrics ``interval``).
    """

    allowed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, attrs: Mapping[str, list[str]]) -> bool:
        for key, allowed in self.allowed.items():
            if not any(value in allowed for value in attrs.get(key, ())):
                return False
        return True

    def as_dict(self) -> dict[str, Any]:
        described: dict[str, Any] = {key: sorted(vals) for key, vals in self.allowed.items()}
        described.update(self.options)
        return described


FilterParser = Callable[[str, Mapping[str, Any]], SubscriptionFilter]


@dataclass(frozen=True)
class Topic:
    name: str
    message_type: str
    permission: str
    parse_filter: FilterParser
    # Whether the topic's messages carry offsets and history (recoverable after a reconnect).
    has_state: bool = False
    # Dotted path of a function returning the topic's full state, for failed recoveries.
    snapshot: str | None = None
    snapshot_key: str = "items"


def _invalid(topic: str, key: str, value: Any, reason: str) -> GatewayError:
    return field_error(
        ErrorCode.INVALID_SUBSCRIPTION,
        f"filters.{topic}.{key}".rstrip("."),
        value,
        reason,
        f"Invalid filter for topic {topic!r}",
    )


def _string_set(
    topic: str, key: str, value: Any, choices: tuple[str, ...] | None = None, limit: int = 1000
) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > limit:
        raise _invalid(topic, key, value, f"must be a string or a list of 1 to {limit} strings")
    for item in items:
        if not isinstance(item, str):
            raise _invalid(topic, key, value, "every value must be a string")
        if choices is not None and item not in choices:
            raise _invalid(topic, key, item, f"must be one of {', '.join(choices)}")
    return frozenset(items)


def _reject_unknown(topic: str, spec: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in spec:
        if key not in known:
            accepted = ", ".join(known) if known else "none"
            raise _invalid(topic, key, spec[key], f"unknown filter; accepted: {accepted}")


def parse_route_filter(topic: str, spec: Mapping[str, Any]) -> SubscriptionFilter:
    _reject_unknown(topic, spec, ("status", "routeIds"))
    allowed: dict[str, frozenset[str]] = {}
    if "status" in spec:
        allowed["status"] = _string_set(topic, "status", spec["status"], tuple(RouteStatus.values))
    if "routeIds" in spec:
        allowed["routeId"] = _string_set(topic, "routeIds", spec["routeIds"])
    return SubscriptionFilter(allowed)


def parse_config_filter(topic: str, spec: Mapping[str, Any]) -> SubscriptionFilter:
    _reject_unknown(topic, spec, ("configTypes", "configIds"))
    allowed: dict[str, frozenset[str]] = {}
    if "configTypes" in spec:
        allowed["configType"] = _string_set(topic, "configTypes", spec["configTypes"])
    if "configIds" in spec:
        allowed["configId"] = _string_set(topic, "configIds", spec["configIds"])
    return SubscriptionFilter(allowed)


def parse_metrics_filter(topic: str, spec: Mapping[str, Any]) -> SubscriptionFilter:
    _reject_unknown(topic, spec, ("interval",))
    options: dict[str, Any] = {}
    if "interval" in spec:
        interval = spec["interval"]
        if not is_integer(interval):
            raise _invalid(topic, "interval", interval, "must be an integer of milliseconds")
        if not 1000 <= interval <= 3_600_000:
            raise _invalid(topic, "interval", interval, "must be between 1000 and 3600000 ms")
        options["interval"] = interval
    return SubscriptionFilter(options=options)


def logger_glob_problem(value: str) -> str | None:
    """Why ``value`` is not a logger name, ``name.*`` (everything below it) or ``*``, the
    forms a log message's ``logger`` attribute lists (observability/logs.py); None if it is."""
    name = value[:-2] if value.endswith(".*") else value
    if value != "*" and (not name or "*" in name or len(value) > 200):
        return "a logger name, a name followed by .* (below it), or *"
    return None


def parse_log_filter(topic: str, spec: Mapping[str, Any]) -> SubscriptionFilter:
    _reject_unknown(topic, spec, ("level", "logger"))
    allowed: dict[str, frozenset[str]] = {}
    if "level" in spec:
        allowed["level"] = _string_set(topic, "level", spec["level"], LOG_LEVELS)
    if "logger" in spec:
        allowed["logger"] = _string_set(topic, "logger", spec["logger"])
        for value in allowed["logger"]:
            problem = logger_glob_problem(value)
            if problem:
                raise _invalid(topic, "logger", value, problem)
    return SubscriptionFilter(allowed)


def parse_event_filter(topic: str, spec: Mapping[str, Any]) -> SubscriptionFilter:
    """``types`` (or ``events``, its older name): the system event types wanted."""
    _reject_unknown(topic, spec, ("events", "types"))
    allowed: dict[str, frozenset[str]] = {}
    for key in ("events", "types"):
        if key in spec:
            wanted = _string_set(topic, key, spec[key])
            allowed["event"] = allowed.get("event", frozenset()) | wanted
    return SubscriptionFilter(allowed)


def parse_no_filter(topic: str, spec: Mapping[str, Any]) -> SubscriptionFilter:
    _reject_unknown(topic, spec, ())
    return SubscriptionFilter()


TOPICS: dict[str, Topic] = {
    topic.name: topic
    for topic in (
        Topic(
            "routes",
            "route_update",
            VIEW_ROUTE,
            parse_route_filter,
            has_state=True,
            snapshot="tigateway_channels.delivery.history.route_snapshot",
            snapshot_key="routes",
        ),
        Topic(
            "config",
            "config_update",
            VIEW_CONFIG,
            parse_config_filter,
            has_state=True,
            snapshot="tigateway_channels.services.configs.config_snapshot",
            snapshot_key="configs",
        ),
        Topic("metrics", "metrics", VIEW_METRICS, parse_metrics_filter),
        Topic("logs", "log", VIEW_LOGS, parse_log_filter),
        Topic("health", "health_update", VIEW_HEALTH, parse_no_filter),
        Topic(
            "events",
            "system_event",
            VIEW_EVENTS,
            parse_event_filter,
            has_state=True,
        ),
    )
}


def get_topic(name: Any) -> Topic:
    if not isinstance(name, str) or name not in TOPICS:
        raise GatewayError(
            ErrorCode.INVALID_SUBSCRIPTION,
            f"Unknown topic {str(name)[:64]!r}",
            {
                "field": "topics",
                "value": name if is_scalar(name) else str(name)[:64],
                "reason": f"unknown topic; available: {', '.join(TOPICS)}",
            },
        )
    return TOPICS[name]


def parse_filter(topic: Topic, spec: Any) -> SubscriptionFilter:
    if spec is None:
        return SubscriptionFilter()
    if not isinstance(spec, dict):
        raise _invalid(topic.name, "", spec, "a topic's filters must be a JSON object")
    return topic.parse_filter(topic.name, spec)
