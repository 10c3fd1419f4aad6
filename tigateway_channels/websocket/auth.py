"""Who is on the socket: a simplejwt access token (``credentials.py`` says where it is read),
else the Django session, else an anonymous session (the token is optional, as the API document
says). An ``auth`` request renews a socket's token in place (``renew_identity``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings

from tigateway_channels.asgi_types import Scope
from tigateway_channels.authentication import GatewayJWTAuthentication
from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.services.rights import UserKey, rights_cache, user_key
from tigateway_channels.websocket.credentials import PresentedToken
from tigateway_channels.websocket.verified_tokens import token_digest, verified_tokens

MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class Identity:
    user: Any
    # When the credentials stop being valid: the token's ``exp``, or the session's expiry date.
    expires_at: dt.datetime | None = None
    method: str = "session"
    # The token's ``jti`` (a blacklisted one closes the socket), for ``jwt``.
    token_id: str | None = None
    # The session's key (its logout closes the socket), for ``session``.
    session_key: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))

    @property
    def user_key(self) -> UserKey:
        return user_key(self.user)


ANONYMOUS = Identity(user=AnonymousUser(), method="anonymous")


def redacted(token: str) -> str:
    """Enough of a token to tell which one was refused, never enough to use it."""
    return f"{token[:12]}... ({len(token)} characters)"


def _refusal_reason(exc: Exception) -> str:
    """simplejwt's own words, the specific ones ("Token is expired") over its summary."""
    detail = getattr(exc, "detail", None)
    if not isinstance(detail, dict):
        return str(detail if detail is not None else exc)
    messages = detail.get("messages") or []
    specific = [str(m.get("message")) for m in messages if isinstance(m, dict)]
    return "; ".join(specific) or str(detail.get("detail"))


def _refused(token: str, reason: str, source: str | None) -> GatewayError:
    details: dict[str, Any] = {"field": "token", "value": redacted(token), "reason": reason}
    if source is not None:
        details["source"] = source
    return GatewayError(ErrorCode.UNAUTHORIZED, "Token is invalid or expired", details)


def _user_from_token(raw_token: str, source: str | None) -> Identity:
    authentication = GatewayJWTAuthentication()
    try:
        # bytes, as DRF hands it over from the Authorization header.
        validated = authentication.get_validated_token(raw_token.encode())
        user = authentication.get_user(validated)
    except (InvalidToken, TokenError, AuthenticationFailed) as exc:
        raise _refused(raw_token, _refusal_reason(exc), source) from None
    if not user.is_active:
        raise _refused(raw_token, "the user is inactive", source)
    expires = dt.datetime.fromtimestamp(int(validated["exp"]), tz=dt.UTC)
    token_id = validated.get(api_settings.JTI_CLAIM)
    return Identity(
        user=user,
        expires_at=expires,
        method="jwt",
        token_id=token_id if isinstance(token_id, str) else None,
    )


async def authenticate_token(token: str, source: str | None = None) -> Identity:
    """The identity of an access token; ``UNAUTHORIZED`` (field ``token``) if it does not verify."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        reason = "token too long" if token else "token is empty"
        raise _refused(token, reason, source)
    digest = token_digest(token)
    known = verified_tokens.get(digest)
    if known is not None:
        return known
    generation = rights_cache.generation
    identity = await database_sync_to_async(_user_from_token)(token, source)
    verified_tokens.store(digest, identity, generation)
    return identity


def _session_identity(scope: Scope, user: Any) -> Identity:
    session = scope.get("session")
    key = getattr(session, "session_key", None)
    expires = session.get_expiry_date() if session is not None and key else None
    return Identity(user=user, expires_at=expires, method="session", session_key=key)


async def authenticate(scope: Scope, presented: PresentedToken | None) -> Identity:
    """Token wins over session; raise ``UNAUTHORIZED`` for a token that does not verify."""
    if presented is not None:
        return await authenticate_token(presented.token, presented.source)
    # Channels' AuthMiddleware resolved the session's user before the consumer started.
    user = scope.get("user") or AnonymousUser()
    if not user.is_authenticated:
        return ANONYMOUS
    return await database_sync_to_async(_session_identity)(scope, user)


def session_expiry(session_key: str, key: UserKey) -> dt.datetime | None:
    """When the session expires, if it still logs in user ``key``; None once it does not
    (logged out, expired, flushed, or its auth hash no longer matches the password). Sync.

    Django's own ``get_user`` decides, as for an HTTP request with that session cookie.
    """
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(session_key)
    if user_key(get_user(SimpleNamespace(session=session))) != key:  # type: ignore[arg-type]
        return None
    return session.get_expiry_date()
