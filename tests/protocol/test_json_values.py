"""JSON values as the parsers give them: ``true`` is never a number."""

from __future__ import annotations

import pytest

from tigateway_channels.protocol.json_values import is_integer, is_number, is_scalar


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
