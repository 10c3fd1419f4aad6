"""Route rules: validation, create, partial update with optimistic locking, delete.

Every writer (admin form, DRF viewset, WebSocket handler, a shell) calls these, so a rule is
written once and a change always goes through ``Route.save``/``delete``, whose signals push it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from django.db import IntegrityError, transaction

from tigateway_channels.models import ChangeSource, Route, RouteStatus
from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error, field_issue
from tigateway_channels.protocol.ids import ID_MAX_LENGTH, IdProblem, id_problem
from tigateway_channels.protocol.json_values import is_integer, json_issues
from tigateway_channels.protocol.text import text_problem
from tigateway_channels.scg import (
    SpecValidationError,
    parse_filters,
    parse_predicates,
    validate_uri,
)
from tigateway_channels.scg.scalars import INT_RANGE
from tigateway_channels.services.audit import Actor, record_change
from tigateway_channels.services.errors import require_integer, validation_error

WRITABLE_FIELDS = ("id", "uri", "predicates", "filters", "status", "order", "metadata")
UPDATABLE_FIELDS = tuple(name for name in WRITABLE_FIELDS if name != "id")
READ_ONLY_FIELDS = ("version", "createdAt", "updatedAt")
# Set by the server on every save; a route sent back as it was received may carry any value.
SERVER_TIMES = ("createdAt", "updatedAt")
ORDER_RANGE = INT_RANGE  # SCG's route order is a Java int
MAX_METADATA_BYTES = 16 * 1024
# Fields stored as JSON as the client gave them.
JSON_FIELDS = ("predicates", "filters", "metadata")


def _check_id(value: Any) -> list[dict[str, Any]]:
    problem = id_problem(value)
    if problem is IdProblem.NOT_A_STRING:
        return [field_issue("id", value, "id is required and must be a non-empty string")]
    if problem is IdProblem.TOO_LONG:
        reason = f"id must be at most {ID_MAX_LENGTH} characters"
        return [field_issue("id", value[:64] + "...", reason)]
    if problem is IdProblem.CHARACTERS:
        return [field_issue("id", value, "id may contain only letters, digits, '-' and '_'")]
    return []


def status_issue(value: Any) -> dict[str, Any] | None:
    """The problem with ``value`` as a route status, or None when it is one."""
    if value in RouteStatus.values:
        return None
    return field_issue("status", value, f"status must be one of {', '.join(RouteStatus.values)}")


def _check_metadata(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return [field_issue("metadata", value, "metadata must be a JSON object")]
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        return [
            field_issue("metadata", None, f"metadata must be at most {MAX_METADATA_BYTES} bytes")
        ]
    return []


def _check_field(name: str, value: Any) -> list[dict[str, Any]]:
    if name in JSON_FIELDS:
        if value is None:
            what = "a JSON object" if name == "metadata" else "a list; leave it out for none"
            return [field_issue(name, None, f"{name} must be {what}, not null")]
        # Stored as given: first what the database and the encoder cannot take at all.
        issues = json_issues(value, name)
        if issues:
            return issues
    try:
        if name == "id":
            return _check_id(value)
        if name == "uri":
            validate_uri(value, field="uri")
        elif name == "predicates":
            parse_predicates(value, field="predicates")
        elif name == "filters":
            parse_filters(value, field="filters")
        elif name == "status":
            issue = status_issue(value)
            return [issue] if issue else []
        elif name == "order":
            if not is_integer(value):
                return [field_issue("order", value, "order must be an integer")]
            if not ORDER_RANGE[0] <= value <= ORDER_RANGE[1]:
                return [field_issue("order", value, "order must fit in a 32-bit signed integer")]
        elif name == "metadata":
            return _check_metadata(value)
    except SpecValidationError as exc:
        return [issue.as_dict() for issue in exc.issues]
    return []


def writable_route_fields(data: Any, route_id: str | None = None) -> tuple[Any, Any]:
    """Split a route as the server sends it into the fields to write and its ``version``.

    So that a route taken from a ``route_update`` notification or an ``ack`` can be sent back:
    ``createdAt`` and ``updatedAt`` are ignored (the server sets them), and ``id``, when
    ``route_id`` is the route being updated and the id is the same, is no change. What is
    left is judged by ``clean_route_data``; ``version`` is for the caller (the expected
    version of an update; ignored on create).
    """
    if not isinstance(data, Mapping):
        return data, None
    fields = {key: value for key, value in data.items() if key not in (*SERVER_TIMES, "version")}
    if route_id is not None and fields.get("id") == route_id:
        del fields["id"]
    return fields, data.get("version")


def clean_route_data(
    data: Any, *, partial: bool, issues: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Validate route fields; report every problem at once as ``INVALID_ROUTE_CONFIG``.

    ``partial`` is for updates: only the given fields are checked and ``id`` may not change.
    ``issues`` are problems the caller already found, reported with the others.
    """
    if not isinstance(data, Mapping):
        raise validation_error(
            ErrorCode.INVALID_ROUTE_CONFIG,
            "Route configuration is invalid",
            [
                field_issue(
                    "route" if not partial else "updates",
                    type(data).__name__,
                    "must be a JSON object",
                )
            ],
        )
    issues = list(issues or ())
    allowed = UPDATABLE_FIELDS if partial else WRITABLE_FIELDS
    for key in data:
        if key not in allowed:
            reason = (
                "is read-only"
                if key in READ_ONLY_FIELDS
                else "a route's id cannot change"
                if key == "id"
                else f"unknown field; writable fields: {', '.join(allowed)}"
            )
            issues.append(field_issue(str(key), data[key], reason))
    if not partial:
        for required in ("id", "uri"):
            if required not in data:
                issues.append(field_issue(required, None, f"{required} is required"))
    for name in allowed:
        if name in data:
            issues.extend(_check_field(name, data[name]))
    if issues:
        raise validation_error(
            ErrorCode.INVALID_ROUTE_CONFIG, "Route configuration is invalid", issues
        )
    cleaned = {name: data[name] for name in allowed if name in data}
    if "uri" in cleaned:
        cleaned["uri"] = validate_uri(cleaned["uri"])  # stored with scheme and host lower-cased
    return cleaned


