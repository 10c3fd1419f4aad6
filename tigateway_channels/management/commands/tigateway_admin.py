"""Create (or reset) a superuser for trying the gateway, and print how to log in."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or reset a superuser and print its login (for the example project and tests)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", help="Default: a new random password.")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(
        self, *args: Any, username: str, password: str | None, url: str, **options: Any
    ) -> None:
        password = password or secrets.token_urlsafe(12)
        user_model = get_user_model()
        lookup: dict[str, Any] = {user_model.USERNAME_FIELD: username}
        user, created = user_model.objects.get_or_create(**lookup)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        verb = "Created" if created else "Reset"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} admin login  ->  {url}  user: {username}  password: {password}"
            )
        )
