"""Who changed what: the admin's history (LogEntry) for changes made over REST and WebSocket,
and the ``metadata.actor`` of the notifications.

The admin writes its own LogEntry rows; every other entry point goes through the services,
which record the change here in the same transaction, so an object's History page in the admin
shows REST and WebSocket changes (and rollbacks) beside admin edits, with the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db import models

from tigateway_channels.models import ChangeSource

FLAGS = {"created": ADDITION, "updated": CHANGE, "rolled_back": CHANGE, "deleted": DELETION}
SOURCE_WORDS = {
    ChangeSource.REST: "over the REST API",
    ChangeSource.WEBSOCKET: "over the WebSocket API",
    ChangeSource.SHELL: "from code",
    ChangeSource.ADMIN: "in the admin",
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked for a change, and through which entry point."""

    user: Any = None
    source: str = ChangeSource.SHELL

    @property
    def username(self) -> str | None:
        if self.user is None or not getattr(self.user, "is_authenticated", False):
            return None
        return str(self.user.get_username())

    def as_metadata(self) -> dict[str, Any]:
        return {"user": self.username, "source": str(self.source)}


SHELL = Actor()


def record_change(actor: Actor, obj: models.Model, action: str, detail: str = "") -> None:
    """Add the change to ``obj``'s admin history, unless the admin records it itself or nobody
    is known (a shell, a migration). Call before a deletion, while ``obj`` still has its pk."""
    if actor.source == ChangeSource.ADMIN or actor.username is None or obj.pk is None:
        return
    words = f"{action.replace('_', ' ').capitalize()} {SOURCE_WORDS[ChangeSource(actor.source)]}"
    LogEntry.objects.log_actions(
        user_id=actor.user.pk,
        queryset=[obj],
        action_flag=FLAGS[action],
        change_message=f"{words}{': ' + detail if detail else ''}.",
        single_object=True,
    )
