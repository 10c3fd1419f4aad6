"""Every filter validation accepts, run through a route's chain against a fake terminal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.helpers import echo_terminal, exchange, route, table
from tigateway_channels.gateway.chain import UpstreamFailure
from tigateway_channels.gateway.context import GatewayContext
from tigateway_channels.gateway.exchange import Exchange, GatewayResponse
from tigateway_channels.gateway.filters import readable_size, strip_prefix
from tigateway_channels.gateway.ratelimit import BucketConfig, Decision, RateLimiter
from tigateway_channels.gateway.retry import backoff_delays


async def run(
    filters: list[Any],
    path: str = "/red/blue",
    predicates: tuple[str, ...] = ("Path=/red/{segment}",),
    terminal: Any = echo_terminal,
    context: GatewayContext | None = None,
    global_filters: Any = None,
    **request: Any,
) -> tuple[Exchange, GatewayResponse]:
    t = table(
        route("r", *predicates, filters=filters), global_filters=global_filters, context=context
    )
    ex = exchange(path, **request)
    found = t.lookup(ex)
    assert found is not None
    return ex, await found.chain.run(ex, terminal)


@pytest.mark.parametrize(
    ("path", "parts", "expected"),
    [
        ("/foo/bar", 1, "/bar"),
        ("/foo/bar", 2, "/"),
        ("/foo/bar", 0, "/foo/bar"),
        ("/foo/bar/", 2, "/"),
        ("/foo/bar/", 0, "/foo/bar/"),
        ("/foo/bar/baz/", 1, "/bar/baz/"),
        ("", 1, "/"),
        ("/", 2, "/"),
        ("//a//b", 1, "/b"),
    ],
)
def test_strip_prefix_cases_from_scg_tests(path: str, parts: int, expected: str) -> None:
    assert strip_prefix(path, parts) == expected


async def test_path_filters_rewrite_the_outgoing_path() -> None:
    ex, _ = await run(["StripPrefix=1"], query="a=1")
    assert (ex.path, ex.query) == ("/blue", "a=1")
    ex, _ = await run(["PrefixPath=/mypath"])
    assert ex.path == "/mypath/red/blue"
    ex, _ = await run(["SetPath=/{segment}"])
    assert ex.path == "/blue"
    ex, _ = await run(["RewritePath=/red/?(?<segment>.*), /$\\{segment}"])
    assert ex.path == "/blue"
    ex, _ = await run(["RewritePath=/red(/?.*), /api$1"], path="/red", predicates=("Path=/red/**",))
    assert ex.path == "/api"


async def test_prefix_path_runs_once_per_exchange() -> None:
    ex, _ = await run(["PrefixPath=/a", "PrefixPath=/b"])
    assert ex.path == "/a/red/blue"


async def test_request_header_filters_add_set_and_remove() -> None:
    ex, _ = await run(
        [
            "AddRequestHeader=X-Red, Blue-{segment}",
            "AddRequestHeader=X-Keep, two",
            "SetRequestHeader=X-Keep, only",
            "RemoveRequestHeader=X-Drop",
        ],
        headers=[("X-Keep", "one"), ("X-Drop", "gone")],
    )
    headers = dict(ex.headers)
    assert headers[b"x-red"] == b"Blue-blue"
    assert [v for k, v in ex.headers if k == b"x-keep"] == [b"only"]
    assert b"x-drop" not in headers


async def test_response_header_filters_run_after_the_upstream_in_reverse_order() -> None:
    async def upstream(ex: Exchange) -> GatewayResponse:
        return GatewayResponse(200, [(b"x-upstream", b"u"), (b"x-foo", b"f"), (b"x-black", b" ")])

    _, response = await run(
        [
            "AddResponseHeader=X-Added, {segment}",
            "AddResponseHeader=X-Black, White, false",
            "AddResponseHeader=X-Upstream, second, false",
            "SetResponseHeader=X-Upstream, replaced",
            "RemoveResponseHeader=X-Foo",
        ],
        terminal=upstream,
    )
    headers = response.headers
    assert (b"x-added", b"blue") in headers
    assert (b"x-black", b"White") in headers
    assert [v for k, v in headers if k == b"x-upstream"] == [b"replaced"]
    assert all(k != b"x-foo" for k, _ in headers)


async def test_request_parameter_filters() -> None:
    ex, _ = await run(["AddRequestParameter=red, {segment}"], query="a=1")
    assert ex.query == "a=1&red=blue"
    ex, _ = await run(["AddRequestParameter=red, x"], query="")
    assert ex.query == "red=x"
    ex, _ = await run(["RemoveRequestParameter=red"], query="red=1&a=x+y&red=2&b")
    assert ex.query == "a=x%20y&b"


async def test_set_status_replaces_the_upstream_status() -> None:
    context = GatewayContext(original_status_header=b"x-original-status")
    _, response = await run(["SetStatus=UNAUTHORIZED"], context=context)
    assert response.status == 401
    assert (b"x-original-status", b"[200]") in response.headers


async def test_redirect_to_answers_without_calling_the_upstream() -> None:
    async def never(ex: Exchange) -> GatewayResponse:
        raise AssertionError("upstream called")

    _, response = await run(
        ["RedirectTo=302, https://acme.org, true"], terminal=never, query="skip=10"
    )
    assert response.status == 302
    assert (b"location", b"https://acme.org?skip=10") in response.headers


async def test_request_size_rejects_by_content_length_before_the_body() -> None:
    async def never(ex: Exchange) -> GatewayResponse:
        raise AssertionError("upstream called")

    size = {"name": "RequestSize", "args": {"maxSize": "5MB"}}
    _, response = await run([size], terminal=never, headers=[("Content-Length", "6000000")])
    assert response.status == 413
    message = dict(response.headers)[b"errormessage"].decode()
    assert message.endswith("Request size is 6.0 MB where permissible limit is 5.2 MB")
    _, response = await run([size], headers=[("Content-Length", "100")])
    assert response.status == 200
    assert readable_size(999) == "999 B"


class CountingLimiter(RateLimiter):
    def __init__(self, allow: int) -> None:
        self.allow = allow
        self.keys: list[str] = []

    async def is_allowed(self, route_id: str, key: str, config: BucketConfig) -> Decision:
        self.keys.append(key)
        self.allow -= config.requested_tokens
        return Decision(self.allow >= 0, max(self.allow, 0))


async def test_rate_limiter_keys_by_resolver_and_answers_429_with_headers() -> None:
    limiter = CountingLimiter(allow=1)
    context = GatewayContext(limiters={"redisRateLimiter": limiter})
    spec = {
        "name": "RequestRateLimiter",
        "args": {
            "keyResolver": "#{@remoteAddrKeyResolver}",
            "redis-rate-limiter.replenishRate": 1,
            "redis-rate-limiter.burstCapacity": 2,
        },
    }
    _, first = await run([spec], context=context, client="10.0.0.9")
    _, second = await run([spec], context=context, client="10.0.0.9")
    assert first.status == 200
    assert (b"x-ratelimit-remaining", b"0") in first.headers
    assert second.status == 429
    assert (b"x-ratelimit-burst-capacity", b"2") in second.headers
    assert limiter.keys == ["10.0.0.9", "10.0.0.9"]


async def test_rate_limiter_denies_an_empty_key_with_403_by_default() -> None:
    context = GatewayContext(limiters={"redisRateLimiter": CountingLimiter(10)})
    spec = {"name": "RequestRateLimiter", "args": {"redis-rate-limiter.replenishRate": 1}}
    _, response = await run([spec], context=context)  # no principal
    assert response.status == 403
    allow = {**spec, "args": {**spec["args"], "denyEmptyKey": False}}
    _, response = await run([allow], context=context)
    assert response.status == 200


async def test_header_key_resolver_from_settings() -> None:
    from tigateway_channels.gateway.keyresolvers import build_key_resolvers

    limiter = CountingLimiter(10)
    context = GatewayContext(
        key_resolvers=build_key_resolvers({"apiKey": {"header": "X-Api-Key"}}),
        limiters={"redisRateLimiter": limiter},
    )
    spec = {
        "name": "RequestRateLimiter",
        "args": {"keyResolver": "#{@apiKey}", "redis-rate-limiter.replenishRate": 1},
    }
    await run([spec], context=context, headers=[("X-Api-Key", "k-1")])
    assert limiter.keys == ["k-1"]


def test_a_route_naming_an_unknown_resolver_is_skipped_not_served() -> None:
    spec = {
        "name": "RequestRateLimiter",
        "args": {"keyResolver": "#{@nope}", "redis-rate-limiter.replenishRate": 1},
    }
    t = table(route("r", "Path=/**", filters=[spec]))
    assert len(t) == 0 and "nope" in t.failed["r"]


async def test_retry_retries_idempotent_methods_on_server_errors() -> None:
    attempts: list[str] = []

    async def flaky(ex: Exchange) -> GatewayResponse:
        attempts.append(ex.path)
        return GatewayResponse(500 if len(attempts) < 3 else 200, [])

    _, response = await run(["Retry=3", "StripPrefix=1"], terminal=flaky)
    assert response.status == 200
    assert attempts == ["/blue", "/blue", "/blue"]  # each attempt starts from the same request

    attempts.clear()
    _, response = await run(["Retry=3"], terminal=flaky, method="POST")
    assert (response.status, len(attempts)) == (500, 1)


async def test_retry_gives_up_after_retries_plus_one_attempts_and_on_exceptions() -> None:
    calls = 0

    async def down(ex: Exchange) -> GatewayResponse:
        nonlocal calls
        calls += 1
        raise UpstreamFailure("connect", "refused")

    with pytest.raises(UpstreamFailure):
        await run(["Retry=2"], terminal=down)
    assert calls == 3
    calls = 0
    only_timeouts = {
        "name": "Retry",
        "args": {"retries": 2, "exceptions": ["java.util.concurrent.TimeoutException"]},
    }
    with pytest.raises(UpstreamFailure):
        await run([only_timeouts], terminal=down)
    assert calls == 1


def test_retry_backoff_grows_by_factor_up_to_the_cap() -> None:
    args = {"backoff.firstBackoff": 10, "backoff.maxBackoff": 50, "backoff.factor": 2}
    assert backoff_delays({**args, "backoff.basedOnPreviousValue": False}, 4) == [
        0.01,
        0.02,
        0.04,
        0.05,
    ]
    assert backoff_delays({}, 2) == [0.0, 0.0]


async def test_global_filters_interleave_with_route_filters_in_scg_order() -> None:
    seen: list[bytes] = []

    async def upstream(ex: Exchange) -> GatewayResponse:
        seen.extend(v for k, v in ex.headers if k == b"x-order")
        return GatewayResponse(200, [])

    await run(
        ["AddRequestHeader=X-Order, route-1", "AddRequestHeader=X-Order, route-2"],
        terminal=upstream,
        global_filters=[
            "AddRequestHeader=X-Order, global-1",
            "AddRequestHeader=X-Order, global-2",
        ],
    )
    assert seen == [b"global-1", b"route-1", b"global-2", b"route-2"]
