"""Django permissions for requests: a principal without the right gets FORBIDDEN.

An anonymous WebSocket session is a principal like any other, whose rights come from the
permissions Django gives ``AnonymousUser`` (none by default); ``UNAUTHORIZED`` is kept for
credentials that were presented and failed (docs/protocol.md, "Authentication").
"""

from __future__ import annotations

from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError


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
