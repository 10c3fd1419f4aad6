"""What a user may do now: the ``Rights`` a WebSocket asks for on every request, and the
per-process cache that keeps asking cheap.

A socket lives for hours; the user behind it can lose a permission, be deactivated or be
deleted meanwhile. Django's ``user.has_perm`` caches on the user object, which a socket keeps
for its whole life, so sockets ask this cache instead. Its entries are dropped when a user,
group or permission changes (``delivery/rights_events.py`` tells every worker), and expire
after ``RIGHTS_CACHE_SECONDS`` in any case, which bounds staleness if such a message is lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.signals import setting_changed
from django.dispatch import receiver

from tigateway_channels.conf import tigw_settings
from tigateway_channels.services.permissions import KNOWN_PERMISSIONS, READ_PERMISSIONS

# A user as the cache and the rights messages name it: ``str(pk)``; None is the anonymous user.
UserKey = str | None


@dataclass(frozen=True, slots=True)
class Rights:
    """A principal for ``services.permissions``: who, whether they may still act, and which of
    the app's permissions (``KNOWN_PERMISSIONS``) they hold, read from the database."""

    user_key: UserKey
    username: str = ""
    # False for a deleted user (and the anonymous user never "exists").
    exists: bool = False
    active: bool = False
    permissions: frozenset[str] = frozenset()

    @property
    def is_authenticated(self) -> bool:
        return self.user_key is not None

    @property
    def lost(self) -> str | None:
        """Why a user's sockets must close (deleted, deactivated); None while they may stay."""
        if self.user_key is None:
            return None
        if not self.exists:
            return "the user was deleted"
        if not self.active:
            return "the user was deactivated"
        return None

    def has_perm(self, permission: str) -> bool:
        return permission in self.permissions

    def get_username(self) -> str:
        return self.username

    @property
    def pk(self) -> UserKey:
        """The user's primary key (as text), where code asks a user for it (the audit log)."""
        return self.user_key


def user_key(user: Any) -> UserKey:
    """The cache key of a Django user (None for an anonymous one)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


def _rights_of(user: Any, key: UserKey) -> Rights:
    # has_perm asks every authentication backend; ModelBackend reads all of a user's
    # permissions once and keeps them on this fresh object, so this is two queries.
    granted = frozenset(p for p in KNOWN_PERMISSIONS if user.has_perm(p))
    if key is None:
        if tigw_settings.ALLOW_ANONYMOUS_READ:
            granted |= READ_PERMISSIONS
        return Rights(None, permissions=granted)
    return Rights(key, user.get_username(), True, bool(getattr(user, "is_active", True)), granted)


def load_rights(keys: Iterable[UserKey]) -> dict[UserKey, Rights]:
    """Read the rights of these users from the database (sync: call through the DB thread)."""
    wanted = set(keys)
    found: dict[UserKey, Rights] = {}
    if None in wanted:
        found[None] = _rights_of(AnonymousUser(), None)
    ids = [key for key in wanted if key is not None]
    if ids:
        model = get_user_model()
        for user in model._default_manager.filter(pk__in=ids):
            found[str(user.pk)] = _rights_of(user, str(user.pk))
    for gone in wanted - set(found):
        found[gone] = Rights(gone)  # deleted
    return found


class RightsCache:
    """Rights by user, per process; entries expire after ``RIGHTS_CACHE_SECONDS``.

    Every drop moves a generation on, and a load stores its result only if no drop happened
    since it started: a load that read the database before a change committed must not put
    the old rights back after the change's drop.
    """

    def __init__(self) -> None:
        self._entries: dict[UserKey, tuple[float, Rights]] = {}
        self._generation = 0
        # Drops come from signal handlers in other threads (the admin's, a shell's).
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self._generation

    def fresh(self, key: UserKey) -> Rights | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def store(self, found: dict[UserKey, Rights], generation: int) -> None:
        expires = time.monotonic() + tigw_settings.RIGHTS_CACHE_SECONDS
        with self._lock:
            if generation == self._generation:
                self._entries.update((key, (expires, rights)) for key, rights in found.items())

    def drop(self, keys: Iterable[UserKey]) -> None:
        with self._lock:
            self._generation += 1
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


rights_cache = RightsCache()


@receiver(setting_changed)
def _forget_rights(*, setting: str, **kwargs: Any) -> None:
    """Tests change who may do what through settings (backends, anonymous read)."""
    if setting in ("TIGATEWAY_CHANNELS", "AUTHENTICATION_BACKENDS", "INSTALLED_APPS"):
        rights_cache.clear()
