"""A change of who may do what becomes a rights message to every worker of this deployment.

A user saved or deleted, a change of a user's groups or permissions or of a group's
permissions, a group or permission deleted, a session logged out, a token blacklisted
(``rights_signals.py``): after commit, the process that made the change drops its own cached
rights and sends one message on the deployment's ``rights`` group (named like the topic
groups, ``deployment.py``). Every worker's hub receives it, drops what is not its
deployment's, and hands it to the WebSocket edge, which drops its cached rights and re-checks
the open sockets concerned (``websocket/rights.py``). A lost message costs time, not
correctness: cached rights expire after ``RIGHTS_CACHE_SECONDS`` anyway.

Session keys never cross the channel layer, only their SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from tigateway_channels.asgi_types import Message
from tigateway_channels.delivery.deployment import deployment_id, group_name
from tigateway_channels.delivery.loop_thread import run_layer_call
from tigateway_channels.delivery.outbox import channel_layer
from tigateway_channels.services.rights import rights_cache

logger = logging.getLogger(__name__)

RIGHTS_EVENT = "tigw.rights"
# The group every worker joins beside the topic groups (not a topic: nothing to subscribe to).
RIGHTS_GROUP = "rights"


def session_fingerprint(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def rights_message(
    deployment: str | None,
    *,
    users: Iterable[Any] = (),
    everyone: bool = False,
    sessions: Iterable[str] = (),
    tokens: Iterable[str] = (),
) -> Message:
    """What crosses the channel layer; ``deployment`` lets workers drop what is not theirs.

    ``users`` are user keys (``str(pk)``); ``everyone`` means any user's rights may have
    changed; ``sessions`` are fingerprints of logged-out sessions; ``tokens`` blacklisted
    ``jti`` values."""
    return {
        "type": RIGHTS_EVENT,
        "deployment": deployment,
        "users": sorted({str(user) for user in users}),
        "all": everyone,
        "sessions": sorted(set(sessions)),
        "tokens": sorted(set(tokens)),
    }


def _send(message: Message) -> None:
    try:
        layer = channel_layer()
        group = group_name(RIGHTS_GROUP)
        run_layer_call(layer, lambda: layer.group_send(group, message))
    except Exception as exc:
        # Workers' cached rights expire after RIGHTS_CACHE_SECONDS, and each re-checks every
        # socket once the channel layer is back (hub.py): a lost message costs that delay.
        logger.warning("Telling the workers about a change of rights failed (%s)", exc)


def publish_rights_change(
    *,
    users: Iterable[Any] = (),
    everyone: bool = False,
    sessions: Iterable[str] = (),
    tokens: Iterable[str] = (),
) -> None:
    """After the current transaction commits (at once outside one), drop this process's
    cached rights and tell every worker. Never raises: a change of rights must not fail."""
    users, sessions, tokens = list(users), list(sessions), list(tokens)

    def publish() -> None:
        if everyone:
            rights_cache.clear()
        else:
            rights_cache.drop(str(user) for user in users)
        try:
            deployment = deployment_id()
        except Exception as exc:
            logger.warning("Telling the workers about a change of rights failed (%s)", exc)
            return
        message = rights_message(
            deployment, users=users, everyone=everyone, sessions=sessions, tokens=tokens
        )
        _send(message)

    transaction.on_commit(publish)
