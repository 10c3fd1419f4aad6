"""The end of every route's chain: send the (filtered) request to its target, stream the answer.

- ``http(s)://host:port`` targets: the route URI's scheme, host and port with the request's
  (filtered) path and query, as Spring Cloud Gateway does (the URI's own path is not used);
- ``lb://service``: an instance from the service registry, taken in turn; a connection failure
  counts towards the instance's ejection;
- ``forward:/path``: the request is handled again by this gateway at that path (or by
  ``GATEWAY_FORWARD_APPLICATION``, e.g. the project's Django app, when one is set).

Request and response bodies are streamed both ways; nothing is buffered (Retry's replay aside).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tigateway_channels.gateway.asgi_types import ASGIApp, Headers, Message
from tigateway_channels.gateway.chain import UpstreamFailure
from tigateway_channels.gateway.exchange import Exchange, GatewayResponse, first_header
from tigateway_channels.gateway.registry import Instance, ServiceRegistry
from tigateway_channels.gateway.upstream import (
    HOP_BY_HOP,
    UpstreamClient,
    response_body,
    without_hop_by_hop,
)

if TYPE_CHECKING:
    from tigateway_channels.gateway.table import CompiledRoute, RouteTable

logger = logging.getLogger(__name__)

MAX_FORWARDS = 8
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class ForwardLoop(Exception):
    """forward: routes sent a request round more than MAX_FORWARDS times (508)."""


class NoRoute(Exception):
    """A forwarded request matched no route (404)."""


def forwarded_headers(exchange: Exchange, headers: Headers) -> Headers:
    """Append X-Forwarded-For/-Proto/-Host/-Port and Forwarded (RFC 7239), as SCG does.

    Behind a trusted load balancer (``--forwarded-allow-ips``) the server took the client's
    address from the last X-Forwarded-For entry; that entry is not appended a second time."""
    client = exchange.client or "unknown"
    proto = _HTTP_SCHEME.get(exchange.scheme, exchange.scheme)
    host = exchange.host or ""
    server = exchange.scope.get("server")
    added: dict[bytes, str] = {
        b"x-forwarded-for": client,
        b"x-forwarded-proto": proto,
        b"x-forwarded-host": host,
        b"x-forwarded-port": str(server[1]) if server and server[1] else "",
    }
    node = f'"[{client}]"' if ":" in client else client
    element = f"for={node};proto={proto}" + (f';host="{host}"' if host else "")
    added[b"forwarded"] = element
    out: Headers = []
    seen: dict[bytes, bytes] = {}
    for key, value in headers:
        if key in added:
            seen[key] = seen[key] + b", " + value if key in seen else value
        else:
            out.append((key, value))
    last_for = seen.get(b"x-forwarded-for", b"").rsplit(b",", 1)[-1].strip()
    if last_for and last_for.decode("latin-1") == client:
        added[b"x-forwarded-for"] = ""
    for key, text in added.items():
        if not text:
            if key in seen:
                out.append((key, seen[key]))
            continue
        encoded = text.encode("latin-1", "replace")
        out.append((key, seen[key] + b", " + encoded if key in seen else encoded))
    return out


_FORWARDED = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port"}
) | {b"forwarded"}
_DROP = HOP_BY_HOP | {b"host"}


def upstream_request_headers(
    exchange: Exchange, extra: frozenset[bytes] = frozenset()
) -> list[tuple[str, str]]:
    """The request headers for the upstream: hop-by-hop and Host dropped, forwarding added."""
    headers = exchange.headers
    for key, _ in headers:
        if key == b"connection" or key in _FORWARDED:
            # Connection-named headers to drop, or forwarding headers to append to.
            exact = forwarded_headers(exchange, without_hop_by_hop(headers, extra | {b"host"}))
            return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in exact]
    # The common case, in one pass: ASGI servers give lower-case names.
    drop = _DROP | extra if extra else _DROP
    out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k not in drop]
    client = exchange.client or "unknown"
    proto = _HTTP_SCHEME.get(exchange.scheme, exchange.scheme)
    host = exchange.host
    node = f'"[{client}]"' if ":" in client else client
    out.append(("x-forwarded-for", client))
    out.append(("x-forwarded-proto", proto))
    server = exchange.scope.get("server")
    if host:
        out.append(("x-forwarded-host", host))
    if server and server[1]:
        out.append(("x-forwarded-port", str(server[1])))
    out.append(
        (
            "forwarded",
            f'for={node};proto={proto};host="{host}"' if host else f"for={node};proto={proto}",
        )
    )
    return out


def target_url(origin: str, exchange: Exchange) -> str:
    path = exchange.path if exchange.path.startswith("/") else "/" + exchange.path
    return f"{origin}{path}" + (f"?{exchange.query}" if exchange.query else "")


class Proxy:
    """The terminal of the HTTP chain, bound to this process's client and registry."""

    def __init__(
        self,
        client: UpstreamClient,
        registry: ServiceRegistry,
        table: Any,
        forward_app: ASGIApp | None = None,
    ) -> None:
        self.client = client
        self.registry = registry
        self._table = table  # a callable returning the current RouteTable
        self.forward_app = forward_app

    async def origin(self, route: CompiledRoute, scheme_map: dict[str, str]) -> tuple[str, Any]:
        """The scheme://host:port to send to, and the lb instance (or None)."""
        target = route.target
        if target.kind == "lb":
            instance = await self.registry.choose(target.service)
            return instance.origin(scheme_map.get(target.scheme, target.scheme)), instance
        return target.origin(scheme_map.get(target.scheme, target.scheme)), None

    async def __call__(self, exchange: Exchange) -> GatewayResponse:
        route = exchange.route
        assert route is not None
        target = route.target
        if target.kind == "url":
            origin, instance = route.http_origin, None
        elif target.kind == "lb":
            origin, instance = await self.origin(route, _HTTP_SCHEME)
        else:
            return await self.forward(exchange, target.path)
        url = target_url(origin, exchange)
        try:
            upstream = await self.client.request(
                exchange.method,
                url,
                upstream_request_headers(exchange),
                exchange.body,
                self.client.timeouts(route.connect_timeout, route.read_timeout),
            )
        except UpstreamFailure as failure:
            if instance is not None and failure.connecting:
                self.registry.report_failure(route.target.service, instance)
            raise
        if instance is not None:
            self.registry.report_success(route.target.service, instance)
        headers = without_hop_by_hop(list(upstream.raw_headers))
        if exchange.method == "HEAD":
            upstream.release()
            return GatewayResponse(upstream.status, headers)
        return GatewayResponse(
            upstream.status, headers, stream=response_body(upstream), release=upstream.release
        )

    async def forward(self, exchange: Exchange, path: str) -> GatewayResponse:
        if exchange.forwards >= MAX_FORWARDS:
            raise ForwardLoop(f"forwarded more than {MAX_FORWARDS} times")
        if self.forward_app is not None:
            return await call_local_app(self.forward_app, exchange, path)
        scope = dict(exchange.scope)
        scope["path"] = path
        scope["raw_path"] = path.encode("latin-1")
        scope["query_string"] = exchange.query.encode("latin-1")
        scope["headers"] = exchange.headers
        inner = Exchange.from_scope(scope, None)
        inner.body, inner.has_body, inner.forwards = (
            exchange.body,
            exchange.has_body,
            exchange.forwards + 1,
        )
        table: RouteTable = self._table()
        route = table.lookup(inner)
        if route is None:
            raise NoRoute(path)
        return await route.chain.run(inner, self)


