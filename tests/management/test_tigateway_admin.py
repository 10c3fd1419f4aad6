"""The demo login command: creates a superuser, never changes an existing user unless told."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command


def run(*args: str) -> str:
    out = StringIO()
    call_command("tigateway_admin", *args, stdout=out)
    return out.getvalue()


def test_a_new_user_is_created_as_superuser_and_its_login_printed(db: Any) -> None:
    output = run("--username", "demo", "--password", "pw-123456789")
    user = get_user_model().objects.get(username="demo")
    assert user.is_superuser and user.is_staff and user.is_active
    assert user.check_password("pw-123456789")
    assert "Created superuser 'demo'" in output and "password: pw-123456789" in output


def test_an_existing_user_is_left_unchanged_without_reset(db: Any) -> None:
    get_user_model().objects.create_user("alice", password="alice-own-password")
    output = run("--username", "alice", "--password", "taken-over")
    alice = get_user_model().objects.get(username="alice")
    assert alice.check_password("alice-own-password")
    assert not alice.is_superuser and not alice.is_staff
    assert "already exists; left unchanged" in output and "--reset" in output
    assert "taken-over" not in output


def test_reset_sets_the_password_and_makes_a_superuser_and_says_so(db: Any) -> None:
    get_user_model().objects.create_user("alice", password="old", is_active=False)
    output = run("--username", "alice", "--password", "new-password-1", "--reset")
    alice = get_user_model().objects.get(username="alice")
    assert alice.check_password("new-password-1")
    assert alice.is_superuser and alice.is_active
    assert "Reset the password of, and made superuser, 'alice'" in output
