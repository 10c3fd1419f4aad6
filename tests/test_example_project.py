"""The example project's settings: the usual variable names, and no production on the demo key."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.processes import ROOT

LOAD = "import example_project.settings as s; print(s.DEBUG, s.SECRET_KEY[:8], s.ALLOWED_HOSTS)"


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k.removeprefix("DJANGO_") not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    return subprocess.run(
        [sys.executable, "-c", LOAD],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_with_the_built_in_key_refuses_to_start() -> None:
    result = load_settings(DEBUG="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "signs JWTs" in result.stderr


def test_the_usual_variable_names_are_read() -> None:
    result = load_settings(DEBUG="false", SECRET_KEY="k" * 50, ALLOWED_HOSTS="gw.example.com")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "kkkkkkkk", "['gw.example.com']"]


def test_the_django_prefixed_names_win() -> None:
    result = load_settings(
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY="d" * 50, SECRET_KEY="u" * 50, DEBUG="1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["False", "dddddddd"]


def test_debug_on_keeps_the_built_in_key_for_trying_it_out() -> None:
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "True"


def test_the_token_endpoint_is_throttled_against_password_guessing(db: Any) -> None:
    """With the example's own rate (20 a minute per address): the 21st guess is refused."""
    from django.core.cache import cache
    from rest_framework.test import APIClient

    cache.clear()
    client = APIClient()
    guesses = [
        client.post("/api/token/", {"username": "admin", "password": f"guess-{n}"}).status_code
        for n in range(21)
    ]
    assert guesses == [401] * 20 + [429]
    cache.clear()