async def call_local_app(app: ASGIApp, exchange: Exchange, path: str) -> GatewayResponse:
    """Run a local ASGI app for a forward: route; its response is streamed back as it comes."""
    scope = dict(exchange.scope)
    scope.update(
        path=path,
        raw_path=path.encode("latin-1"),
        query_string=exchange.query.encode("latin-1"),
        headers=exchange.headers,
    )
    body = exchange.body
    messages: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        nonlocal body
        if body is None:
            await asyncio.Event().wait()  # nothing more to read: wait for the app to finish
        if isinstance(body, bytes):
            chunk, body = body, None
            return {"type": "http.request", "body": chunk, "more_body": False}
        assert body is not None
        try:
            chunk = await body.__anext__()
        except StopAsyncIteration:
            body = None
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Message) -> None:
        await messages.put(message)

    if body is None:
        body = b""
    task = asyncio.ensure_future(app(scope, receive, send))
    task.add_done_callback(lambda _: messages.put_nowait({"type": "tigw.app.done"}))
    start = await messages.get()
    if start["type"] != "http.response.start":
        raise UpstreamFailure("protocol", "the forward application sent no response", path)

    async def stream() -> AsyncIterator[bytes]:
        while True:
            message = await messages.get()
            if message["type"] != "http.response.body":
                return
            if message.get("body"):
                yield message["body"]
            if not message.get("more_body", False):
                return

    headers = [(k.lower(), v) for k, v in start.get("headers", [])]
    return GatewayResponse(
        start["status"], headers, stream=stream(), release=functools.partial(_cancel, task)
    )


def _cancel(task: asyncio.Future[Any]) -> None:
    task.cancel()


def content_length(headers: Headers) -> int | None:
    value = first_header(headers, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


__all__ = ["ForwardLoop", "Instance", "NoRoute", "Proxy", "forwarded_headers", "target_url"]
