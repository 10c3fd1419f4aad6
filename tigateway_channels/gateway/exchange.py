"""One request as the gateway sees it (``Exchange``) and one answer to it (``GatewayResponse``).

Predicates read an exchange; filters change its outgoing request (path, query, headers) and the
response. Headers stay as the ASGI server gave them: lists of ``(name, value)`` bytes with
lower-case names, so nothing is decoded that no predicate or filter reads.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tigateway_channels.gateway.asgi_types import Headers, Receive, Scope
from tigateway_channels.gateway.patterns import split_path

if TYPE_CHECKING:
    from tigateway_channels.gateway.table import CompiledRoute, RouteTable

Body = bytes | AsyncIterator[bytes] | None


class ClientDisconnected(Exception):
    """The client went away while its request body was being read."""


def header_values(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def first_header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def remove_header(headers: Headers, name: bytes) -> Headers:
    return [(key, value) for key, value in headers if key != name]


async def stream_body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body from ASGI ``receive``, chunk by chunk as the server hands it over."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


@dataclass(slots=True)
class Exchange:
    """The incoming request (read-only facts) and the outgoing request (what filters change)."""

    scope: Scope
    method: str
    scheme: str
    path: str  # the outgoing raw path; starts as the incoming one
    query: str  # the outgoing raw query, without '?'
    headers: Headers  # the outgoing request headers
    client: str | None
    host: str | None  # the incoming Host header, as sent
    original_path: str
    incoming_headers: Headers
    body: Body = None
    has_body: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    prefixed: bool = False
    table: RouteTable | None = None
    route: CompiledRoute | None = None
    forwards: int = 0
    _segments: list[str] | None = None
    _weights: dict[str, str | None] | None = None

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive | None) -> Exchange:
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope.get("path", "/")
        if "?" in path:  # some servers keep the query in raw_path
            path = path.split("?", 1)[0]
        headers: Headers = list(scope.get("headers") or ())
        host = None
        has_body = False
        for key, value in headers:  # one pass: the hot path reads three headers
            if key == b"host":
                if host is None:
                    host = value
            elif key == b"content-length":
                has_body = has_body or value.strip() not in (b"", b"0")
            elif key == b"transfer-encoding":
                has_body = True
        has_body = has_body and receive is not None
        client = scope.get("client")
        scheme = scope.get("scheme") or ("ws" if scope["type"] == "websocket" else "http")
        return cls(
            scope=scope,
            method=scope.get("method", "GET"),
            scheme=scheme,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            client=client[0] if client else None,
            host=host.decode("latin-1") if host is not None else None,
            original_path=path,
            incoming_headers=headers,
            body=stream_body(receive) if has_body and receive is not None else None,
            has_body=has_body,
        )

    @property
    def segments(self) -> list[str]:
        """Decoded segments of the incoming path, computed once."""
        if self._segments is None:
            self._segments = split_path(self.original_path)
        return self._segments

    def weight_choice(self, group: str) -> str | None:
        """The route id this request drew for a Weight group (one draw per group and request)."""
        if self._weights is None:
            self._weights = {}
        if group not in self._weights:
            assert self.table is not None
            self._weights[group] = self.table.draw_weight(group, random.random())
        return self._weights[group]

    def snapshot(self) -> tuple[str, str, Headers, dict[str, str], bool]:
        """The outgoing request as it is now, for Retry to restore before each attempt."""
        return self.path, self.query, list(self.headers), dict(self.variables), self.prefixed

    def restore(self, saved: tuple[str, str, Headers, dict[str, str], bool]) -> None:
        path, query, headers, variables, prefixed = saved
        self.path, self.query, self.headers = path, query, list(headers)
        self.variables, self.prefixed = dict(variables), prefixed


@dataclass(slots=True)
class GatewayResponse:
    """A response not yet sent: post filters may still change its status and headers."""

    status: int
    headers: Headers
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    release: Callable[[], None] | None = None
    # Set on a WebSocket upgrade that reached the upstream: the open upstream connection.
    upstream_socket: Any = None

    async def discard(self) -> None:
        """Let go of an upstream response that will not be sent (Retry's failed attempts)."""
        if self.release is not None:
            self.release()


def json_response(status: int, payload: bytes, extra: Headers | None = None) -> GatewayResponse:
    headers: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *(extra or []),
    ]
    return GatewayResponse(status, headers, payload)
