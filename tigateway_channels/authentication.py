"""simplejwt's authentication, made strict where the REST API and the WebSocket API need it.

Both edges verify access tokens here, so a token refused by one is refused by the other:

- the ``user_id`` claim must be an id of the user model (not ``true``, ``1.5`` or garbage): a
  claim the database cannot look up is an invalid token (401), never a server error (500);
- when ``rest_framework_simplejwt.token_blacklist`` is installed, an access token whose
  ``jti`` is blacklisted is refused, as simplejwt does for refresh tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

BLACKLIST_APP = "rest_framework_simplejwt.token_blacklist"


def blacklist_installed() -> bool:
    return apps.is_installed(BLACKLIST_APP)


def blacklisted(token_ids: Iterable[str]) -> set[str]:
    """Which of these token ids simplejwt's blacklist holds (none when it is not installed)."""
    wanted = set(token_ids)
    if not wanted or not blacklist_installed():
        return set()
    # Imported here: the models of an app that is not installed cannot be imported.
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    rows = BlacklistedToken._default_manager.filter(token__jti__in=wanted)
    return set(rows.values_list("token__jti", flat=True))


def is_blacklisted(jti: Any) -> bool:
    return isinstance(jti, str) and bool(blacklisted([jti]))


def _unrecognisable_user() -> InvalidToken:
    return InvalidToken("Token contained no recognizable user identification")


def check_user_id_claim(value: Any) -> None:
    """The claim must be a string or an integer the user model's id field accepts."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _unrecognisable_user()
    field: Any = get_user_model()._meta.get_field(api_settings.USER_ID_FIELD)
    try:
        cleaned = field.to_python(value)
        # An integer the column cannot hold is no user either (PostgreSQL would raise).
        field.run_validators(cleaned)
        field.get_prep_value(cleaned)
    except (ValidationError, ValueError, TypeError, OverflowError):
        raise _unrecognisable_user() from None


class GatewayJWTAuthentication(JWTAuthentication):
    """``JWTAuthentication`` with the checks above; used by the REST viewsets and the sockets."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = super().get_validated_token(raw_token)
        if is_blacklisted(token.get(api_settings.JTI_CLAIM)):
            raise InvalidToken(
                {
                    "detail": "Given token not valid for any token type",
                    "messages": [{"message": "Token is blacklisted"}],
                }
            )
        return token

    def get_user(self, validated_token: Token) -> Any:
        if api_settings.USER_ID_CLAIM in validated_token:
            check_user_id_claim(validated_token[api_settings.USER_ID_CLAIM])
        return super().get_user(validated_token)
