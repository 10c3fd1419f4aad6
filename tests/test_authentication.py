"""Access tokens as both edges verify them (``authentication.py``): a ``user_id`` claim that is no
id of a user is a refusal (REST 401, WebSocket UNAUTHORIZED), never a server error, and
simplejwt's blacklist is honoured for access tokens when its app is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.ws import connect

ROOT = Path(__file__).resolve().parent.parent

BAD_USER_IDS = ["garbage", "", "1; DROP TABLE", True, 1.5, 10**30, "9" * 40, [1], {"id": 1}, None]


def token_with_user_id(user: Any, user_id: Any) -> str:
    """A token signed with the server's key whose ``user_id`` claim is ``user_id``."""
    token = AccessToken.for_user(user)
    token["user_id"] = user_id
    return str(token)


@pytest.mark.django_db
@pytest.mark.parametrize("user_id", BAD_USER_IDS, ids=repr)
def test_rest_refuses_a_user_id_claim_that_is_no_user_id_with_401(
    operator: Any, user_id: Any
) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_with_user_id(operator, user_id)}")
    response = api.get(reverse("tigateway:route-list"))
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "UNAUTHORIZED"


@pytest.mark.django_db
def test_rest_still_accepts_the_user_id_claim_as_simplejwt_writes_it(operator: Any) -> None:
    for user_id in (str(operator.pk), operator.pk):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_with_user_id(operator, user_id)}")
        assert api.get(reverse("tigateway:route-list")).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("user_id", ["garbage", True, 10**30, [1]], ids=repr)
async def test_websocket_refuses_a_user_id_claim_that_is_no_user_id(
    operator: Any, user_id: Any
) -> None:
    socket, first = await connect(token=token_with_user_id(operator, user_id))
    assert first["data"]["result"]["auth"] == "anonymous"
    refused = await socket.receive()
    assert refused["data"]["code"] == "UNAUTHORIZED"
    assert refused["data"]["details"]["field"] == "token"
    assert "user identification" in refused["data"]["details"]["reason"]
    assert (await socket.request("ping"))["type"] == "pong"
    await socket.close()


def blacklist_session_env() -> dict[str, str]:
    """This session's environment for the inner one, with a test database of its own: on
    PostgreSQL the outer session holds its test database while the inner one runs."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    outer = env.get("DATABASE_TEST_NAME") or "test_test"
    env["DATABASE_TEST_NAME"] = f"{outer}_blacklist"[:63]
    return env


def test_blacklisted_tokens_are_refused_with_the_blacklist_app_installed() -> None:
    """tests/blacklist/ in a pytest session of its own, with tests/settings_blacklist.py."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--ds",
            "tests.settings_blacklist",
            "tests/blacklist",
        ],
        cwd=ROOT,
        env=blacklist_session_env(),
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-500:]
