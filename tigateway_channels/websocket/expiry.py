"""When a socket's credentials run out: a token's holder is warned ``auth_expiring``
``AUTH_EXPIRY_WARNING_SECONDS`` before its ``exp`` (time to send an ``auth`` request with a
fresh token) and closed with 4401 at ``exp``; a session socket is re-checked at the session's
expiry date, and closed then unless the session was extended meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from typing import Any, Protocol

from channels.db import database_sync_to_async

from tigateway_channels.conf import tigw_settings
from tigateway_channels.protocol.disconnect import Disconnect
from tigateway_channels.protocol.envelope import utc_timestamp
from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.websocket.auth import Identity, session_expiry
from tigateway_channels.websocket.rights import unauthorized


class Clocked(Protocol):
    """What the clock needs of a connection (the consumer)."""

    def send_message(self, message_type: str, data: dict[str, Any]) -> None: ...

    def close(
        self, disconnect: Disconnect, error: GatewayError | None = None, request_id: Any = None
    ) -> None: ...


def token_expired() -> GatewayError:
    return GatewayError(
        ErrorCode.UNAUTHORIZED,
        "Token expired",
        {"field": "token", "reason": "reconnect with a fresh access token (or renew with auth)"},
    )


class CredentialClock:
    """The timers of one socket's credentials; ``start`` replaces them (an ``auth`` renewal)."""

    def __init__(self, conn: Clocked) -> None:
        self._conn = conn
        self._identity: Identity | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, identity: Identity) -> None:
        self.cancel()
        self._identity = identity
        expires_at = identity.expires_at
        if expires_at is None:
            return
        loop = asyncio.get_running_loop()
        left = expires_at.timestamp() - time.time()
        self._timers.append(loop.call_later(max(0.0, left), self._expired, identity))
        if identity.method == "jwt":
            warn_in = max(0.0, left - tigw_settings.AUTH_EXPIRY_WARNING_SECONDS)
            self._timers.append(loop.call_later(warn_in, self._warn, expires_at))

    def cancel(self) -> None:
        self._identity = None
        for timer in self._timers:
            timer.cancel()
        self._timers = []

    def _warn(self, expires_at: dt.datetime) -> None:
        reason = "send an auth request with a fresh access token to keep this socket open"
        self._conn.send_message(
            "auth_expiring", {"expiresAt": utc_timestamp(expires_at), "reason": reason}
        )

    def _expired(self, identity: Identity) -> None:
        if identity.method == "jwt":
            self._conn.close(Disconnect.TOKEN_EXPIRED, token_expired())
            return
        task = asyncio.get_running_loop().create_task(self._session_expired(identity))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session_expired(self, identity: Identity) -> None:
        """Close, unless the session was extended meanwhile (then wait for its new date)."""
        assert identity.session_key is not None
        expires = await database_sync_to_async(session_expiry)(
            identity.session_key, identity.user_key
        )
        if self._identity is not identity:
            return  # renewed with a token, or closed, meanwhile
        if expires is not None and expires.timestamp() > time.time():
            self.start(dataclasses.replace(identity, expires_at=expires))
        else:
            self._conn.close(Disconnect.SESSION_ENDED, unauthorized("the session expired"))
