"""Every predicate validation accepts, with Spring Cloud Gateway's semantics."""

from __future__ import annotations

import datetime as dt

from tests.gateway.helpers import exchange, route, table


def served_by(routes: list[dict], **request: object) -> str | None:
    found = table(*routes).lookup(exchange(**request))  # type: ignore[arg-type]
    return found.id if found is not None else None


def test_path_publishes_variables_of_the_first_matching_pattern() -> None:
    t = table(route("r", "Path=/red/{segment},/blue/{segment}"))
    request = exchange("/blue/sky")
    assert t.lookup(request) is not None
    assert request.variables == {"segment": "sky"}


def test_method_is_case_sensitive_membership() -> None:
    routes = [route("r", "Method=GET,POST")]
    assert served_by(routes, path="/", method="POST") == "r"
    assert served_by(routes, path="/", method="DELETE") is None


def test_host_includes_the_port_and_publishes_variables() -> None:
    routes = [route("r", "Host={sub}.example.org")]
    assert served_by(routes, host="api.example.org") == "r"
    assert served_by(routes, host="api.example.org:8080") is None
    assert served_by(routes, host=None) is None


def test_header_splits_values_on_commas_and_matches_in_full() -> None:
    routes = [route("r", "Header=X-Request-Id, \\d+")]
    assert served_by(routes, headers=[("X-Request-Id", "abc, 123")]) == "r"
    assert served_by(routes, headers=[("X-Request-Id", "123abc")]) is None
    assert served_by(routes, headers=[]) is None
    exists = [route("e", "Header=X-Flag")]
    assert served_by(exists, headers=[("x-flag", "yes")]) == "e"
    assert served_by(exists, headers=[("x-flag", " ")]) is None


def test_query_decodes_and_needs_a_value_for_a_regexp() -> None:
    routes = [route("r", "Query=red, gree.")]
    assert served_by(routes, query="red=green") == "r"
    assert served_by(routes, query="red=gree%6E") == "r"
    assert served_by(routes, query="red") is None
    assert served_by(routes, query="blue=green") is None
    presence = [route("p", "Query=green")]
    for query in ("green", "green=", "a=1&green=x"):
        assert served_by(presence, query=query) == "p"


def test_cookie_matches_a_named_cookie_in_full() -> None:
    routes = [route("r", "Cookie=chocolate, ch.p")]
    assert served_by(routes, headers=[("Cookie", "a=1; chocolate=chip")]) == "r"
    assert served_by(routes, headers=[("Cookie", "chocolate=chips")]) is None


def test_remote_addr_uses_the_peer_address_and_cidr_blocks() -> None:
    routes = [route("r", "RemoteAddr=192.168.1.1/24,10.0.0.0/8")]
    assert served_by(routes, client="192.168.1.77") == "r"
    assert served_by(routes, client="10.200.0.1") == "r"
    assert served_by(routes, client="172.16.0.1") is None
    v6 = [route("v6", {"name": "RemoteAddr", "args": {"sources": ["2001:db8::/32"]}})]
    assert served_by(v6, client="2001:db8::1") == "v6"


def _iso(delta: dt.timedelta, zone: str = "America/Denver") -> str:
    from zoneinfo import ZoneInfo

    moment = (dt.datetime.now(dt.UTC) + delta).astimezone(ZoneInfo(zone))
    return moment.isoformat(timespec="milliseconds") + f"[{zone}]"


def test_after_before_between_compare_instants_across_time_zones() -> None:
    hour = dt.timedelta(hours=1)
    assert served_by([route("a", f"After={_iso(-hour)}")]) == "a"
    assert served_by([route("a", f"After={_iso(hour, 'Asia/Tokyo')}")]) is None
    assert served_by([route("b", f"Before={_iso(hour, 'Europe/Paris')}")]) == "b"
    past_ms = int((dt.datetime.now(dt.UTC) - hour).timestamp() * 1000)
    assert served_by([route("b", f"Before={past_ms}")]) is None
    between = f"Between={_iso(-hour)}, {_iso(hour, 'UTC')}"
    assert served_by([route("w", between)]) == "w"
    assert served_by([route("w", f"Between={_iso(hour)}, {_iso(2 * hour)}")]) is None


def test_weight_groups_share_traffic_by_weight_and_groups_draw_independently() -> None:
    t = table(
        route("high", "Path=/w/**", "Weight=g, 8"),
        route("low", "Path=/w/**", "Weight=g, 2"),
        route("never", "Path=/w/**", "Weight=g, 0"),
    )
    counts = {"high": 0, "low": 0, "never": 0}
    for _ in range(5000):
        found = t.lookup(exchange("/w/x"))
        assert found is not None
        counts[found.id] += 1
    assert counts["never"] == 0
    assert 0.75 < counts["high"] / 5000 < 0.85
    assert t.draw_weight("g", 0.0) == "high"
    assert t.draw_weight("g", 0.85) == "low"
    assert t.draw_weight("unknown", 0.5) is None


def test_predicates_are_anded_and_routes_tried_in_order_then_id() -> None:
    routes = [
        route("b-second", "Path=/x/**", order=1),
        route("a-second", "Path=/x/**", order=1),
        route("first", "Path=/x/**", "Method=POST", order=0),
    ]
    assert served_by(routes, path="/x/1", method="POST") == "first"
    assert served_by(routes, path="/x/1", method="GET") == "a-second"


def test_only_active_routes_serve() -> None:
    assert served_by([route("r", "Path=/**", status="INACTIVE")]) is None
    assert served_by([route("r", "Path=/**", status="PENDING")]) is None
