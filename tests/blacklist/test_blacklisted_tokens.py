"""simplejwt's blacklist, honoured for access tokens (``authentication.py``); run with
tests/settings_blacklist.py by tests/test_authentication.py, skipped in other sessions."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.ws import connect, open_socket, token_for
from tigateway_channels.authentication import BLACKLIST_APP

pytestmark = [
    pytest.mark.skipif(
        BLACKLIST_APP not in settings.INSTALLED_APPS,
        reason="needs tests/settings_blacklist.py (run by tests/test_authentication.py)",
    ),
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
]


@pytest.fixture
def blacklist() -> Any:
    """Blacklists an access token as a project would: an outstanding row and its blacklisting."""
    from rest_framework_simplejwt.token_blacklist.models import (
        BlacklistedToken,
        OutstandingToken,
    )

    def blacklist_token(token: str) -> None:
        access = AccessToken(token)
        outstanding = OutstandingToken.objects.create(
            jti=access["jti"], token=token, expires_at=access.current_time
        )
        BlacklistedToken.objects.create(token=outstanding)

    return blacklist_token


async def test_a_blacklisted_access_token_is_refused_by_both_edges(
    operator: Any, blacklist: Any
) -> None:
    token, other = token_for(operator), token_for(operator)
    await sync_to_async(blacklist)(token)

    socket, first = await connect(token=token)
    assert first["data"]["result"]["auth"] == "anonymous"
    refused = await socket.receive()
    assert refused["data"]["code"] == "UNAUTHORIZED"
    assert refused["data"]["details"]["reason"] == "Token is blacklisted"
    await socket.close()

    def rest_status(bearer: str) -> int:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")
        return api.get(reverse("tigateway:route-list")).status_code

    assert await sync_to_async(rest_status)(token) == 401
    assert await sync_to_async(rest_status)(other) == 200


async def test_blacklisting_the_token_of_an_open_socket_closes_it(
    operator: Any, blacklist: Any
) -> None:
    socket = await open_socket(operator, ["routes"])
    kept = await open_socket(operator, ["routes"])  # another token of the same user
    token = socket.comm.scope["query_string"].decode().split("token=")[1]

    await sync_to_async(blacklist)(token)

    error = await socket.receive()
    assert error["data"]["code"] == "UNAUTHORIZED"
    assert error["data"]["details"]["reason"] == "the token was blacklisted"
    assert await socket.closed_with() == 4401
    assert (await kept.request("ping"))["type"] == "pong"
    await kept.close()


async def test_a_token_blacklisted_while_its_message_was_lost_closes_on_the_next_recheck(
    operator: Any, blacklist: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tigateway_channels.delivery import rights_signals
    from tigateway_channels.delivery.hub import get_hub
    from tigateway_channels.delivery.rights_events import rights_message

    socket = await open_socket(operator, ["routes"])
    token = socket.comm.scope["query_string"].decode().split("token=")[1]
    monkeypatch.setattr(rights_signals, "publish_rights_change", lambda **kwargs: None)
    await sync_to_async(blacklist)(token)
    assert await socket.nothing_more(0.2)

    # What every worker does when the channel layer comes back (hub.py).
    hub = get_hub()
    hub.on_channel_message(rights_message(hub.deployment, everyone=True))

    error = await socket.receive()
    assert error["data"]["details"]["reason"] == "the token was blacklisted"
    assert await socket.closed_with() == 4401
