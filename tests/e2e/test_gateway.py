"""The gateway data plane end to end: real upstream servers, two real gateway processes
(``manage.py tigateway_gateway``), a real control-plane worker, PostgreSQL and Redis.

One set of processes serves every test of the module (starting them is most of the cost):
upstreams ``u1`` and ``u2`` (uvicorn), gateways ``A`` and ``B``, and a daphne worker whose
admin creates a route at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.test_cross_process import admin_add_route
from tests.processes import (
    Worker,
    free_port,
    manage,
    postgres_database,
    require_redis,
    rss_bytes,
    start_gateway,
    start_upstream,
    start_worker,
    stop_worker,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

PASSWORD = "e2e-password-123"
MB = 1024 * 1024


@dataclass
class Setup:
    a: Worker
    b: Worker
    control: Worker
    upstreams: dict[str, Worker]
    dead_port: int

    def url(self, gateway: Worker, path: str) -> str:
        return f"http://127.0.0.1:{gateway.port}{path}"


def _routes(u1: int, u2: int, dead: int) -> list[dict[str, Any]]:
    one, two = f"http://127.0.0.1:{u1}", f"http://127.0.0.1:{u2}"

    def r(route_id: str, uri: str, *predicates: Any, **fields: Any) -> dict[str, Any]:
        return {"id": route_id, "uri": uri, "predicates": list(predicates), **fields}

    return [
        r("vars", one, "Path=/vars/{segment}/**", filters=[
            "SetPath=/set/{segment}", "AddRequestHeader=X-Seg, s-{segment}",
            "AddResponseHeader=X-Out, {segment}",
        ]),
        r("strip", one, "Path=/strip/**", filters=[
            "StripPrefix=1", "PrefixPath=/pre", "AddRequestParameter=added, 1",
            "RemoveRequestParameter=drop", "RemoveRequestHeader=X-Drop",
            "SetRequestHeader=X-Set, fixed",
        ]),
        r("rewrite", one, "Path=/rw/**", filters=[
            "RewritePath=/rw/?(?<segment>.*), /rewritten/$\\{segment}",
            "SetResponseHeader=X-Upstream, hidden", "RemoveResponseHeader=Content-Type",
        ]),
        r("host", two, "Path=/where/**", "Host={sub}.example.test",
          filters=["AddRequestHeader=X-Sub, {sub}"]),
        r("method", one, "Path=/m/**", "Method=POST"),
        r("header", one, "Path=/h/**", "Header=X-Version, v\\d+"),
        r("query", one, "Path=/q/**", "Query=color, gree."),
        r("cookie", one, "Path=/c/**", "Cookie=session, ab.+"),
        r("remote-local", one, "Path=/ra/**", "RemoteAddr=127.0.0.0/8"),
        r("remote-other", one, "Path=/ra2/**", "RemoteAddr=10.0.0.0/8"),
        r("time", one, "Path=/time/**", "After=2017-01-20T17:42:47.789-07:00[America/Denver]",
          "Before=2999-01-20T17:42:47.789+09:00[Asia/Tokyo]"),
        r("future", one, "Path=/future/**",
          "Between=2998-01-20T17:42:47Z, 2999-01-21T17:42:47.789-07:00[America/Denver]"),
        r("w1", one, "Path=/weight/**", "Weight=wg, 5"),
        r("w2", two, "Path=/weight/**", "Weight=wg, 5"),
        r("status", one, "Path=/teapot/**", filters=["SetStatus=418"]),
        r("redirect", "http://127.0.0.1:1", "Path=/go/**",
          filters=["RedirectTo=302, https://acme.org/x, true"]),
        r("size", one, "Path=/upload-small/**",
          filters=[{"name": "RequestSize", "args": {"maxSize": "1KB"}}]),
        r("retry", one, "Path=/__flaky",
          filters=["Retry=3,INTERNAL_SERVER_ERROR,GET,10ms,50ms,2,false"]),
        r("slow", one, "Path=/__sleep", metadata={"response-timeout": 300}),
        r("dead", f"http://127.0.0.1:{dead}", "Path=/dead/**"),
        r("lb", "lb://users", "Path=/lb/**", filters=["StripPrefix=1"]),
        r("ws", f"ws://127.0.0.1:{u1}", "Path=/ws/**"),
        r("limited", one, "Path=/limited/**", filters=[{"name": "RequestRateLimiter", "args": {
            "keyResolver": "#{@remoteAddrKeyResolver}", "redis-rate-limiter.replenishRate": 1,
            "redis-rate-limiter.burstCapacity": 120, "redis-rate-limiter.requestedTokens": 60,
        }}]),
        r("big", one, "Path=/big/**", filters=["StripPrefix=1"]),
        r("fwd", "forward:/vars/forwarded", "Path=/fwd/**"),
    ]  # fmt: skip


SEED = """
import json
from tigateway_channels.models import Route
from tigateway_channels.services.configs import save_config
for route in json.loads({routes!r}):
    Route.objects.create(**route)
