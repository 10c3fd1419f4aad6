"""RequestRateLimiter: a token bucket per (route, key), shared by every gateway process.

The bucket lives in Redis and is taken with one Lua script per request (atomic, one round
trip), as Spring Cloud Gateway's ``RedisRateLimiter`` does: tokens refill at
``replenishRate`` per second up to ``burstCapacity``; a request costs ``requestedTokens``; the
clock is Redis ``TIME`` in whole seconds, so every process agrees on it. If Redis fails, the
request is allowed and ``X-RateLimit-Remaining`` is -1 (SCG's choice: the limiter must not take
the gateway down with it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tigateway_channels.gateway.chain import GatewayFilter, Next
from tigateway_channels.gateway.exchange import Exchange, GatewayResponse
from tigateway_channels.gateway.keyresolvers import bean_name

if TYPE_CHECKING:
    from tigateway_channels.gateway.context import GatewayContext

logger = logging.getLogger(__name__)

TOKEN_BUCKET_LUA = """
local tokens_key = KEYS[1]
local timestamp_key = KEYS[2]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local requested = tonumber(ARGV[3])
local now = tonumber(redis.call('TIME')[1])
local ttl = math.floor(2 * capacity / rate)
if ttl < 1 then ttl = 1 end
local last_tokens = tonumber(redis.call('GET', tokens_key))
if last_tokens == nil then last_tokens = capacity end
local last_refreshed = tonumber(redis.call('GET', timestamp_key))
if last_refreshed == nil then last_refreshed = 0 end
local delta = math.max(0, now - last_refreshed)
local filled = math.min(capacity, last_tokens + delta * rate)
local allowed = 0
local new_tokens = filled
if filled >= requested then
  new_tokens = filled - requested
  allowed = 1
end
redis.call('SETEX', tokens_key, ttl, new_tokens)
redis.call('SETEX', timestamp_key, ttl, now)
return {allowed, new_tokens}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int


@dataclass(frozen=True, slots=True)
class BucketConfig:
    replenish_rate: int
    burst_capacity: int
    requested_tokens: int


class RateLimiter:
    """The contract of a limiter named by ``rateLimiter: "#{@name}"`` (GATEWAY_RATE_LIMITERS)."""

    async def is_allowed(self, route_id: str, key: str, config: BucketConfig) -> Decision:
        raise NotImplementedError


class RedisRateLimiter(RateLimiter):
    """SCG's Redis token bucket; the keys carry the deployment identity, so deployments
    sharing a Redis server never share buckets."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url = url
        self.namespace = namespace
        self._client: Any = None
        self._script: Any = None

    def _connect(self) -> Any:
        if self._script is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._script = self._client.register_script(TOKEN_BUCKET_LUA)
        return self._script

    async def is_allowed(self, route_id: str, key: str, config: BucketConfig) -> Decision:
        if config.burst_capacity == 0:
            return Decision(False, 0)
        prefix = f"request_rate_limiter.{{{self.namespace}.{route_id}.{key}}}"
        try:
            script = self._connect()
            allowed, tokens = await script(
                keys=[f"{prefix}.tokens", f"{prefix}.timestamp"],
                args=[config.replenish_rate, config.burst_capacity, config.requested_tokens],
            )
        except Exception as exc:
            logger.warning("Rate limiter unavailable (%s); allowing the request", exc)
            return Decision(True, -1)
        return Decision(bool(allowed), int(tokens))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = self._script = None


def rate_limiter_filter(
    args: dict[str, Any], route_id: str, context: GatewayContext
) -> GatewayFilter:
    resolver_name = bean_name(args["keyResolver"]) if "keyResolver" in args else None
    resolver = context.key_resolver(resolver_name)
    limiter = context.rate_limiter(
        bean_name(args["rateLimiter"]) if "rateLimiter" in args else None
    )
    config = BucketConfig(
        int(args.get("redis-rate-limiter.replenishRate", 1)),
        int(args.get("redis-rate-limiter.burstCapacity", 1)),
        int(args.get("redis-rate-limiter.requestedTokens", 1)),
    )
    status = int(args.get("statusCode", 429))
    deny_empty = args.get("denyEmptyKey")
    deny_empty = context.deny_empty_key if deny_empty is None else bool(deny_empty)
    empty_status = int(args.get("emptyKeyStatus") or context.empty_key_status)
    include_headers = context.rate_limit_headers
    fixed = [
        (b"x-ratelimit-replenish-rate", str(config.replenish_rate).encode()),
        (b"x-ratelimit-burst-capacity", str(config.burst_capacity).encode()),
        (b"x-ratelimit-requested-tokens", str(config.requested_tokens).encode()),
    ]

    async def around(exchange: Exchange, call_next: Next) -> GatewayResponse:
        key = resolver.resolve(exchange)
        if not key:
            if deny_empty:
                return GatewayResponse(empty_status, [(b"content-length", b"0")])
            return await call_next()
        decision = await limiter.is_allowed(route_id, key, config)
        headers = (
            [(b"x-ratelimit-remaining", str(decision.remaining).encode()), *fixed]
            if include_headers
            else []
        )
        if not decision.allowed:
            return GatewayResponse(status, [*headers, (b"content-length", b"0")])
        response = await call_next()
        response.headers.extend(headers)
        return response

    return GatewayFilter("RequestRateLimiter", around=around)
