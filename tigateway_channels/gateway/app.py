"""The gateway's ASGI application: HTTP and WebSocket traffic served by the live route table.

Run standalone (``manage.py tigateway_gateway``, or any ASGI server given
``tigateway_channels.gateway.asgi:application``), or mount an instance in a project's router:

    application = ProtocolTypeRouter({
        "http": URLRouter([path("api/", GatewayApplication()), re_path("", django_asgi_app)]),
        "websocket": ...,
    })

Its state starts on the ASGI lifespan startup, or with the first request when the server or a
router sends no lifespan events; requests wait (up to GATEWAY_STARTUP_TIMEOUT_SECONDS) for the
first route table.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from tigateway_channels.conf import tigw_settings
from tigateway_channels.gateway.asgi_types import ASGIApp, Receive, Scope, Send
from tigateway_channels.gateway.chain import UpstreamFailure
from tigateway_channels.gateway.exchange import (
    ClientDisconnected,
    Exchange,
    GatewayResponse,
    json_response,
)
from tigateway_channels.gateway.patterns import TemplateError
from tigateway_channels.gateway.proxy import ForwardLoop, NoRoute
from tigateway_channels.gateway.registry import NoInstances
from tigateway_channels.gateway.runtime import GatewayRuntime, runtime_for
from tigateway_channels.observability.recorder import record_request

logger = logging.getLogger(__name__)


def error_body(status: int, code: str, message: str, **details: object) -> bytes:
    return orjson.dumps({"status": status, "error": code, "message": message, **details})


def not_found(exchange: Exchange) -> GatewayResponse:
    message = f"no route matches {exchange.method} {exchange.original_path}"
    return json_response(404, error_body(404, "NOT_FOUND", message, path=exchange.original_path))


def failure_response(exchange: Exchange, exc: Exception) -> GatewayResponse:
    """The gateway's own answer when the chain failed; every one is logged."""
    route_id = exchange.route.id if exchange.route is not None else None
    if isinstance(exc, UpstreamFailure):
        status = exc.status
        code = "GATEWAY_TIMEOUT" if status == 504 else "BAD_GATEWAY"
        logger.warning(
            "%s %s -> route %s: %d, %s (%s)",
            exchange.method,
            exchange.original_path,
            route_id,
            status,
            exc,
            exc.target,
        )
        return json_response(status, error_body(status, code, str(exc), routeId=route_id))
    if isinstance(exc, NoInstances):
        logger.warning(
            "%s %s -> route %s: 503, %s", exchange.method, exchange.original_path, route_id, exc
        )
        return json_response(
            503, error_body(503, "SERVICE_UNAVAILABLE", str(exc), routeId=route_id)
        )
    if isinstance(exc, NoRoute):
        message = f"no route matches the forwarded path {exc}"
        return json_response(404, error_body(404, "NOT_FOUND", message, routeId=route_id))
    if isinstance(exc, ForwardLoop):
        logger.error("route %s: %s", route_id, exc)
        return json_response(508, error_body(508, "LOOP_DETECTED", str(exc), routeId=route_id))
    if isinstance(exc, TemplateError):
        logger.error("route %s: %s", route_id, exc)
        return json_response(500, error_body(500, "INTERNAL_ERROR", str(exc), routeId=route_id))
    logger.exception("route %s failed", route_id, exc_info=exc)
    return json_response(
        500, error_body(500, "INTERNAL_ERROR", "the gateway failed", routeId=route_id)
    )


async def send_response(send: Send, response: GatewayResponse, exchange: Exchange) -> None:
    await send(
        {"type": "http.response.start", "status": response.status, "headers": response.headers}
    )
    stream = response.stream
    if stream is None:
        await send({"type": "http.response.body", "body": response.body})
        return
    try:
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except Exception as exc:
        # Too late for a status: the server drops the connection, so the client sees a
        # truncated response rather than a complete-looking one.
        logger.warning(
            "%s %s: the upstream response broke off (%r)",
            exchange.method,
            exchange.original_path,
            exc,
        )
        raise
    finally:
        if response.release is not None:
            response.release()
    await send({"type": "http.response.body", "body": b""})


async def serve_http(runtime: GatewayRuntime, scope: Scope, receive: Receive, send: Send) -> None:
    arrived = time.perf_counter()
    exchange = Exchange.from_scope(scope, receive)
    route = runtime.table.lookup(exchange)
    status = 0  # no response was sent (the client went away first)
    try:
        if route is None:
            response = not_found(exchange)
        else:
            proxy = runtime.proxy
            assert proxy is not None
            try:
                response = await route.chain.run(exchange, proxy)
            except ClientDisconnected:
                return
            except Exception as exc:
                response = failure_response(exchange, exc)
        status = response.status
        await send_response(send, response, exchange)
    finally:
        if runtime.recording:
            # docs/observability.md: per process, no lock, no I/O on the request path.
            latency_ms = (time.perf_counter() - arrived) * 1000
            record_request(route.id if route else "", scope["method"], status, latency_ms)


class GatewayApplication:
    """The ASGI app. ``forward_app`` serves ``forward:`` routes (default: this gateway again,
    or GATEWAY_FORWARD_APPLICATION)."""

    def __init__(self, forward_app: ASGIApp | None = None) -> None:
        self.forward_app = forward_app

    def runtime(self) -> GatewayRuntime:
        return runtime_for(self, self.forward_app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        runtime = self.runtime()
        if not runtime.ready.is_set() and not await self._wait_ready(runtime):
            if kind == "http":
                body = error_body(503, "SERVICE_UNAVAILABLE", "the route table is not loaded yet")
                await send_response(
                    send, json_response(503, body), Exchange.from_scope(scope, None)
                )
            else:
                await send({"type": "websocket.close", "code": 1013})
            return
        if kind == "http":
            await serve_http(runtime, scope, receive, send)
        elif kind == "websocket":
            from tigateway_channels.gateway.websocket_proxy import serve_websocket

            await serve_websocket(runtime, scope, receive, send)

    async def _wait_ready(self, runtime: GatewayRuntime) -> bool:
        timeout = float(tigw_settings.GATEWAY_STARTUP_TIMEOUT_SECONDS)
        try:
            await asyncio.wait_for(runtime.start(), timeout)
        except Exception:
            logger.exception("The gateway could not start")
            return False
        return runtime.ready.is_set()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime().start()
                except Exception as exc:
                    logger.exception("The gateway could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime().stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