globals_ = {{"routes": [], "globalFilters": ["AddRequestHeader=X-Gateway, tigw"]}}
save_config("route_config", "globals", globals_)
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    require_redis()
    log_dir = tmp_path_factory.mktemp("gateway")
    started: list[Worker] = []
    try:
        with postgres_database() as database_url:
            u1 = start_upstream("u1", log_dir)
            started.append(u1)
            u2 = start_upstream("u2", log_dir)
            started.append(u2)
            dead = free_port()
            env = {
                "DATABASE_URL": database_url,
                "REDIS_URL": "redis://127.0.0.1:6379/0",
                "CHANNEL_LAYER_PREFIX": f"tigw-gw-{u1.port}",
                "DJANGO_SETTINGS_MODULE": "example_project.settings",
                "PYTHONUNBUFFERED": "1",
                "TIGATEWAY_CHANNELS_JSON": json.dumps(
                    {
                        "GATEWAY_SERVICES": {
                            "users": [f"127.0.0.1:{u1.port}", f"127.0.0.1:{u2.port}",
                                      f"127.0.0.1:{dead}"]
                        },
                        "GATEWAY_EJECT_AFTER_FAILURES": 1,
                        "GATEWAY_EJECTION_SECONDS": 120,
                    }
                ),
            }  # fmt: skip
            routes = json.dumps(_routes(u1.port, u2.port, dead))
            manage("shell", "-c", SEED.format(routes=routes), env=env)
            manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=env)
            a = start_gateway(env, log_dir)
            started.append(a)
            b = start_gateway(env, log_dir)
            started.append(b)
            control = start_worker("daphne", env, log_dir)
            started.append(control)
            yield Setup(a, b, control, {"u1": u1, "u2": u2}, dead)
            for worker in (a, b):
                print(f"--- gateway {worker.port} log (tail) ---\n{worker.log()[-1500:]}")
    finally:
        for worker in reversed(started):
            stop_worker(worker)


