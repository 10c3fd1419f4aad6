"""Reading the connection's query parameters: merged subscriptions, errors of their own."""

from __future__ import annotations

from urllib.parse import urlencode

from tigateway_channels.websocket.connect_params import (
    MAX_SUBSCRIPTION_NAMES,
    parse_subscriptions,
    read_connect_params,
)


def scope(pairs: list[tuple[str, str]]) -> dict[str, bytes]:
    return {"query_string": urlencode(pairs).encode()}


def test_json_arrays_and_comma_lists_merge_in_order_without_repeats() -> None:
    names, errors = parse_subscriptions(['["routes", "config"]', " metrics , routes,", "logs"])
    assert names == ["routes", "config", "metrics", "logs"]
    assert errors == []


def test_an_unreadable_value_is_an_error_and_the_others_still_count() -> None:
    names, errors = parse_subscriptions(['["routes"', "config", "[1, {}]", '["health", null]'])
    assert names == ["config", "health"]
    assert [e.details["value"] for e in errors] == ['["routes"', 1, "{}", None]
    assert all(e.details["field"] == "subscriptions" for e in errors)


def test_too_many_names_keep_the_first_and_say_so() -> None:
    many = ",".join(f"t{n}" for n in range(MAX_SUBSCRIPTION_NAMES + 3))
    names, [error] = parse_subscriptions([many])
    assert len(names) == MAX_SUBSCRIPTION_NAMES
    assert error.details["value"] == "t32,t33,t34"


def test_parameters_are_read_with_the_last_token_and_client_id() -> None:
    params = read_connect_params(
        scope([("token", "a"), ("token", "b"), ("clientId", "x"), ("subscriptions", "routes")])
    )
    assert (params.token, params.client_id, params.subscriptions) == ("b", "x", ["routes"])
    assert params.errors == []


def test_a_query_with_too_many_fields_is_one_error() -> None:
    params = read_connect_params(scope([("p", str(n)) for n in range(40)]))
    [error] = params.errors
    assert error.details["field"] == "query"
    assert params.token is None and params.subscriptions == []
