"""Access tokens this process verified recently, so a reconnect storm of one user's clients
costs one signature check and one user lookup, not one per socket.

An entry is the ``Identity`` a token verified to, keyed by the token's SHA-256 (the token
itself is not kept). It is used only while all of these hold, else the token is verified
again from scratch (``auth.py``):

- no rights message reached this process since the token was verified: every change that
  can make a token or its user refused (the user saved, deactivated or deleted, a password
  change, a token blacklisted) moves ``rights_cache.generation`` on, here and on every worker
  (``delivery/rights_events.py``), and an entry of another generation is never used;
- it is younger than ``RIGHTS_CACHE_SECONDS``, the bound on staleness if such a message is
  lost, as for cached rights;
- the token has not expired (its ``exp``).

Refusals are never cached. Bounded: past ``MAX_ENTRIES`` the oldest entry goes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING

from tigateway_channels.conf import tigw_settings
from tigateway_channels.services.rights import rights_cache

if TYPE_CHECKING:
    from tigateway_channels.websocket.auth import Identity

MAX_ENTRIES = 10_000


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class VerifiedTokens:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        # digest -> (rights generation, monotonic deadline, identity)
        self._entries: dict[bytes, tuple[int, float, Identity]] = {}
        self._max = max_entries
        # Stores come from the database thread, lookups from the event loop.
        self._lock = threading.Lock()

    def get(self, digest: bytes) -> Identity | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        generation, deadline, identity = entry
        expires_at = identity.expires_at
        if (
            generation != rights_cache.generation
            or deadline < time.monotonic()
            or (expires_at is not None and expires_at.timestamp() <= time.time())
        ):
            with self._lock:
                if self._entries.get(digest) is entry:
                    del self._entries[digest]
            return None
        return identity

    def store(self, digest: bytes, identity: Identity, generation: int) -> None:
        """Keep ``identity``, verified from the database as of rights ``generation`` (read
        before the verification started: a drop meanwhile makes the entry unusable)."""
        deadline = time.monotonic() + tigw_settings.RIGHTS_CACHE_SECONDS
        with self._lock:
            if generation != rights_cache.generation:
                return
            self._entries.pop(digest, None)
            while len(self._entries) >= self._max:
                del self._entries[next(iter(self._entries))]
            self._entries[digest] = (generation, deadline, identity)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


verified_tokens = VerifiedTokens()
