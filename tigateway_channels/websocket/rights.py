"""Rights follow the user, not the socket.

Every request and subscribe asks ``current_rights`` (the per-process cache of
``services/rights.py``, filled through the database thread), never ``user.has_perm``, which
would answer for the socket's whole life what it answered first. When a rights message arrives
(``delivery/rights_events.py``), this worker's ``RightsWatch`` drops the cached rights and
re-checks the open sockets concerned: the sockets of a deleted or deactivated user, of a
logged-out or expired session, or of a blacklisted token get ``UNAUTHORIZED`` saying why and
close with 4401; a socket keeps only the subscriptions its user may still read, and is told
with ``FORBIDDEN`` naming each topic it lost. Fan-out checks nothing: what a socket may not
read, it is no longer subscribed to.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from typing import Any, Protocol

from channels.db import database_sync_to_async

from tigateway_channels.asgi_types import Message
from tigateway_channels.authentication import blacklisted
from tigateway_channels.delivery.hub import Hub
from tigateway_channels.delivery.rights_events import session_fingerprint
from tigateway_channels.delivery.topics import TOPICS
from tigateway_channels.protocol.disconnect import Disconnect
from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.services.permissions import forbidden
from tigateway_channels.services.rights import Rights, UserKey, load_rights, rights_cache
from tigateway_channels.websocket.auth import Identity, session_expiry

logger = logging.getLogger(__name__)

SESSION_GONE = "the session ended: logged out, expired, or the password changed"
TOKEN_REVOKED = "the token was blacklisted"


def unauthorized(reason: str) -> GatewayError:
    """Why a socket's session ended, sent before it closes with 4401."""
    return GatewayError(ErrorCode.UNAUTHORIZED, "Session ended", {"reason": reason})


class SessionEnded(Exception):
    """Raised by a request that found its user gone: the reply is ``error``, then 4401."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


async def current_rights(key: UserKey) -> Rights:
    """The user's rights now: the cached ones while fresh, else read through the DB thread."""
    cached = rights_cache.fresh(key)
    if cached is not None:
        return cached
    generation = rights_cache.generation
    found = await database_sync_to_async(load_rights)([key])
    rights_cache.store(found, generation)
    return found[key]


class Watched(Protocol):
    """What the watch needs of a connection (the consumer)."""

    @property
    def identity(self) -> Identity: ...

    def subscribed_topics(self) -> list[str]: ...

    def unsubscribe(self, topics: list[str]) -> dict[str, Any]: ...

    def send_error(self, error: GatewayError, request_id: Any) -> None: ...

    def close(
        self, disconnect: Disconnect, error: GatewayError | None = None, request_id: Any = None
    ) -> None: ...


def enforce(conn: Watched, rights: Rights, credentials_lost: str | None = None) -> None:
    """Apply fresh rights to an open socket; ``credentials_lost`` says why its session or
    token no longer stands, if it does not."""
    reason = rights.lost or credentials_lost
    if reason is not None:
        conn.close(Disconnect.SESSION_ENDED, unauthorized(reason))
        return
    for name in conn.subscribed_topics():
        permission = TOPICS[name].permission
        if rights.has_perm(permission):
            continue
        conn.unsubscribe([name])
        error = forbidden(rights, permission, f"read topic {name!r}")
        error.details = {
            **error.details,
            "field": "topics",
            "value": name,
            "reason": "the permission was taken away; this subscription ended",
        }
        conn.send_error(error, None)


def _credentials(identity: Identity) -> tuple[str, str] | None:
    if identity.session_key:
        return ("session", identity.session_key)
    if identity.token_id:
        return ("token", identity.token_id)
    return None


def _read(
    keys: set[UserKey], sessions: set[tuple[str, UserKey]], token_ids: set[str]
) -> tuple[dict[UserKey, Rights], dict[tuple[str, str], str]]:
    """The users' rights, and why sessions or tokens among these no longer stand."""
    lost = {
        ("session", session): SESSION_GONE
        for session, key in sessions
        if session_expiry(session, key) is None
    }
    lost.update((("token", token_id), TOKEN_REVOKED) for token_id in blacklisted(token_ids))
    return load_rights(keys), lost


