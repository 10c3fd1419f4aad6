"""Access tokens as the REST API verifies them (``authentication.py``): a ``user_id`` claim that
is no id of a user is a refusal (401), never a server error (500)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

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
