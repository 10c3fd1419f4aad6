"""Shared fixtures: users with Route permissions, WebSocket communicators, a clean hub."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

ROUTE_PERMISSIONS = ("view_route", "add_route", "change_route", "delete_route")


@pytest.fixture(autouse=True)
def quiet_in_process_hubs(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process hubs must not take over pytest's SIGINT, nor query the database in the
    background while a test's teardown flushes it (SQLite locks the tables). Real workers keep
    the defaults; tests that exercise the relay or health set their own intervals."""
    from tigateway_channels import conf

    monkeypatch.setitem(conf.DEFAULTS, "GRACEFUL_SHUTDOWN", False)
    monkeypatch.setitem(conf.DEFAULTS, "RELAY_INTERVAL_SECONDS", 3600.0)
    monkeypatch.setitem(conf.DEFAULTS, "HEALTH_INTERVAL_SECONDS", 3600.0)
    # Observability in the background (reporter rounds, the log stream's writes, system
    # events) would write to the test database from other threads; tests/observability/ and
    # the cross-process tests turn it on where it is the subject.
    monkeypatch.setitem(conf.DEFAULTS, "METRICS_FLUSH_SECONDS", 3600.0)
    monkeypatch.setitem(conf.DEFAULTS, "LOG_STREAM_LOGGERS", [])
    monkeypatch.setitem(conf.DEFAULTS, "SYSTEM_EVENTS", [])
    conf.tigw_settings.reload()


@pytest.fixture(autouse=True)
def fast_password_hasher(settings: Any) -> None:
    """Users are made in most tests; PBKDF2's deliberate slowness buys nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    """A user holding exactly the given ``tigateway_channels`` permission codenames."""

    def make(username: str = "operator", *codenames: str, password: str = "pw-123456") -> Any:
        user = get_user_model().objects.create_user(username=username, password=password)
        if codenames:
            user.user_permissions.set(
                Permission.objects.filter(
                    content_type__app_label="tigateway_channels", codename__in=codenames
                )
            )
        return get_user_model().objects.get(pk=user.pk)

    return make


@pytest.fixture
def operator(make_user: Callable[..., Any]) -> Any:
    """May view, add, change and delete routes."""
    return make_user("operator", *ROUTE_PERMISSIONS)


@pytest.fixture
def viewer(make_user: Callable[..., Any]) -> Any:
    return make_user("viewer", "view_route")


@pytest.fixture
def nobody(make_user: Callable[..., Any]) -> Any:
    """Authenticated, no permissions."""
    return make_user("nobody")


@pytest.fixture(autouse=True, scope="session")
def close_thread_connections(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """Close the database connection of the thread that runs ``database_sync_to_async`` code,
    so pytest-django can drop the test database at the end (PostgreSQL refuses while in use)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    with django_db_blocker.unblock():
        SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True)
def finish_database_thread_work() -> Any:
    """Let database work that an in-process hub started (its first health check) finish
    before a transactional test flushes the database: SQLite's shared cache locks whole
    tables, so a flush that meets a running query fails."""
    yield
    from asgiref.sync import SyncToAsync

    SyncToAsync.single_thread_executor.submit(lambda: None).result(timeout=30)


@pytest.fixture(autouse=True)
def forget_cached_rights() -> None:
    """Each test starts with no cached rights: flushed tables hand the same user ids out again."""
    from tigateway_channels.services.rights import rights_cache

    rights_cache.clear()
