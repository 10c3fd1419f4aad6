"""Which deployment this process serves: the identity in group names and channel messages.

Redis pub/sub ignores the database number, and two projects (or staging and production) often
share one Redis server with the same channel-layer prefix. Group names that carry an identity
of the deployment's own database keep each deployment's messages to itself, and every channel
message carries the same identity so a worker can drop anything that still crosses over.

The identity mixes the installation key (a random value the migration stores in the database)
with what the database server says of itself (PostgreSQL's system identifier and the database
name), so a copy of production restored into staging gets an identity of its own.
"""

from __future__ import annotations

import hashlib
import os
import threading

from django.db import DatabaseError, connection, transaction

from tigateway_channels.conf import tigw_settings
from tigateway_channels.models import Installation

_identity: str | None = None
_lock = threading.Lock()


def _installation_key() -> str:
    """The installation row's key, created here if a flush or a faked migration removed it."""
    keys = Installation.objects.order_by("pk").values_list("key", flat=True)
    key = keys.first()
    if key is None:
        Installation.objects.create()
        key = keys.first()  # two processes racing here both read the oldest row
    assert key is not None
    return key


def _database_identity() -> list[str]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            parts = [str(cursor.fetchone()[0])]
            try:
                # A savepoint, so a refusal (some managed services) leaves the caller's
                # transaction usable; the installation key still separates deployments.
                with transaction.atomic():
                    cursor.execute("SELECT system_identifier FROM pg_control_system()")
                    parts.append(str(cursor.fetchone()[0]))
            except DatabaseError:
                pass
        return parts
    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor == "sqlite" and name and not name.startswith("file:"):
        name = os.path.realpath(name)
    return [connection.vendor, name]


def deployment_id() -> str:
    """This deployment's identity (16 hex digits), read once per process (sync code only)."""
    global _identity
    if _identity is None:
        with _lock:
            if _identity is None:
                parts = [_installation_key(), *_database_identity()]
                _identity = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return _identity


def forget_deployment_id() -> None:
    """For tests that switch databases within one process."""
    global _identity
    _identity = None


def group_name(topic: str) -> str:
    """The topic's channel-layer group: private to this deployment unless GROUP_PREFIX is set."""
    prefix = tigw_settings.GROUP_PREFIX
    if prefix is None:
        prefix = f"tigw.{deployment_id()}"
    return f"{prefix}.{topic}"