def route_not_found(route_id: Any) -> GatewayError:
    return field_error(
        ErrorCode.ROUTE_NOT_FOUND,
        "routeId",
        route_id,
        "no route has this id",
        f"Route {str(route_id)[:ID_MAX_LENGTH]!r} not found",
    )


def _check_version(route: Route, expected: Any) -> None:
    if expected is None:
        return
    require_integer("version", expected)
    if route.version != expected:
        raise GatewayError(
            ErrorCode.VERSION_CONFLICT,
            f"Route {route.id!r} was changed by someone else (now at version {route.version})",
            {
                **field_issue(
                    "version",
                    expected,
                    f"the route is at version {route.version}; reload it and try again",
                ),
                "routeId": route.id,
                "expectedVersion": expected,
                "currentVersion": route.version,
            },
        )


def _sent_version(sent: Any, expected: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The expected version of an update: given beside the updates, or inside them (a route
    sent back as it was received); both must then agree."""
    if sent is None:
        return expected, []
    if not is_integer(sent):
        return expected, [field_issue("version", sent, "version must be an integer")]
    if expected is not None and expected != sent:
        reason = f"differs from the expected version given beside the updates ({expected})"
        return expected, [field_issue("version", sent, reason)]
    return sent, []


def create_route(data: Any, *, user: Any = None, source: str = ChangeSource.SHELL) -> Route:
    """Create a route; one sent back as the server sent it keeps only its writable fields."""
    fields, _ = writable_route_fields(data)
    cleaned = clean_route_data(fields, partial=False)
    exists = field_error(
        ErrorCode.ROUTE_ALREADY_EXISTS,
        "id",
        cleaned["id"],
        "a route with this id exists",
        f"Route {cleaned['id']!r} already exists",
    )
    if Route.objects.filter(pk=cleaned["id"]).exists():
        raise exists
    route = Route(**cleaned)
    route.actor = actor = Actor(user, source)
    try:
        with transaction.atomic():
            route.save(force_insert=True)
            record_change(actor, route, "created")
    except IntegrityError:  # a concurrent create with the same id committed first
        if Route.objects.filter(pk=cleaned["id"]).exists():
            raise exists from None
        raise
    return route


def _locked_route(route_id: Any) -> Route:
    reason = "must be a string" if not isinstance(route_id, str) else text_problem(route_id)
    if reason is not None:
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "routeId",
            route_id,
            reason,
            f"routeId {reason}",
        )
    try:
        return Route.objects.select_for_update().get(pk=route_id)
    except Route.DoesNotExist:
        raise route_not_found(route_id) from None


def update_route(
    route_id: Any,
    updates: Any,
    *,
    expected_version: Any = None,
    user: Any = None,
    source: str = ChangeSource.SHELL,
) -> Route:
    """Change the given fields; ``updates`` may be the whole route as the server sent it."""
    fields, sent = writable_route_fields(updates, route_id if isinstance(route_id, str) else None)
    expected, issues = _sent_version(sent, expected_version)
    cleaned = clean_route_data(fields, partial=True, issues=issues)
    with transaction.atomic():
        route = _locked_route(route_id)
        _check_version(route, expected)
        changed = [name for name, value in cleaned.items() if getattr(route, name) != value]
        for name, value in cleaned.items():
            setattr(route, name, value)
        route.actor = actor = Actor(user, source)
        route.save()
        record_change(actor, route, "updated", ", ".join(changed) or "no field changed")
    return route


def delete_route(
    route_id: Any,
    *,
    expected_version: Any = None,
    user: Any = None,
    source: str = ChangeSource.SHELL,
) -> dict[str, Any]:
    """Delete and return the route as it last was."""
    with transaction.atomic():
        route = _locked_route(route_id)
        _check_version(route, expected_version)
        last = route.to_message()
        route.actor = actor = Actor(user, source)
        record_change(actor, route, "deleted")
        route.delete()
    return last


def set_route_status(route_ids: Iterable[str], status: str) -> int:
    """Change status route by route, so each change is saved, versioned and pushed."""
    if status not in RouteStatus.values:
        raise ValueError(f"unknown route status {status!r}")
    changed = 0
    with transaction.atomic():
        for route in Route.objects.select_for_update().filter(pk__in=list(route_ids)):
            if route.status != status:
                route.status = status
                route.save()
                changed += 1
    return changed
