"""Retry: try the rest of the chain again on chosen statuses or failures, idempotent methods
only, with backoff (spring-cloud-gateway.md §6.17).

Spring Cloud Gateway retries whatever ``methods`` lists; this gateway also requires the method
to be idempotent (RFC 9110 §9.2.2), because a retried POST may act twice upstream. A request
body is replayed from memory, so a body larger than ``GATEWAY_RETRY_BODY_LIMIT_BYTES`` (or of
unknown size above it) is sent once, without retries.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from tigateway_channels.gateway.chain import GatewayFilter, Next, UpstreamFailure
from tigateway_channels.gateway.exchange import Exchange, GatewayResponse

if TYPE_CHECKING:
    from tigateway_channels.gateway.context import GatewayContext

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_SERIES = {
    "INFORMATIONAL": 1,
    "SUCCESSFUL": 2,
    "REDIRECTION": 3,
    "CLIENT_ERROR": 4,
    "SERVER_ERROR": 5,
}
# Java exception classes a route may list, and the gateway failures they stand for.
_CONNECT = "connect"
_TIMEOUT = "timeout"
_PROTOCOL = "protocol"
EXCEPTION_KINDS: dict[str, frozenset[str]] = {
    "java.io.IOException": frozenset({_CONNECT, _PROTOCOL}),
    "java.net.ConnectException": frozenset({_CONNECT}),
    "java.net.SocketException": frozenset({_CONNECT, _PROTOCOL}),
    "java.lang.Exception": frozenset({_CONNECT, _TIMEOUT, _PROTOCOL}),
    "java.lang.Throwable": frozenset({_CONNECT, _TIMEOUT, _PROTOCOL}),
    "org.springframework.cloud.gateway.support.TimeoutException": frozenset({_TIMEOUT}),
    "java.util.concurrent.TimeoutException": frozenset({_TIMEOUT}),
    "io.netty.handler.timeout.ReadTimeoutException": frozenset({_TIMEOUT}),
    "io.netty.channel.ConnectTimeoutException": frozenset({_TIMEOUT}),
}


def backoff_delays(args: dict[str, Any], retries: int) -> list[float]:
    """Seconds to wait before each retry (without jitter)."""
    if "backoff.firstBackoff" not in args:
        return [0.0] * retries
    first = float(args["backoff.firstBackoff"]) / 1000
    most = args.get("backoff.maxBackoff")
    cap = float(most) / 1000 if most is not None else float("inf")
    factor = int(args.get("backoff.factor", 2))
    based_on_previous = bool(args.get("backoff.basedOnPreviousValue", True))
    delays, previous = [], first
    for n in range(retries):
        delay = previous * factor if based_on_previous and n else first * factor**n
        delay = min(delay, cap)
        delays.append(delay)
        previous = delay
    return delays


def retry_filter(args: dict[str, Any], context: GatewayContext) -> GatewayFilter:
    retries = int(args.get("retries", 3))
    statuses = frozenset(int(s) for s in args.get("statuses", ()))
    series = frozenset(_SERIES[s] for s in args.get("series", ("SERVER_ERROR",)))
    methods = frozenset(args.get("methods", ("GET",))) & IDEMPOTENT
    kinds: set[str] = set()
    for name in args.get("exceptions", ()):
        kinds |= EXCEPTION_KINDS.get(name, frozenset())
    delays = backoff_delays(args, retries)
    jitter = args.get("jitter.randomFactor")
    timeout = args.get("timeout")
    budget = float(timeout) / 1000 if timeout is not None else None
    body_limit = context.retry_body_limit

    def retryable_status(status: int) -> bool:
        return status in statuses or status // 100 in series

    async def around(exchange: Exchange, call_next: Next) -> GatewayResponse:
        if exchange.method not in methods or not await _replayable(exchange, body_limit):
            return await call_next()
        started = time.monotonic()
        saved = exchange.snapshot()
        attempt = 0
        while True:
            exchange.restore(saved)
            last = attempt >= retries or (
                budget is not None and time.monotonic() - started >= budget
            )
            try:
                response = await call_next()
            except UpstreamFailure as failure:
                if last or failure.kind not in kinds:
                    raise
            else:
                if last or not retryable_status(response.status):
                    return response
                await response.discard()
            delay = delays[attempt] if attempt < len(delays) else 0.0
            if jitter:
                delay *= 1 + random.uniform(-float(jitter), float(jitter))
            if delay > 0:
                await asyncio.sleep(delay)
            attempt += 1

    return GatewayFilter("Retry", around=around)


async def _replayable(exchange: Exchange, limit: int) -> bool:
    """Read a small request body into memory so every attempt can send it."""
    body = exchange.body
    if body is None or isinstance(body, bytes):
        return True
    for key, value in exchange.incoming_headers:
        if key == b"content-length":
            try:
                if int(value) > limit:
                    return False
            except ValueError:
                return False
    chunks, size = [], 0
    async for chunk in body:
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            # Too large after all (no Content-Length): send what was read, then the rest, once.
            exchange.body = _chain(b"".join(chunks), body)
            return False
    exchange.body = b"".join(chunks)
    return True


async def _chain(head: bytes, rest: Any) -> Any:
    yield head
    async for chunk in rest:
        yield chunk
