"""lb:// discovery: static lists, DNS, round-robin, passive ejection; forwarded headers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.gateway.helpers import exchange
from tigateway_channels.gateway.proxy import forwarded_headers
from tigateway_channels.gateway.registry import (
    DnsResolver,
    Instance,
    NoInstances,
    ServiceRegistry,
    StaticResolver,
    parse_instance,
)
from tigateway_channels.gateway.upstream import without_hop_by_hop

SETTINGS = SimpleNamespace(
    GATEWAY_SERVICES={"users": ["127.0.0.1:9001", "127.0.0.1:9002", "https://10.0.0.3"]},
    GATEWAY_DNS_PORT=80,
    GATEWAY_DNS_MODE="a",
    GATEWAY_DNS_SRV_PREFIX="_http._tcp",
)


def test_instances_parse_from_addresses_and_urls() -> None:
    assert parse_instance("10.0.0.1:8080") == Instance("10.0.0.1", 8080)
    assert parse_instance("https://api.internal") == Instance("api.internal", 443, True)
    assert parse_instance("[::1]:9000").address == "[::1]:9000"
    assert Instance("h", 443, True).origin("ws") == "wss://h:443"


async def test_round_robin_over_static_instances() -> None:
    registry = ServiceRegistry([StaticResolver(SETTINGS)])
    picks = [(await registry.choose("users")).port for _ in range(6)]
    assert picks == [9001, 9002, 443, 9001, 9002, 443]


async def test_failing_instances_are_ejected_then_all_tried_when_all_are_out() -> None:
    registry = ServiceRegistry([StaticResolver(SETTINGS)], eject_after=1, ejection_seconds=60)
    first = await registry.choose("users")
    registry.report_failure("users", first)
    picks = {(await registry.choose("users")).port for _ in range(4)}
    assert first.port not in picks
    for instance in (await registry._entry("users")).instances:
        registry.report_failure("users", instance)
    assert (await registry.choose("users")) is not None  # panic: better to try than refuse


async def test_dns_resolves_names_and_unknown_services_fail() -> None:
    registry = ServiceRegistry([StaticResolver(SETTINGS), DnsResolver(SETTINGS)])
    local = await registry.choose("localhost")
    assert local.host in ("127.0.0.1", "::1") and local.port == 80
    with pytest.raises(NoInstances):
        await registry.choose("no-such-service.invalid")


def test_hop_by_hop_headers_and_those_named_by_connection_are_dropped() -> None:
    headers = [
        (b"Connection", b"keep-alive, X-Private"),
        (b"Keep-Alive", b"timeout=5"),
        (b"X-Private", b"secret"),
        (b"Transfer-Encoding", b"chunked"),
        (b"TE", b"trailers"),
        (b"Upgrade", b"h2c"),
        (b"Proxy-Connection", b"keep-alive"),
        (b"Content-Length", b"3"),
        (b"X-Kept", b"yes"),
    ]
    assert without_hop_by_hop(headers) == [(b"content-length", b"3"), (b"x-kept", b"yes")]


def test_forwarded_headers_are_appended() -> None:
    request = exchange("/", headers=[("X-Forwarded-For", "203.0.113.9")], client="10.0.0.7")
    added = dict(forwarded_headers(request, request.headers))
    assert added[b"x-forwarded-for"] == b"203.0.113.9, 10.0.0.7"
    assert added[b"x-forwarded-proto"] == b"http"
    assert added[b"x-forwarded-host"] == b"gw.example.org"
    assert added[b"x-forwarded-port"] == b"8080"
    assert added[b"forwarded"] == b'for=10.0.0.7;proto=http;host="gw.example.org"'
    v6 = exchange("/", client="::1")
    assert dict(forwarded_headers(v6, v6.headers))[b"forwarded"].startswith(b'for="[::1]"')


async def test_forward_to_a_local_asgi_app_streams_its_response() -> None:
    from tigateway_channels.gateway.proxy import call_local_app

    seen: dict[str, object] = {}

    async def local_app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen["path"] = scope["path"]
        seen["body"] = (await receive())["body"]
        await send({"type": "http.response.start", "status": 201, "headers": [(b"X-A", b"1")]})
        await send({"type": "http.response.body", "body": b"he", "more_body": True})
        await send({"type": "http.response.body", "body": b"llo"})

    request = exchange("/anything", method="POST")
    request.body = b"payload"
    response = await call_local_app(local_app, request, "/fallback")
    body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
    assert (response.status, response.headers, body) == (201, [(b"x-a", b"1")], b"hello")
    assert seen == {"path": "/fallback", "body": b"payload"}
