"""Django permissions for WebSocket requests: UNAUTHORIZED for anonymous, else FORBIDDEN."""

from __future__ import annotations

from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError


def require_permission(user: Any, permission: str, action: str) -> None:
    """Call from a sync context (``has_perm`` may query the database)."""
    if not getattr(user, "is_authenticated", False):
        raise GatewayError(
            ErrorCode.UNAUTHORIZED,
            f"Authentication required to {action}",
            {"permission": permission, "reason": "anonymous connections are read-only"},
        )
    if not user.has_perm(permission):
        raise GatewayError(
            ErrorCode.FORBIDDEN,
            f"You do not have permission to {action}",
            {"permission": permission, "reason": "missing Django permission"},
        )
