"""Django permissions for requests: a principal without the right gets FORBIDDEN.

An anonymous WebSocket session is a principal like any other, whose rights come from the
permissions Django gives ``AnonymousUser`` (none by default); ``UNAUTHORIZED`` is kept for
credentials that were presented and failed (docs/protocol.md, "Authentication").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError

# The Django permissions of gateway configs, which the REST API, the WebSocket API, the config
# topic and the admin all ask for.
VIEW_CONFIG = "tigateway_channels.view_gatewayconfig"
ADD_CONFIG = "tigateway_channels.add_gatewayconfig"
CHANGE_CONFIG = "tigateway_channels.change_gatewayconfig"
DELETE_CONFIG = "tigateway_channels.delete_gatewayconfig"
ROLLBACK_CONFIG = "tigateway_channels.rollback_gatewayconfig"

# What a config change calls with ``creating`` once the config row is locked; it raises
# FORBIDDEN when the caller may not.
Authorize = Callable[[bool], None]


def require_permission(user: Any, permission: str, action: str) -> None:
    """Call from a sync context (``has_perm`` may query the database)."""
    if not getattr(user, "is_authenticated", False) and not user.has_perm(permission):
        raise GatewayError(
            ErrorCode.FORBIDDEN,
            f"Anonymous sessions may not {action}",
            {
                "permission": permission,
                "reason": "connect with an access token (?token=) or a session login",
            },
        )
    if not user.has_perm(permission):
        raise GatewayError(
            ErrorCode.FORBIDDEN,
            f"You do not have permission to {action}",
            {"permission": permission, "reason": "missing Django permission"},
        )


def config_write_authorizer(user: Any) -> Authorize:
    """The ``authorize`` of a config save: add to create, change to replace.

    Which one applies is known only once the config row is locked, so the service calls it
    with ``creating`` then.
    """

    def authorize(creating: bool) -> None:
        if creating:
            require_permission(user, ADD_CONFIG, "create gateway configs")
        else:
            require_permission(user, CHANGE_CONFIG, "change gateway configs")

    return authorize
