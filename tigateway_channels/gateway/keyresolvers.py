"""Key resolvers: which bucket of a RequestRateLimiter a request draws from.

A route names one as a Spring bean reference, ``keyResolver: "#{@remoteAddrKeyResolver}"``.
Built in: ``remoteAddrKeyResolver`` (the client address), ``principalNameKeyResolver`` (the
user: the authenticated Django user of the scope, else the user id of a valid
``Authorization: Bearer`` JWT from djangorestframework-simplejwt; SCG's default). More by name
in ``GATEWAY_KEY_RESOLVERS``: ``{"header": "X-Api-Key"}`` for a header's value, or a dotted
path to a ``KeyResolver`` subclass or a callable ``(exchange) -> str | None``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.module_loading import import_string

from tigateway_channels.gateway.exchange import Exchange, first_header

logger = logging.getLogger(__name__)

DEFAULT_RESOLVER = "principalNameKeyResolver"


class KeyResolver:
    """The contract: the key of a request, or None (or "") when it has none."""

    def resolve(self, exchange: Exchange) -> str | None:
        raise NotImplementedError


class RemoteAddrKeyResolver(KeyResolver):
    def resolve(self, exchange: Exchange) -> str | None:
        return exchange.client


class HeaderKeyResolver(KeyResolver):
    def __init__(self, header: str) -> None:
        self.header = header.lower().encode("latin-1")

    def resolve(self, exchange: Exchange) -> str | None:
        value = first_header(exchange.incoming_headers, self.header)
        return value.decode("latin-1").strip() if value is not None else None


class PrincipalNameKeyResolver(KeyResolver):
    """The user's name: Django's ``scope["user"]`` when the app is mounted behind
    ``AuthMiddlewareStack``, else the user id claim of a valid simplejwt access token."""

    def resolve(self, exchange: Exchange) -> str | None:
        user = exchange.scope.get("user")
        if user is not None and getattr(user, "is_authenticated", False):
            return str(user.get_username())
        header = first_header(exchange.incoming_headers, b"authorization")
        if header is None or not header.lower().startswith(b"bearer "):
            return None
        return _jwt_user(header[7:].strip().decode("latin-1"))


def _jwt_user(raw: str) -> str | None:
    try:
        from rest_framework_simplejwt.settings import api_settings
        from rest_framework_simplejwt.tokens import AccessToken

        token = AccessToken(raw)  # type: ignore[arg-type]
        user_id = token.get(api_settings.USER_ID_CLAIM)
    except Exception:
        return None
    return str(user_id) if user_id is not None else None


class CallableKeyResolver(KeyResolver):
    def __init__(self, function: Callable[[Exchange], str | None]) -> None:
        self.function = function

    def resolve(self, exchange: Exchange) -> str | None:
        return self.function(exchange)


def build_key_resolvers(configured: Mapping[str, Any]) -> dict[str, KeyResolver]:
    """The built-in resolvers plus the configured ones, by bean name."""
    resolvers: dict[str, KeyResolver] = {
        "remoteAddrKeyResolver": RemoteAddrKeyResolver(),
        "principalNameKeyResolver": PrincipalNameKeyResolver(),
        "userKeyResolver": PrincipalNameKeyResolver(),
    }
    for name, spec in configured.items():
        if isinstance(spec, Mapping) and "header" in spec:
            resolvers[name] = HeaderKeyResolver(str(spec["header"]))
            continue
        target = import_string(spec) if isinstance(spec, str) else spec
        if isinstance(target, type) and issubclass(target, KeyResolver):
            resolvers[name] = target()
        elif isinstance(target, KeyResolver):
            resolvers[name] = target
        elif callable(target):
            resolvers[name] = CallableKeyResolver(target)
        else:
            raise ValueError(f"GATEWAY_KEY_RESOLVERS[{name!r}] is not a resolver: {spec!r}")
    return resolvers


def bean_name(reference: str) -> str:
    """``#{@userKeyResolver}`` -> ``userKeyResolver`` (validation guarantees the shape)."""
    name = reference.strip()[3:-1]
    return name.strip("'")
