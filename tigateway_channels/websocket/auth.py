"""Who is on the socket: a simplejwt access token in ``?token=``, else the Django session, else
an anonymous session (the token is optional, as the API document says)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from tigateway_channels.asgi_types import Scope
from tigateway_channels.protocol.errors import ErrorCode, GatewayError


@dataclass(frozen=True)
class Identity:
    user: Any
    # When the token stops being valid; None for sessions (Django expires those itself).
    expires_at: dt.datetime | None = None
    method: str = "session"

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))


ANONYMOUS = Identity(user=AnonymousUser(), method="anonymous")


def _redacted(token: str) -> str:
    """Enough of a token to tell which one was refused, never enough to use it."""
    return f"{token[:12]}... ({len(token)} characters)"


def _refusal_reason(exc: Exception) -> str:
    """simplejwt's own words, the specific ones ("Token is expired") over its summary."""
    detail = getattr(exc, "detail", None)
    if not isinstance(detail, dict):
        return str(exc)
    messages = detail.get("messages") or []
    specific = [str(m.get("message")) for m in messages if isinstance(m, dict)]
    return "; ".join(specific) or str(detail.get("detail"))


def _user_from_token(raw_token: str) -> Identity:
    authentication = JWTAuthentication()
    try:
        # bytes, as DRF hands it over from the Authorization header.
        validated = authentication.get_validated_token(raw_token.encode())
        user = authentication.get_user(validated)
    except (InvalidToken, TokenError, AuthenticationFailed) as exc:
        reason = _refusal_reason(exc)
        raise GatewayError(
            ErrorCode.UNAUTHORIZED,
            "Token is invalid or expired",
            {"field": "token", "value": _redacted(raw_token), "reason": reason},
        ) from None
    if not user.is_active:
        raise GatewayError(
            ErrorCode.UNAUTHORIZED,
            "User is inactive",
            {"field": "token", "value": _redacted(raw_token), "reason": "the user is inactive"},
        )
    expires = dt.datetime.fromtimestamp(int(validated["exp"]), tz=dt.UTC)
    return Identity(user=user, expires_at=expires, method="jwt")


async def authenticate(scope: Scope, token: str | None) -> Identity:
    """Token wins over session; raise ``UNAUTHORIZED`` for a token that does not verify."""
    if token is not None:
        if len(token) > 8192:
            raise GatewayError(
                ErrorCode.UNAUTHORIZED,
                "Token is invalid or expired",
                {"field": "token", "value": _redacted(token), "reason": "token too long"},
            )
        return await database_sync_to_async(_user_from_token)(token)
    user = scope.get("user") or AnonymousUser()
    return Identity(user=user, method="session" if user.is_authenticated else "anonymous")
