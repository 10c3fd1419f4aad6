"""The id rule of routes and configs, shared by models, services, serializers and URLs."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

from tigateway_channels.protocol.ids import IdProblem, id_problem, is_config_type_name


@pytest.mark.parametrize("value", ["users", "user-service_2", "A", "x" * 200])
def test_slugs_of_up_to_200_characters_are_ids(value: str) -> None:
    assert id_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", IdProblem.NOT_A_STRING),
        (None, IdProblem.NOT_A_STRING),
        (7, IdProblem.NOT_A_STRING),
        ("x" * 201, IdProblem.TOO_LONG),
        ("users/admin", IdProblem.CHARACTERS),
        ("users\n", IdProblem.CHARACTERS),
        ("usérs", IdProblem.CHARACTERS),
    ],
)
def test_what_is_wrong_with_a_value_that_is_not_an_id(value: object, problem: IdProblem) -> None:
    assert id_problem(value) is problem


@pytest.mark.parametrize("value", ["users", "user-service_2", "users/admin", "users\n", "usérs"])
def test_the_id_characters_are_djangos_slug(value: str) -> None:
    try:
        validate_slug(value)
    except ValidationError:
        assert id_problem(value) is IdProblem.CHARACTERS
    else:
        assert id_problem(value) is None


def test_a_config_type_name_has_1_to_100_characters() -> None:
    assert is_config_type_name("route_config")
    assert is_config_type_name("t" * 100)
    assert not is_config_type_name("")
    assert not is_config_type_name("t" * 101)
    assert not is_config_type_name(None)


@pytest.mark.parametrize("name", ["route\x00config", "route\nconfig", "\x7f", "a\ud800"])
def test_a_config_type_name_has_no_control_character_nor_lone_surrogate(name: str) -> None:
    assert not is_config_type_name(name)
    assert is_config_type_name("feature flags, v2 (beta) — café")
