"""Django signals that change who may do what, each turned into a rights message
(``rights_events.py``) for every worker: the user model saved or deleted, ``User.groups``,
``User.user_permissions`` and ``Group.permissions`` changed from either side, a group or a
permission deleted, ``user_logged_out``, and simplejwt's ``BlacklistedToken`` when its app is
installed. ``apps.py`` connects them once (``connect_signals``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_save

from tigateway_channels.authentication import blacklist_installed
from tigateway_channels.delivery.rights_events import publish_rights_change, session_fingerprint

M2M_DONE = ("post_add", "post_remove", "post_clear")


def user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every login saves last_login; no right changes with it
    publish_rights_change(users=[instance.pk])


def user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    publish_rights_change(users=[instance.pk])


def user_relations_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """``User.groups`` or ``User.user_permissions``, from either side."""
    if action not in M2M_DONE:
        return
    if isinstance(instance, get_user_model()):
        publish_rights_change(users=[instance.pk])
    elif pk_set:
        publish_rights_change(users=pk_set)  # group.user_set.add(...): the users' keys
    else:
        publish_rights_change(everyone=True)  # a reverse clear: who was in it is gone


def group_permissions_changed(
    sender: Any, instance: Any, action: str, pk_set: Any, **kwargs: Any
) -> None:
    if action not in M2M_DONE:
        return
    if isinstance(instance, Group):
        groups = [instance.pk]
    elif pk_set:
        groups = list(pk_set)
    else:
        publish_rights_change(everyone=True)
        return
    members = get_user_model()._default_manager.filter(groups__in=groups)
    publish_rights_change(users=set(members.values_list("pk", flat=True)))


def everyone_changed(sender: Any, **kwargs: Any) -> None:
    """A group or a permission deleted: whoever held it through anything may have lost it."""
    publish_rights_change(everyone=True)


def session_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    # Sent before the session is flushed: its key still names it.
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    publish_rights_change(
        users=[user.pk] if user is not None else [],
        sessions=[session_fingerprint(key)] if key else [],
    )


def token_blacklisted(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        publish_rights_change(tokens=[instance.token.jti])


def connect_signals() -> None:
    """Called once from ``apps.py``; every receiver has a ``dispatch_uid``."""
    uid = "tigateway_channels.rights"
    User = get_user_model()
    post_save.connect(user_saved, sender=User, dispatch_uid=f"{uid}.user_saved")
    post_delete.connect(user_deleted, sender=User, dispatch_uid=f"{uid}.user_deleted")
    for name in ("groups", "user_permissions"):
        field = getattr(User, name, None)
        if field is not None:  # a user model without PermissionsMixin has neither
            m2m_changed.connect(
                user_relations_changed, sender=field.through, dispatch_uid=f"{uid}.{name}"
            )
    m2m_changed.connect(
        group_permissions_changed,
        sender=Group.permissions.through,
        dispatch_uid=f"{uid}.group_permissions",
    )
    post_delete.connect(everyone_changed, sender=Group, dispatch_uid=f"{uid}.group_deleted")
    post_delete.connect(everyone_changed, sender=Permission, dispatch_uid=f"{uid}.perm_deleted")
    user_logged_out.connect(session_logged_out, dispatch_uid=f"{uid}.logged_out")
    if blacklist_installed():  # ready() runs again when INSTALLED_APPS changes (tests)
        from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

        post_save.connect(
            token_blacklisted, sender=BlacklistedToken, dispatch_uid=f"{uid}.token_blacklisted"
        )
