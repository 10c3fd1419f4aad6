"""A token verified once is not verified again per socket (``websocket/verified_tokens.py``),
and the cache never lets a socket in that a fresh verification would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.ws import connect, token_for
from tigateway_channels.websocket.verified_tokens import token_digest, verified_tokens

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def empty_cache() -> Any:
    verified_tokens.clear()
    yield
    verified_tokens.clear()


async def test_a_second_socket_with_the_same_token_uses_the_cached_identity(operator: Any) -> None:
    token = token_for(operator)
    first, ack = await connect(token=token)
    assert ack["data"]["result"]["auth"] == "jwt"
    assert verified_tokens.get(token_digest(token)) is not None
    second, ack = await connect(token=token)
    assert ack["data"]["result"]["user"] == operator.username
    await first.close()
    await second.close()


async def test_a_deactivated_user_is_refused_although_the_token_was_cached(operator: Any) -> None:
    token = token_for(operator)
    first, _ = await connect(token=token)
    operator.is_active = False
    await sync_to_async(operator.save)()
    assert verified_tokens.get(token_digest(token)) is None
    second, ack = await connect(token=token)
    assert ack["data"]["result"]["auth"] == "anonymous"
    error = await second.receive()
    assert error["data"]["code"] == "UNAUTHORIZED"
    assert "inactive" in error["data"]["details"]["reason"].lower()
    await first.close()
    await second.close()


async def test_a_deleted_user_is_refused_although_the_token_was_cached(operator: Any) -> None:
    token = token_for(operator)
    first, _ = await connect(token=token)
    await sync_to_async(operator.delete)()
    second, ack = await connect(token=token)
    assert ack["data"]["result"]["auth"] == "anonymous"
    await first.close()
    await second.close()


async def test_an_entry_verified_before_a_rights_change_is_not_kept(operator: Any) -> None:
    from tigateway_channels.services.rights import rights_cache
    from tigateway_channels.websocket.auth import ANONYMOUS

    generation = rights_cache.generation
    rights_cache.drop([str(operator.pk)])  # a change committed while the token was verified
    verified_tokens.store(b"digest", ANONYMOUS, generation)
    assert verified_tokens.get(b"digest") is None


async def test_the_cache_is_bounded() -> None:
    from tigateway_channels.services.rights import rights_cache
    from tigateway_channels.websocket.auth import ANONYMOUS
    from tigateway_channels.websocket.verified_tokens import VerifiedTokens

    cache = VerifiedTokens(max_entries=3)
    for n in range(5):
        cache.store(bytes([n]), ANONYMOUS, rights_cache.generation)
    assert len(cache) == 3
    assert cache.get(bytes([0])) is None and cache.get(bytes([4])) is ANONYMOUS
