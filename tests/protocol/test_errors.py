"""The one error type: its ``details`` always say why (spec 9.1), and show a client's values
bounded, so that every error can be encoded and sent."""

from __future__ import annotations

import math
from typing import Any

import orjson

from tigateway_channels.protocol.errors import (
    SHOWN_CHARS,
    SHOWN_ISSUES,
    SHOWN_ITEMS,
    SHOWN_SIZE,
    TEXT_CHARS,
    ErrorCode,
    GatewayError,
    field_error,
    internal_error,
    shown_details,
    shown_value,
)


def test_an_error_without_details_still_has_a_reason() -> None:
    data = GatewayError(ErrorCode.INTERNAL_ERROR, "Internal error; see server logs").as_data()
    assert data == {
        "code": "INTERNAL_ERROR",
        "message": "Internal error; see server logs",
        "details": {"reason": "Internal error; see server logs"},
    }


def test_details_without_a_reason_get_the_message_and_are_not_changed_in_place() -> None:
    details = {"permission": "tigateway_channels.view_route"}
    error = GatewayError(ErrorCode.FORBIDDEN, "You may not", details)
    assert error.as_data()["details"] == {**details, "reason": "You may not"}
    assert details == {"permission": "tigateway_channels.view_route"}


def test_a_field_error_keeps_its_field_value_and_reason() -> None:
    error = field_error(ErrorCode.INVALID_ROUTE_CONFIG, "uri", "x", "bad uri", "Invalid")
    assert error.as_data()["details"] == {"field": "uri", "value": "x", "reason": "bad uri"}


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": [value]}
    return value


def test_a_value_nested_past_the_encoder_limit_is_shown_three_levels_deep() -> None:
    error = field_error(ErrorCode.INVALID_ROUTE_CONFIG, "route", deep(600), "bad", "Invalid")
    shown = error.as_data()["details"]["value"]
    assert shown == {"a": [{"a": "..."}]}
    orjson.dumps(error.as_data())  # 1,200 levels given; the encoder stops at 254


def test_a_shown_value_is_bounded_in_items_characters_and_size() -> None:
    huge = {f"key-{n}": ["x" * 10_000] * 50 for n in range(100)}
    shown = shown_value(huge)
    assert len(shown) <= SHOWN_ITEMS + 1
    assert all(
        len(item) <= SHOWN_CHARS + 3
        for items in shown.values()
        if isinstance(items, list)
        for item in items
    )
    assert len(orjson.dumps(shown)) < 3 * SHOWN_SIZE
    assert shown_value(["a"] * 50)[-1] == f"... {50 - SHOWN_ITEMS} more"


def test_values_the_encoder_refuses_are_shown_as_their_description() -> None:
    shown = shown_value({1: 2**70, "nan": math.inf, "text": "a\ud800b", "object": object()})
    assert shown == {
        "1": "<integer of 71 bits>",
        "nan": "inf",
        "text": "a\ufffdb",
        "object": "<object>",
    }
    orjson.dumps(shown)


def test_reasons_are_kept_longer_than_values_and_the_problem_list_is_bounded() -> None:
    issues = [{"field": f"f{n}", "value": "v" * 500, "reason": "r" * 900} for n in range(150)]
    details = shown_details({**issues[0], "errors": issues})
    assert details["reason"] == "r" * 900
    assert details["value"] == "v" * SHOWN_CHARS + "..."
    assert len(details["errors"]) == SHOWN_ISSUES
    assert details["moreErrors"] == 150 - SHOWN_ISSUES
    assert all(issue["value"] == "v" * SHOWN_CHARS + "..." for issue in details["errors"])


def test_a_message_that_quotes_a_client_is_bounded_too() -> None:
    data = GatewayError(ErrorCode.ROUTE_NOT_FOUND, "No route " + "x" * 5000).as_data()
    assert len(data["message"]) == TEXT_CHARS + 3
    assert data["details"]["reason"] == data["message"]


def test_an_internal_error_names_an_incident_and_nothing_else() -> None:
    first, second = internal_error(), internal_error()
    assert first.code is ErrorCode.INTERNAL_ERROR
    incident = first.as_data()["details"]["incident"]
    assert len(incident) == 16 and incident != second.details["incident"]
    assert incident in first.as_data()["details"]["reason"]
