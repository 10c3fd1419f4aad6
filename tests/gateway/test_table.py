"""The route table: order, the prefix/Host index, compiled-route reuse, table swaps."""

from __future__ import annotations

import orjson

from tests.gateway.helpers import exchange, route, table
from tigateway_channels.delivery.streams import TopicMessage
from tigateway_channels.gateway.context import GatewayContext
from tigateway_channels.gateway.follower import Follower
from tigateway_channels.gateway.index import RouteIndex, candidates
from tigateway_channels.gateway.table import RouteTable, TableBuilder, parse_target


def test_the_index_narrows_candidates_to_routes_whose_prefix_the_path_starts_with() -> None:
    routes = [route(f"svc{i}", f"Path=/svc{i}/**") for i in range(2000)]
    routes.append(route("catch-all", "Method=GET", order=10))
    t = table(*routes)
    request = exchange("/svc1234/users/1")
    found = candidates(t._index, request.host, request.segments)
    assert [route.id for route in found] == ["svc1234", "catch-all"]
    assert t.lookup(exchange("/svc77/x")).id == "svc77"  # type: ignore[union-attr]
    assert t.lookup(exchange("/other")).id == "catch-all"  # type: ignore[union-attr]


def test_literal_hosts_have_their_own_index_and_patterns_share_the_any_host_one() -> None:
    t = table(
        route("a", "Host=a.example.org", "Path=/x/**"),
        route("b", "Host=b.example.org", "Path=/x/**"),
        route("star", "Host=**.example.org", "Path=/x/**", order=5),
    )
    assert t.lookup(exchange("/x/1", host="b.example.org")).id == "b"  # type: ignore[union-attr]
    assert t.lookup(exchange("/x/1", host="c.example.org")).id == "star"  # type: ignore[union-attr]


def test_routes_tested_per_request_do_not_grow_with_the_table() -> None:
    small = table(*[route(f"s{i}", f"Path=/s{i}/**") for i in range(10)])
    big = table(*[route(f"s{i}", f"Path=/s{i}/**") for i in range(10_000)])
    for t in (small, big):
        request = exchange("/s7/a/b")
        assert [r.id for r in candidates(t._index, request.host, request.segments)] == ["s7"]
        assert t.lookup(request).id == "s7"  # type: ignore[union-attr]


def test_a_change_recompiles_only_the_route_that_changed() -> None:
    builder = TableBuilder(GatewayContext())
    builder.reset([route("a", "Path=/a/**"), route("b", "Path=/b/**")], {})
    first = builder.build()
    builder.put_route(route("b", "Path=/bb/**"))
    second = builder.build()
    assert first.routes[0] is second.routes[0]  # "a" reused
    assert second.lookup(exchange("/bb/1")).id == "b"  # type: ignore[union-attr]
    assert first.lookup(exchange("/b/1")).id == "b"  # type: ignore[union-attr]  (old table intact)


def test_targets_of_every_uri_form() -> None:
    assert parse_target("http://users:8080").origin() == "http://users:8080"
    assert parse_target("https://[::1]:8443").origin("wss") == "wss://[::1]:8443"
    lb = parse_target("lb://user-service")
    assert (lb.kind, lb.scheme, lb.service) == ("lb", "http", "user-service")
    ws = parse_target("lb:ws://chat")
    assert (ws.kind, ws.scheme, ws.service) == ("lb", "ws", "chat")
    assert parse_target("forward:/fallback").path == "/fallback"
    assert parse_target("forward:///fallback").path == "/fallback"


def test_route_metadata_timeouts_are_milliseconds() -> None:
    t = table(route("r", "Path=/**", metadata={"connect-timeout": 250, "response-timeout": 1500}))
    assert (t.routes[0].connect_timeout, t.routes[0].read_timeout) == (0.25, 1.5)


def _message(topic: str, offset: int, data: dict) -> TopicMessage:
    frame = orjson.dumps({"type": "route_update", "data": data}).decode()
    return TopicMessage(topic, offset, "e1", frame, {})


async def test_the_follower_applies_route_and_config_messages_and_swaps_tables() -> None:
    tables: list[RouteTable] = []
    follower = Follower(TableBuilder(GatewayContext()), tables.append)
    follower.builder.reset([route("a", "Path=/a/**")], {})
    follower.apply(
        "routes", [_message("routes", 1, {"action": "created", "route": route("b", "Path=/b/**")})]
    )
    follower.apply("routes", [_message("routes", 2, {"action": "deleted", "route": route("a")})])
    config = {
        "action": "updated",
        "configType": "route_config",
        "configId": "c1",
        "config": {"id": "c1", "routes": [], "globalFilters": ["AddRequestHeader=X-G, 1"]},
    }
    follower.apply("config", [_message("config", 1, config)])
    follower._rebuild()
    latest = tables[-1]
    assert [r.id for r in latest.routes] == ["b"]
    assert latest.routes[0].chain.filters[0].name == "AddRequestHeader"
    follower.apply("config", [_message("config", 2, {**config, "action": "deleted"})])
    follower._rebuild()
    assert tables[-1].routes[0].chain.filters == ()


def test_the_index_files_routes_without_a_path_at_the_root() -> None:
    class R:
        def __init__(self, route_id, prefixes, hosts, order=0):  # type: ignore[no-untyped-def]
            self.id, self.order = route_id, order
            self.path_prefixes, self.host_literals = prefixes, hosts

    a, b, c = R("a", None, None), R("b", (("a",),), None), R("c", (("a", "b"),), ("h",), -1)
    index = RouteIndex([a, b, c])
    assert candidates(index, "h", ["a", "b", "c"]) == (c, a, b)
    assert candidates(index, "other", ["a", "b"]) == (a, b)
    assert candidates(index, None, ["z"]) == (a,)
    changed = index.changed([b], [R("d", (("z",),), None)])
    assert [r.id for r in candidates(changed, None, ["z"])] == ["a", "d"]
    assert candidates(changed, None, ["a", "b"]) == (a,)
    assert candidates(index, None, ["a", "b"]) == (a, b)  # the old index is untouched


def test_incremental_tables_match_full_rebuilds() -> None:
    import random

    rng = random.Random(7)
    builder = TableBuilder(GatewayContext())
    routes = {f"r{i}": route(f"r{i}", f"Path=/p{i % 5}/**", order=i % 3) for i in range(30)}
    builder.reset(routes.values(), {})
    builder.build()
    for step in range(200):
        route_id = f"r{rng.randrange(40)}"
        if rng.random() < 0.3:
            routes.pop(route_id, None)
            builder.delete_route(route_id)
        else:
            routes[route_id] = route(
                route_id,
                f"Path=/p{rng.randrange(6)}/**",
                order=rng.randrange(3),
                status=rng.choice(["ACTIVE", "ACTIVE", "INACTIVE"]),
            )
            builder.put_route(routes[route_id])
        incremental = builder.build()
        full = table(*routes.values())
        assert [r.id for r in incremental.routes] == [r.id for r in full.routes], step
        for p in range(6):
            got = incremental.lookup(exchange(f"/p{p}/x"))
            want = full.lookup(exchange(f"/p{p}/x"))
            assert (got and got.id) == (want and want.id), (step, p)
