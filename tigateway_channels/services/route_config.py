"""The built-in ``route_config`` type (docs/protocol.md §7): a set of routes and the global filters.

Validation reuses the route rules (``clean_route_data``) and the filter syntax
(``parse_filters``); nothing about a route is decided here. Applying makes the routes the
config owns exactly the routes it lists, each change going through ``Route.save``/``delete``
so it is versioned and pushed as a ``route_update`` like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tigateway_channels.models import GatewayConfig, Route
from tigateway_channels.protocol.errors import GatewayError
from tigateway_channels.scg import SpecValidationError, parse_filters
from tigateway_channels.services.config_type_base import (
    ConfigType,
    config_issue,
    describe_changes,
)
from tigateway_channels.services.errors import error_issues
from tigateway_channels.services.routes import UPDATABLE_FIELDS, clean_route_data

FIELDS = ("routes", "globalFilters")
MAX_ROUTES = 1000


def route_defaults() -> dict[str, Any]:
    """What a route in a config gets for the fields it leaves out: the model's defaults."""
    return {
        field.name: field.get_default()
        for field in Route._meta.concrete_fields
        if field.name in UPDATABLE_FIELDS and field.name != "uri"
    }


def _listed_routes(document: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(index, id) of each route of the document that has a string id."""
    routes = document.get("routes")
    if not isinstance(routes, list):
        return []
    return [
        (index, route["id"])
        for index, route in enumerate(routes)
        if isinstance(route, Mapping) and isinstance(route.get("id"), str)
    ]


def _route_issues(index: int, route: Any) -> list[dict[str, Any]]:
    try:
        clean_route_data(route, partial=False)
    except GatewayError as error:
        issues = []
        for issue in error_issues(error):
            field = str(issue.get("field", ""))
            path = f"routes[{index}]" if field in ("", "route") else f"routes[{index}].{field}"
            issues.append(config_issue(path, issue.get("value"), str(issue.get("reason"))))
        return issues
    return []


class RouteConfigType(ConfigType):
    name = "route_config"

    def validate(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        issues = [
            config_issue(
                key, document[key], "unknown field; a route_config holds routes and globalFilters"
            )
            for key in document
            if key not in FIELDS
        ]
        routes = document.get("routes", [])
        if not isinstance(routes, list):
            issues.append(config_issue("routes", routes, "routes must be a list of routes"))
        elif len(routes) > MAX_ROUTES:
            issues.append(
                config_issue("routes", None, f"a route_config holds at most {MAX_ROUTES} routes")
            )
        else:
            first_index: dict[str, int] = {}
            for index, route in enumerate(routes):
                issues += _route_issues(index, route)
                route_id = route.get("id") if isinstance(route, Mapping) else None
                if not isinstance(route_id, str):
                    continue
                if route_id in first_index:
                    first = first_index[route_id]
                    reason = f"route {route_id!r} is already listed at routes[{first}]"
                    issues.append(config_issue(f"routes[{index}].id", route_id, reason))
                else:
                    first_index[route_id] = index
        try:
            parse_filters(document.get("globalFilters"), field="globalFilters")
        except SpecValidationError as exc:
            issues += [config_issue(i.field, i.value, i.reason) for i in exc.issues]
        return issues

    def check_state(
        self, config: GatewayConfig | None, document: dict[str, Any], *, adopt_routes: bool
    ) -> list[dict[str, Any]]:
        """A route owned by another config is never taken over; an unowned one only on request."""
        listed = _listed_routes(document)
        owners = dict(
            Route.objects.select_for_update()
            .filter(pk__in=[route_id for _, route_id in listed])
            .values_list("pk", "owner_config")
        )
        own_pk = config.pk if config is not None else None
        labels = {
            pk: f"{config_type}/{config_id}"
            for pk, config_type, config_id in GatewayConfig.objects.filter(
                pk__in={owner for owner in owners.values() if owner is not None}
            ).values_list("pk", "config_type", "config_id")
        }
        issues = []
        for index, route_id in listed:
            if route_id not in owners:
                continue  # a new route
            owner = owners[route_id]
            if owner is not None and owner == own_pk:
                continue  # already ours
            if owner is not None:
                reason = (
                    f"route {route_id!r} is owned by config {labels.get(owner, owner)}; "
                    "remove it there first"
                )
            elif adopt_routes:
                continue
            else:
                reason = (
                    f"route {route_id!r} already exists and belongs to no config; delete it "
                    "first, or apply with adoptRoutes to let this config take it over"
                )
            issues.append(config_issue(f"routes[{index}].id", route_id, reason))
        return issues

    def apply(self, config: GatewayConfig, document: dict[str, Any], *, adopt_routes: bool) -> None:
        wanted = [
            {**route_defaults(), **clean_route_data(route, partial=False)}
            for route in document.get("routes") or []
        ]
        wanted_ids = {route["id"] for route in wanted}
        owned = Route.objects.select_for_update().filter(owner_config=config).order_by("pk")
        for route in owned:
            if route.pk not in wanted_ids:
                route.actor = config.actor  # the config's author changed its routes too
                route.delete()
        existing = Route.objects.select_for_update().in_bulk(list(wanted_ids))
        for data in wanted:
            stored = existing.get(data["id"])
            if stored is None:
                created = Route(**data, owner_config=config)
                created.actor = config.actor
                created.save(force_insert=True)
                continue
            changed = stored.owner_config_id != config.pk
            for name, value in data.items():
                if getattr(stored, name) != value:
                    setattr(stored, name, value)
                    changed = True
            if changed:
                stored.owner_config = config
                stored.actor = config.actor
                stored.save()

    def remove(self, config: GatewayConfig) -> None:
        for route in Route.objects.select_for_update().filter(owner_config=config).order_by("pk"):
            route.actor = config.actor
            route.delete()

    def summarize(self, old: dict[str, Any] | None, new: dict[str, Any]) -> str:
        new_routes = _routes_by_id(new)
        if old is None:
            return f"created with {len(new_routes)} route(s)"
        parts = describe_changes(_routes_by_id(old), new_routes, "route(s)")
        if (old.get("globalFilters") or []) != (new.get("globalFilters") or []):
            parts.append("changed globalFilters")
        return "; ".join(parts) or "no change"


def _routes_by_id(document: Mapping[str, Any]) -> dict[str, Any]:
    return {route_id: document["routes"][index] for index, route_id in _listed_routes(document)}
