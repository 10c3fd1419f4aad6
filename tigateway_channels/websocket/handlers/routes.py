"""Route requests of docs/protocol.md §6, each checked against the user's Route permission."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from tigateway_channels.models import ChangeSource
from tigateway_channels.protocol.messages import ClientMessage
from tigateway_channels.services import routes as route_service
from tigateway_channels.services.permissions import require_permission
from tigateway_channels.websocket.connection import Connection
from tigateway_channels.websocket.handlers.fields import optional, require
from tigateway_channels.websocket.handlers.registry import handles

WEBSOCKET = ChangeSource.WEBSOCKET


@database_sync_to_async
def _create(user: Any, route: dict[str, Any]) -> dict[str, Any]:
    require_permission(user, "tigateway_channels.add_route", "create routes")
    return route_service.create_route(route, user=user, source=WEBSOCKET).to_message()


@database_sync_to_async
def _update(user: Any, route_id: str, updates: dict[str, Any], version: Any) -> dict[str, Any]:
    require_permission(user, "tigateway_channels.change_route", "change routes")
    route = route_service.update_route(
        route_id, updates, expected_version=version, user=user, source=WEBSOCKET
    )
    return route.to_message()


@database_sync_to_async
def _delete(user: Any, route_id: str, version: Any) -> dict[str, Any]:
    require_permission(user, "tigateway_channels.delete_route", "delete routes")
    return route_service.delete_route(
        route_id, expected_version=version, user=user, source=WEBSOCKET
    )


@handles("route_create")
async def route_create(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    route = require(message.data, "route", dict, "a route object")
    return await _create(conn.user, route)


@handles("route_update")
async def route_update(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    route_id = require(message.data, "routeId", str, "a route id")
    updates = require(message.data, "updates", dict, "an object of fields to change")
    version = optional(message.data, "version", int, "an integer version")
    return await _update(conn.user, route_id, updates, version)


@handles("route_delete")
async def route_delete(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    route_id = require(message.data, "routeId", str, "a route id")
    version = optional(message.data, "version", int, "an integer version")
    return await _delete(conn.user, route_id, version)