class RightsWatch:
    """This worker's open sockets by user, re-checked when a rights message names them."""

    def __init__(self) -> None:
        self._sockets: dict[UserKey, weakref.WeakSet[Any]] = {}
        self._users: set[UserKey] = set()
        self._everyone = False
        self._task: asyncio.Task[None] | None = None

    def add(self, conn: Watched) -> None:
        self._sockets.setdefault(conn.identity.user_key, weakref.WeakSet()).add(conn)

    def remove(self, conn: Watched) -> None:
        key = conn.identity.user_key
        sockets = self._sockets.get(key)
        if sockets is not None:
            sockets.discard(conn)
            if not sockets:
                del self._sockets[key]

    def recheck(self, key: UserKey) -> None:
        """Re-check the sockets of ``key`` with rights read now (the cache is left alone)."""
        self._users.add(key)
        self._start()

    def on_message(self, message: Message) -> None:
        """A rights message of this deployment (the hub drops the others)."""
        users = [str(user) for user in message.get("users") or ()]
        if message.get("all"):
            rights_cache.clear()
            self._everyone = True
        else:
            rights_cache.drop(users)
            self._users.update(users)
        sessions = set(message.get("sessions") or ())
        tokens = set(message.get("tokens") or ())
        if sessions or tokens:
            self._end_credentials(sessions, tokens)
        self._start()

    def _end_credentials(self, sessions: set[str], tokens: set[str]) -> None:
        """Logged-out sessions and blacklisted tokens end at once, without a database read."""
        for sockets in list(self._sockets.values()):
            for conn in list(sockets):
                identity = conn.identity
                if identity.token_id is not None and identity.token_id in tokens:
                    conn.close(Disconnect.SESSION_ENDED, unauthorized(TOKEN_REVOKED))
                elif identity.session_key and session_fingerprint(identity.session_key) in sessions:
                    conn.close(Disconnect.SESSION_ENDED, unauthorized(SESSION_GONE))

    def _start(self) -> None:
        if (self._users or self._everyone) and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _targets(self, everyone: bool, users: Iterable[UserKey]) -> list[Any]:
        keys = list(self._sockets) if everyone else users
        return [conn for key in keys for conn in list(self._sockets.get(key, ()))]

    async def _run(self) -> None:
        """Re-check until nothing is pending; messages that arrive meanwhile are batched."""
        while self._users or self._everyone:
            everyone, users = self._everyone, self._users
            self._everyone, self._users = False, set()
            targets = self._targets(everyone, users)
            if not targets:
                continue
            generation = rights_cache.generation
            keys = {conn.identity.user_key for conn in targets}
            sessions = {
                (conn.identity.session_key, conn.identity.user_key)
                for conn in targets
                if conn.identity.session_key
            }
            token_ids = {conn.identity.token_id for conn in targets if conn.identity.token_id}
            try:
                found, lost = await database_sync_to_async(_read)(keys, sessions, token_ids)
            except Exception:
                logger.warning("Re-checking the rights of open sockets failed", exc_info=True)
                self._everyone |= everyone
                self._users |= set(users)
                await asyncio.sleep(1.0)
                continue
            rights_cache.store(found, generation)
            for conn in targets:
                identity = conn.identity
                key = identity.user_key
                if key not in found:
                    continue  # the socket changed users meanwhile; its new key is pending
                credentials = _credentials(identity)
                enforce(conn, found[key], lost.get(credentials) if credentials else None)


_watches: weakref.WeakKeyDictionary[Hub, RightsWatch] = weakref.WeakKeyDictionary()


def rights_watch(hub: Hub) -> RightsWatch:
    """The watch of this hub's sockets, listening to its rights messages from the first call."""
    watch = _watches.get(hub)
    if watch is None:
        watch = _watches[hub] = RightsWatch()
        hub.on_rights_change(watch.on_message)
    return watch
