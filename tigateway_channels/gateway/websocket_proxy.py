"""WebSocket upgrades on a route: the handshake goes through the route's filters, then frames
are relayed both ways, and each side's close code reaches the other.

The target is the route's ``ws(s)://`` or ``lb:ws(s)://`` URI; an ``http(s)`` target is
upgraded to ``ws(s)``, as Spring Cloud Gateway's WebsocketRoutingFilter does. A refused
upgrade (no route, a filter's answer such as 429, an unreachable upstream) is answered with
that HTTP status where the server supports the ASGI WebSocket denial response (uvicorn does),
else by closing the handshake (the server answers 403).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from tigateway_channels.gateway.app import error_body, failure_response, not_found
from tigateway_channels.gateway.asgi_types import Receive, Scope, Send
from tigateway_channels.gateway.chain import UpstreamFailure
from tigateway_channels.gateway.exchange import Exchange, GatewayResponse
from tigateway_channels.gateway.proxy import target_url, upstream_request_headers
from tigateway_channels.gateway.runtime import GatewayRuntime
from tigateway_channels.gateway.upstream import WEBSOCKET_HANDSHAKE

logger = logging.getLogger(__name__)

_WS_SCHEME = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
# Codes that may not be sent in a close frame (RFC 6455 §7.4.1), and what is sent instead.
_UNSENDABLE = {1004: 1000, 1005: 1000, 1006: 1011, 1015: 1011}
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def sendable(code: int | None) -> int:
    if code is None:
        return 1000
    if code in _UNSENDABLE:
        return _UNSENDABLE[code]
    if 1000 <= code <= 1014 or 3000 <= code <= 4999:
        return code
    return 1000


async def deny(scope: Scope, send: Send, response: GatewayResponse) -> None:
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": response.status,
                "headers": response.headers,
            }
        )
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": 1008})


class WebSocketTerminal:
    """The end of the chain for an upgrade: open the upstream socket."""

    def __init__(self, runtime: GatewayRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, exchange: Exchange) -> GatewayResponse:
        runtime = self.runtime
        route = exchange.route
        assert route is not None and runtime.proxy is not None and runtime.client is not None
        if route.target.kind == "forward":
            body = error_body(502, "BAD_GATEWAY", "forward: routes do not carry WebSockets")
            return GatewayResponse(502, [(b"content-type", b"application/json")], body)
        origin, instance = await runtime.proxy.origin(route, _WS_SCHEME)
        url = target_url(origin, exchange)
        headers = upstream_request_headers(exchange, WEBSOCKET_HANDSHAKE)
        protocols = tuple(exchange.scope.get("subprotocols") or ())
        client = runtime.client
        timeout = client.timeouts(route.connect_timeout, route.read_timeout)
        # ws_connect takes no per-call connect/read timeouts: bound the whole handshake.
        limit = (timeout.sock_connect or 0) + (timeout.sock_read or 0) or None
        try:
            async with asyncio.timeout(limit):
                socket = await client.session.ws_connect(
                    url,
                    headers=headers,
                    protocols=protocols,
                    autoclose=False,
                    autoping=True,
                    max_msg_size=MAX_MESSAGE_BYTES,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                    compress=0,
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise UpstreamFailure(
                "protocol", f"the upstream refused the WebSocket upgrade ({exc.status})", url
            ) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            self._failed(route, instance)
            raise UpstreamFailure("timeout", "connecting to the upstream timed out", url) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamFailure("timeout", "the upstream did not answer in time", url) from exc
        except (aiohttp.ClientError, OSError) as exc:
            self._failed(route, instance)
            raise UpstreamFailure("connect", f"the upstream is unreachable ({exc})", url) from exc
        return GatewayResponse(101, [], upstream_socket=socket)

    def _failed(self, route: Any, instance: Any) -> None:
        if instance is not None and self.runtime.registry is not None:
            self.runtime.registry.report_failure(route.target.service, instance)


async def serve_websocket(
    runtime: GatewayRuntime, scope: Scope, receive: Receive, send: Send
) -> None:
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    exchange = Exchange.from_scope(scope, None)
    route = runtime.table.lookup(exchange)
    if route is None:
        await deny(scope, send, not_found(exchange))
        return
    try:
        response = await route.chain.run(exchange, WebSocketTerminal(runtime))
    except Exception as exc:
        await deny(scope, send, failure_response(exchange, exc))
        return
    upstream = response.upstream_socket
    if upstream is None:
        await deny(scope, send, response)
        return
    headers = [(k, v) for k, v in response.headers if k not in WEBSOCKET_HANDSHAKE]
    await send({"type": "websocket.accept", "subprotocol": upstream.protocol, "headers": headers})
    await relay(upstream, receive, send)


async def relay(upstream: Any, receive: Receive, send: Send) -> None:
    """Frames both ways until one side closes; its close code goes to the other side."""
    to_upstream = asyncio.ensure_future(_client_to_upstream(upstream, receive))
    to_client = asyncio.ensure_future(_upstream_to_client(upstream, send))
    try:
        done, _ = await asyncio.wait({to_upstream, to_client}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (to_upstream, to_client):
            if not task.done():
                task.cancel()
        await asyncio.gather(to_upstream, to_client, return_exceptions=True)
        if not upstream.closed:
            await upstream.close()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logger.warning("WebSocket relay ended with %r", task.exception())


async def _client_to_upstream(upstream: Any, receive: Receive) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            if message.get("text") is not None:
                await upstream.send_str(message["text"])
            else:
                await upstream.send_bytes(message.get("bytes") or b"")
        elif kind == "websocket.disconnect":
            await upstream.close(code=sendable(message.get("code")))
            return


async def _upstream_to_client(upstream: Any, send: Send) -> None:
    while True:
        message = await upstream.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            await send({"type": "websocket.send", "text": message.data})
        elif message.type == aiohttp.WSMsgType.BINARY:
            await send({"type": "websocket.send", "bytes": message.data})
        elif message.type == aiohttp.WSMsgType.CLOSE:
            code = sendable(message.data)
            await send({"type": "websocket.close", "code": code, "reason": message.extra or ""})
            await upstream.close(code=code)
            return
        else:  # CLOSING, CLOSED, ERROR: the upstream connection is gone without a close frame
            await send({"type": "websocket.close", "code": 1011})
            return
