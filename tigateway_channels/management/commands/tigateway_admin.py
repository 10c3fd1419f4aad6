"""Create a superuser for trying the gateway and print how to log in.

An existing user is left exactly as it is unless ``--reset`` says otherwise: a demo command
must never quietly turn a real account into a superuser or change its password.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create a superuser and print its login (for the example project and tests). An "
        "existing user is left unchanged unless --reset is given."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", help="Default: a new random password.")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="If the user exists: set the password and make it an active superuser.",
        )

    def handle(
        self,
        *args: Any,
        username: str,
        password: str | None,
        url: str,
        reset: bool,
        **options: Any,
    ) -> None:
        user_model = get_user_model()
        lookup: dict[str, Any] = {user_model.USERNAME_FIELD: username}
        user = user_model.objects.filter(**lookup).first()
        if user is not None and not reset:
            self.stdout.write(
                self.style.WARNING(
                    f"User {username!r} already exists; left unchanged (its password, rights "
                    "and status are as they were). Pass --reset to set a new password and make "
                    "it an active superuser."
                )
            )
            return
        created = user is None
        if user is None:
            user = user_model(**lookup)
        password = password or secrets.token_urlsafe(12)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        did = "Created superuser" if created else "Reset the password of, and made superuser,"
        self.stdout.write(
            self.style.SUCCESS(
                f"{did} {username!r}  ->  {url}  user: {username}  password: {password}"
            )
        )
