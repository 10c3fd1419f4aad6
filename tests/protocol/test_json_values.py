"""JSON values as the parsers give them: ``true`` is never a number, and what a client sends
is checked once before it is stored."""

from __future__ import annotations

import math

import pytest

from tigateway_channels.protocol.json_values import (
    MAX_JSON_DEPTH,
    MAX_JSON_ISSUES,
    is_integer,
    is_number,
    is_scalar,
    json_issues,
)


@pytest.mark.parametrize("value", [0, -3, 2**70])
def test_an_int_is_a_json_integer_and_number(value: int) -> None:
    assert is_integer(value)
    assert is_number(value)


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None, [1]])
def test_a_boolean_float_or_text_is_not_a_json_integer(value: object) -> None:
    assert not is_integer(value)


def test_a_float_is_a_number_and_a_boolean_is_not() -> None:
    assert is_number(0.5)
    assert not is_number(True)
    assert not is_number("0.5")


@pytest.mark.parametrize("value", ["text", 1, 1.5, True, None])
def test_strings_numbers_booleans_and_null_are_scalars(value: object) -> None:
    assert is_scalar(value)


@pytest.mark.parametrize("value", [[], {}, object()])
def test_lists_objects_and_other_values_are_not_scalars(value: object) -> None:
    assert not is_scalar(value)


def test_a_value_that_can_be_stored_has_no_issues() -> None:
    value = {"team": "orders", "tags": ["a", "café", "\n\t"], "n": -(2**63), "x": 1.5, "ok": None}
    assert json_issues(value, "metadata") == []


def test_every_unstorable_part_is_named_by_its_path() -> None:
    value = {"a": ["fine", "x\x00"], "k\x00": 1, "big": 2**64, "inf": math.inf, "s": "\udc00"}
    issues = json_issues(value, "metadata")
    assert [issue["field"] for issue in issues] == [
        "metadata.a[1]",
        "metadata.k\x00",
        "metadata.big",
        "metadata.inf",
        "metadata.s",
    ]
    assert all(issue["reason"] for issue in issues)


def test_a_document_path_starts_at_its_keys_and_nesting_is_bounded() -> None:
    deep: object = 1
    for _ in range(5000):
        deep = [deep]
    [issue] = json_issues({"doc": deep}, "")
    assert issue["field"] == "doc" + "[0]" * (MAX_JSON_DEPTH - 1)
    assert str(MAX_JSON_DEPTH) in issue["reason"]


def test_python_values_that_are_not_json_are_named() -> None:
    issues = json_issues({1: "a", "when": object()}, "metadata")
    assert [issue["reason"] for issue in issues] == [
        "object keys must be strings",
        "not a JSON value",
    ]


def test_the_problems_of_one_value_are_bounded() -> None:
    assert len(json_issues(["\x00"] * 1000, "filters")) == MAX_JSON_ISSUES
