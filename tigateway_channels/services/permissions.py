"""Django permissions for requests: a principal without the right gets FORBIDDEN.

An anonymous WebSocket session is a principal like any other, whose rights come from the
permissions Django gives ``AnonymousUser`` (none by default); ``UNAUTHORIZED`` is kept for
credentials that were presented and failed (docs/protocol.md, "Authentication").

A principal is anything with ``is_authenticated`` and ``has_perm``: a Django user (REST, the
admin) or the ``Rights`` a WebSocket asks of the per-process cache (``services/rights.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError

VIEW_ROUTE = "tigateway_channels.view_route"
ADD_ROUTE = "tigateway_channels.add_route"
CHANGE_ROUTE = "tigateway_channels.change_route"
DELETE_ROUTE = "tigateway_channels.delete_route"

# The Django permissions of gateway configs, which the REST API, the WebSocket API, the config
# topic and the admin all ask for.
VIEW_CONFIG = "tigateway_channels.view_gatewayconfig"
ADD_CONFIG = "tigateway_channels.add_gatewayconfig"
CHANGE_CONFIG = "tigateway_channels.change_gatewayconfig"
DELETE_CONFIG = "tigateway_channels.delete_gatewayconfig"
ROLLBACK_CONFIG = "tigateway_channels.rollback_gatewayconfig"

# The streams of samples and events (content type ``tigateway_channels.observability``).
VIEW_METRICS = "tigateway_channels.view_metrics"
VIEW_LOGS = "tigateway_channels.view_logs"
VIEW_HEALTH = "tigateway_channels.view_health"
VIEW_EVENTS = "tigateway_channels.view_events"

# What ALLOW_ANONYMOUS_READ gives anonymous sessions: every topic and config_get.
READ_PERMISSIONS = frozenset(
    {VIEW_ROUTE, VIEW_CONFIG, VIEW_METRICS, VIEW_LOGS, VIEW_HEALTH, VIEW_EVENTS}
)
# Every permission the WebSocket API asks for: the rights cache holds a user's answer to each.
KNOWN_PERMISSIONS = READ_PERMISSIONS | {
    ADD_ROUTE,
    CHANGE_ROUTE,
    DELETE_ROUTE,
    ADD_CONFIG,
    CHANGE_CONFIG,
    DELETE_CONFIG,
    ROLLBACK_CONFIG,
}

# What a config change calls with ``creating`` once the config row is locked; it raises
# FORBIDDEN when the caller may not.
Authorize = Callable[[bool], None]


def forbidden(user: Any, permission: str, action: str) -> GatewayError:
    """The refusal of ``action`` for want of ``permission``, worded for who asked."""
    if not getattr(user, "is_authenticated", False):
        return GatewayError(
            ErrorCode.FORBIDDEN,
            f"Anonymous sessions may not {action}",
            {
                "permission": permission,
                "reason": "connect with an access token (?token=) or a session login",
            },
        )
    return GatewayError(
        ErrorCode.FORBIDDEN,
        f"You do not have permission to {action}",
        {"permission": permission, "reason": "missing Django permission"},
    )


def require_permission(user: Any, permission: str, action: str) -> None:
    """Call from a sync context (a Django user's ``has_perm`` may query the database)."""
    if not user.has_perm(permission):
        raise forbidden(user, permission, action)


def require_config_write(user: Any) -> None:
    """Before a config is looked up: a caller who may neither create nor change configs gets
    one refusal, whether the config exists or not (existence is for those who may view)."""
    if not (user.has_perm(ADD_CONFIG) or user.has_perm(CHANGE_CONFIG)):
        raise forbidden(user, CHANGE_CONFIG, "create or change gateway configs")


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