def echo(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def header(data: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in data["headers"] if key == name.lower()]


def test_no_route_is_404_with_a_json_body(setup: Setup) -> None:
    response = httpx.get(setup.url(setup.a, "/nothing/here"))
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


def test_path_variables_drive_set_path_and_header_templates(setup: Setup) -> None:
    response = httpx.get(setup.url(setup.a, "/vars/blue/x"))
    data = echo(response)
    assert data["path"] == "/set/blue"
    assert header(data, "X-Seg") == ["s-blue"]
    assert header(data, "X-Gateway") == ["tigw"]  # the route_config's global filter
    assert response.headers["x-out"] == "blue"


def test_path_query_and_header_filters(setup: Setup) -> None:
    data = echo(
        httpx.get(
            setup.url(setup.b, "/strip/a/b?drop=1&keep=2"),
            headers={"X-Drop": "x", "X-Set": "client"},
        )
    )
    assert data["path"] == "/pre/a/b"
    assert data["query"] == "keep=2&added=1"
    assert header(data, "X-Drop") == [] and header(data, "X-Set") == ["fixed"]
    response = httpx.get(setup.url(setup.a, "/rw/deep/path"))
    assert echo(response)["path"] == "/rewritten/deep/path"
    assert response.headers["x-upstream"] == "hidden"
    assert "content-type" not in response.headers


def test_forwarded_headers_reach_the_upstream(setup: Setup) -> None:
    data = echo(httpx.get(setup.url(setup.a, "/big/echo"), headers={"X-Forwarded-For": "9.9.9.9"}))
    assert header(data, "X-Forwarded-For") == ["9.9.9.9, 127.0.0.1"]
    assert header(data, "X-Forwarded-Proto") == ["http"]
    assert header(data, "X-Forwarded-Host") == [f"127.0.0.1:{setup.a.port}"]
    assert header(data, "Forwarded")[0].startswith("for=127.0.0.1;proto=http")


def test_host_method_header_query_cookie_remote_addr_and_time_predicates(setup: Setup) -> None:
    def status(path: str, **kwargs: Any) -> int:
        return httpx.request(
            kwargs.pop("method", "GET"), setup.url(setup.a, path), **kwargs
        ).status_code

    data = echo(httpx.get(setup.url(setup.a, "/where"), headers={"Host": "api.example.test"}))
    assert data["server"] == "u2" and header(data, "X-Sub") == ["api"]
    assert status("/where", headers={"Host": "example.test"}) == 404
    assert (status("/m/1", method="POST"), status("/m/1")) == (200, 404)
    assert (
        status("/h", headers={"X-Version": "v2"}),
        status("/h", headers={"X-Version": "2"}),
    ) == (200, 404)
    assert (status("/q?color=green"), status("/q?color=red")) == (200, 404)
    assert (status("/c", cookies={"session": "abc"}), status("/c", cookies={"session": "x"})) == (
        200,
        404,
    )
    assert (status("/ra/1"), status("/ra2/1")) == (200, 404)
    assert (status("/time/1"), status("/future/1")) == (200, 404)  # fmt: skip


def test_weight_group_spreads_requests_over_both_routes(setup: Setup) -> None:
    servers = {echo(httpx.get(setup.url(setup.a, "/weight/x")))["server"] for _ in range(40)}
    assert servers == {"u1", "u2"}


def test_status_redirect_request_size_and_retry(setup: Setup) -> None:
    assert httpx.get(setup.url(setup.a, "/teapot/x")).status_code == 418
    redirect = httpx.get(setup.url(setup.a, "/go/there?page=2"))
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "https://acme.org/x?page=2"
    too_big = httpx.post(setup.url(setup.a, "/upload-small/x"), content=b"x" * 2048)
    assert too_big.status_code == 413
    assert (
        "Request size is 2.0 KB where permissible limit is 1.0 KB"
        in too_big.headers["errormessage"]
    )
    assert httpx.post(setup.url(setup.a, "/upload-small/x"), content=b"x" * 10).status_code == 200
    retried = httpx.get(setup.url(setup.a, "/__flaky?key=e2e-retry&fail=2"))
    assert retried.status_code == 200 and retried.headers["x-attempt"] == "3"
    # POST is not idempotent: never retried, the first 500 comes back.
    once = httpx.post(setup.url(setup.a, "/__flaky?key=e2e-post&fail=2"))
    assert once.status_code == 500 and once.headers["x-attempt"] == "1"


def test_timeouts_are_504_and_unreachable_upstreams_502_with_a_log_record(setup: Setup) -> None:
    started = time.monotonic()
    slow = httpx.get(setup.url(setup.b, "/__sleep?s=3"), timeout=10)
    assert slow.status_code == 504 and slow.json()["error"] == "GATEWAY_TIMEOUT"
    assert time.monotonic() - started < 2.5
    dead = httpx.get(setup.url(setup.b, "/dead/x"))
    assert dead.status_code == 502 and dead.json()["error"] == "BAD_GATEWAY"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = setup.b.log()
        if "route slow: 504" in log and "route dead: 502" in log:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"no log records for 504/502:\n{setup.b.log()}")


def test_lb_round_robin_ejects_the_instance_that_fails(setup: Setup) -> None:
    results = []
    for _ in range(9):
        response = httpx.get(setup.url(setup.b, "/lb/echo"))
        results.append(
            response.json().get("server") if response.status_code == 200 else response.status_code
        )
    assert results.count(502) == 1, results
    after = results[results.index(502) + 1 :]
    assert set(after) == {"u1", "u2"}
    assert all(x != y for x, y in itertools.pairwise(after)), after  # alternating


