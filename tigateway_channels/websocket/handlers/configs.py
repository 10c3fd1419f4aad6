"""Config requests of docs/protocol.md §7 (plus rollback and delete), each permission-checked
with the user's rights as they are now (``conn.rights()``).

Reading needs ``view_gatewayconfig`` (anonymous sockets have it with ``ALLOW_ANONYMOUS_READ``).
``config_update`` needs ``add_gatewayconfig`` to create and ``change_gatewayconfig`` to change,
decided once the config row is locked; a user with neither is refused before any lookup, so a
refusal never says whether the config exists. Rollback and delete have their own permissions,
also checked before the lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from tigateway_channels.models import ChangeSource
from tigateway_channels.services import configs as config_service
from tigateway_channels.services.permissions import (
    DELETE_CONFIG,
    ROLLBACK_CONFIG,
    VIEW_CONFIG,
    config_write_authorizer,
    require_config_write,
    require_permission,
)
from tigateway_channels.services.rights import Rights
from tigateway_channels.websocket.handlers.fields import optional, require
from tigateway_channels.websocket.handlers.registry import handles

if TYPE_CHECKING:
    from tigateway_channels.protocol.messages import ClientMessage
    from tigateway_channels.websocket.connection import Connection


def _key(data: dict[str, Any]) -> tuple[str, str]:
    return (
        require(data, "configType", str, "a config type, e.g. route_config"),
        require(data, "configId", str, "a config id"),
    )


@database_sync_to_async
def _get(key: tuple[str, str], version: Any) -> dict[str, Any]:
    return config_service.get_config(*key, version)


@database_sync_to_async
def _update(
    rights: Rights, key: tuple[str, str], document: Any, version: Any, adopt: bool
) -> dict[str, Any]:
    config = config_service.save_config(
        *key,
        document,
        expected_version=version,
        user=rights,
        source=ChangeSource.WEBSOCKET,
        adopt_routes=adopt,
        authorize=config_write_authorizer(rights),
    )
    return config.to_message()


@database_sync_to_async
def _rollback(
    rights: Rights, key: tuple[str, str], to_version: int, version: Any
) -> dict[str, Any]:
    config = config_service.rollback_config(
        *key, to_version, expected_version=version, user=rights, source=ChangeSource.WEBSOCKET
    )
    return config.to_message()


@database_sync_to_async
def _delete(rights: Rights, key: tuple[str, str], version: Any) -> dict[str, Any]:
    return config_service.delete_config(
        *key, expected_version=version, user=rights, source=ChangeSource.WEBSOCKET
    )


@handles("config_get")
async def config_get(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    key = _key(message.data)
    version = optional(message.data, "version", int, "an integer version")
    require_permission(await conn.rights(), VIEW_CONFIG, "view gateway configs")
    return await _get(key, version)


@handles("config_update")
async def config_update(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    """From a client, always a request: create or replace the document (docs/protocol.md §7)."""
    key = _key(message.data)
    document = require(message.data, "config", dict, "a config object")
    version = optional(message.data, "version", int, "an integer version")
    adopt = optional(message.data, "adoptRoutes", bool, "true or false") or False
    rights = await conn.rights()
    require_config_write(rights)
    return await _update(rights, key, document, version, adopt)


@handles("config_rollback")
async def config_rollback(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    key = _key(message.data)
    to_version = require(message.data, "toVersion", int, "the version to restore")
    version = optional(message.data, "version", int, "an integer version")
    rights = await conn.rights()
    require_permission(rights, ROLLBACK_CONFIG, "roll back gateway configs")
    return await _rollback(rights, key, to_version, version)


@handles("config_delete")
async def config_delete(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    key = _key(message.data)
    version = optional(message.data, "version", int, "an integer version")
    rights = await conn.rights()
    require_permission(rights, DELETE_CONFIG, "delete gateway configs")
    return await _delete(rights, key, version)
