"""Where a client presents its access token (docs/protocol.md §1), and the subprotocol the
server accepts.

- ``Authorization: Bearer <token>``: clients that can set headers (servers, scripts);
- a ``Sec-WebSocket-Protocol`` entry ``bearer.<token>`` beside ``tigateway.v1``: browsers,
  which cannot set headers on a WebSocket; the server accepts ``tigateway.v1``, never the
  entry that carries the token, so the token is not sent back;
- the ``token`` query parameter, as the API document has it.

The first of these present is the one read. Query strings end up in access logs (uvicorn logs
them at INFO; docs/security.md says how to keep them out), headers and subprotocols do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework_simplejwt.settings import api_settings

from tigateway_channels.asgi_types import Scope

# The protocol a client offers, and the server accepts, beside the entry carrying its token.
SUBPROTOCOL = "tigateway.v1"
BEARER_PREFIX = "bearer."


@dataclass(frozen=True, slots=True)
class PresentedToken:
    token: str
    # "header", "subprotocol" or "query": said in errors, never the token itself.
    source: str


def _authorization_header(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return value.decode("latin1")
    return None


def _bearer_from_header(header: str) -> str | None:
    """The token of ``<type> <token>`` when the type is one of simplejwt's AUTH_HEADER_TYPES."""
    scheme, _, token = header.strip().partition(" ")
    types = api_settings.AUTH_HEADER_TYPES
    if isinstance(types, str):
        types = (types,)
    if scheme.lower() not in {str(t).lower() for t in types}:
        return None  # another scheme (Basic, ...): not ours to read
    return token.strip()


def _bearer_from_subprotocols(scope: Scope) -> str | None:
    for entry in scope.get("subprotocols") or ():
        if entry.lower().startswith(BEARER_PREFIX):
            return entry[len(BEARER_PREFIX) :]
    return None


def presented_token(scope: Scope, query_token: str | None) -> PresentedToken | None:
    header = _authorization_header(scope)
    token = _bearer_from_header(header) if header is not None else None
    if token is not None:
        return PresentedToken(token, "header")
    token = _bearer_from_subprotocols(scope)
    if token is not None:
        return PresentedToken(token, "subprotocol")
    if query_token is not None:
        return PresentedToken(query_token, "query")
    return None


def accepted_subprotocol(scope: Scope) -> str | None:
    """``tigateway.v1`` when the client offered it: a browser that offered subprotocols drops
    a socket whose accept names none. The token's entry is never the one accepted."""
    return SUBPROTOCOL if SUBPROTOCOL in (scope.get("subprotocols") or ()) else None