def _peak_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_bytes(pid))
        time.sleep(0.02)


def test_100_mb_upload_and_download_stream_with_bounded_memory(setup: Setup) -> None:
    size = 100 * MB
    chunk = b"z" * (64 * 1024)
    digest = hashlib.sha256()
    for _ in range(size // len(chunk)):
        digest.update(chunk)
    pid = setup.a.process.pid
    httpx.get(setup.url(setup.a, "/big/__bytes?n=1000"))  # warm the path
    before = rss_bytes(pid)
    peak = [before]
    stop = threading.Event()
    sampler = threading.Thread(target=_peak_rss, args=(pid, stop, peak))
    sampler.start()
    try:

        def body() -> Iterator[bytes]:
            for _ in range(size // len(chunk)):
                yield chunk

        data = echo(
            httpx.post(
                setup.url(setup.a, "/big/upload"),
                content=body(),
                headers={"Content-Length": str(size)},
                timeout=60,
            )
        )
        assert data["bodySize"] == size and data["bodySha256"] == digest.hexdigest()
        received = 0
        with httpx.stream(
            "GET", setup.url(setup.a, f"/big/__bytes?n={size}"), timeout=60
        ) as response:
            for part in response.iter_raw():
                received += len(part)
        assert received == size
    finally:
        stop.set()
        sampler.join()
    growth = (peak[0] - before) / MB
    print(f"gateway RSS growth during 100 MB up + 100 MB down: {growth:.1f} MB")
    assert growth < 16, f"gateway memory grew by {growth:.1f} MB"


def test_websocket_is_proxied_both_ways_with_close_codes(setup: Setup) -> None:
    async def scenario() -> None:
        url = f"ws://127.0.0.1:{setup.a.port}/ws/chat"
        async with websockets.connect(url, subprotocols=["chat.v1"]) as ws:
            assert ws.subprotocol == "chat.v1"
            assert await asyncio.wait_for(ws.recv(), 5) == "hello u1 /ws/chat chat.v1"
            await ws.send("ping text")
            assert await asyncio.wait_for(ws.recv(), 5) == "ping text"
            await ws.send(b"\x00\x01")
            assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\x01"
            await ws.send("close:4321")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4321
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://127.0.0.1:{setup.a.port}/no-ws-route")
        assert refused.value.response.status_code == 404

    asyncio.run(scenario())


def test_rate_limit_is_shared_by_both_gateway_processes(setup: Setup) -> None:
    statuses = []
    for n in range(6):
        gateway = setup.a if n % 2 == 0 else setup.b
        response = httpx.get(setup.url(gateway, "/limited/x"))
        assert "x-ratelimit-remaining" in response.headers
        statuses.append(response.status_code)
    assert statuses.count(200) == 2 and statuses.count(429) == 4, statuses
    assert statuses[:2] == [200, 200]


def test_forward_route_is_served_by_the_gateway_itself(setup: Setup) -> None:
    data = echo(httpx.get(setup.url(setup.a, "/fwd/x")))
    assert data["path"] == "/set/forwarded"


def test_route_created_in_the_admin_serves_on_both_gateways(setup: Setup) -> None:
    route = {
        "id": "from-admin",
        "uri": f"http://127.0.0.1:{setup.upstreams['u2'].port}",
        "predicates": ["Path=/admin-made/**"],
        "filters": ["StripPrefix=1"],
        "status": "ACTIVE",
        "order": 0,
    }
    for gateway in (setup.a, setup.b):
        assert httpx.get(setup.url(gateway, "/admin-made/x")).status_code == 404
    admin_add_route(setup.control.http, route)
    committed = time.monotonic()
    served: dict[int, float] = {}
    with httpx.Client(timeout=5) as client:
        while len(served) < 2 and time.monotonic() - committed < 10:
            for gateway in (setup.a, setup.b):
                if gateway.port in served:
                    continue
                if client.get(setup.url(gateway, "/admin-made/x")).status_code == 200:
                    served[gateway.port] = time.monotonic() - committed
    assert len(served) == 2, served
    print(
        "propagation from the admin's commit to the first served request: "
        + ", ".join(f"gateway {port}: {delay * 1000:.1f} ms" for port, delay in served.items())
    )
