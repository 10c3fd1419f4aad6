"""Route requests of docs/protocol.md §6, each checked against the user's Route permission as
it is now (``conn.rights()``), before the route is looked up."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from tigateway_channels.models import ChangeSource
from tigateway_channels.protocol.messages import ClientMessage
from tigateway_channels.services import routes as route_service
from tigateway_channels.services.permissions import (
    ADD_ROUTE,
    CHANGE_ROUTE,
    DELETE_ROUTE,
    require_permission,
)
from tigateway_channels.services.rights import Rights
from tigateway_channels.websocket.connection import Connection
from tigateway_channels.websocket.handlers.fields import optional, require
from tigateway_channels.websocket.handlers.registry import handles

WEBSOCKET = ChangeSource.WEBSOCKET


@database_sync_to_async
def _create(rights: Rights, route: dict[str, Any]) -> dict[str, Any]:
    return route_service.create_route(route, user=rights, source=WEBSOCKET).to_message()


@database_sync_to_async
def _update(rights: Rights, route_id: str, updates: dict[str, Any], version: Any) -> dict[str, Any]:
    route = route_service.update_route(
        route_id, updates, expected_version=version, user=rights, source=WEBSOCKET
    )
    return route.to_message()


@database_sync_to_async
def _delete(rights: Rights, route_id: str, version: Any) -> dict[str, Any]:
    return route_service.delete_route(
        route_id, expected_version=version, user=rights, source=WEBSOCKET
    )


@handles("route_create")
async def route_create(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    route = require(message.data, "route", dict, "a route object")
    rights = await conn.rights()
    require_permission(rights, ADD_ROUTE, "create routes")
    return await _create(rights, route)


@handles("route_update")
async def route_update(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    route_id = require(message.data, "routeId", str, "a route id")
    updates = require(message.data, "updates", dict, "an object of fields to change")
    version = optional(message.data, "version", int, "an integer version")
    rights = await conn.rights()
    require_permission(rights, CHANGE_ROUTE, "change routes")
    return await _update(rights, route_id, updates, version)


@handles("route_delete")
async def route_delete(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    route_id = require(message.data, "routeId", str, "a route id")
    version = optional(message.data, "version", int, "an integer version")
    rights = await conn.rights()
    require_permission(rights, DELETE_ROUTE, "delete routes")
    return await _delete(rights, route_id, version)
