"""Input that reaches the database is valid first: what PostgreSQL cannot store (NUL in text
or ``jsonb``), what is not UTF-8 (a lone surrogate), what the encoder cannot write (integers
beyond 64 bits, nesting past its limit) and ``null`` where a list is stored get the field's
validation error, never a database error. Pass 2 of the suite runs these on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tigateway_channels.models import GatewayConfig, Route
from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.services import configs as config_service
from tigateway_channels.services import routes as route_service
from tigateway_channels.services.errors import error_issues

pytestmark = pytest.mark.django_db(transaction=True)

ROUTE = {"id": "r1", "uri": "http://a.internal"}


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


# (what, call, code, field at fault)
ROUTE_CASES: list[tuple[str, Callable[[], Any], ErrorCode, str]] = [
    (
        "null predicates",
        lambda: route_service.create_route({**ROUTE, "predicates": None}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "predicates",
    ),
    (
        "null filters",
        lambda: route_service.create_route({**ROUTE, "filters": None}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "filters",
    ),
    (
        "null metadata",
        lambda: route_service.create_route({**ROUTE, "metadata": None}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "metadata",
    ),
    (
        "NUL in a shortcut predicate",
        lambda: route_service.create_route({**ROUTE, "predicates": ["Path=/a\x00"]}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "predicates[0]",
    ),
    (
        "NUL in a shortcut filter",
        lambda: route_service.create_route({**ROUTE, "filters": ["SetPath=/a\x00"]}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "filters[0]",
    ),
    (
        "NUL in a filter's argument",
        lambda: route_service.create_route(
            {
                **ROUTE,
                "filters": [{"name": "AddRequestHeader", "args": {"name": "X", "value": "\x00"}}],
            }
        ),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "filters[0].args.value",
    ),
    (
        "NUL in a filter's argument name",
        lambda: route_service.create_route(
            {**ROUTE, "filters": [{"name": "StripPrefix", "args": {"parts\x00": 1}}]}
        ),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "filters[0].args.parts\x00",
    ),
    (
        "NUL deep in metadata",
        lambda: route_service.create_route({**ROUTE, "metadata": {"a": {"b": ["ok", "x\x00"]}}}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "metadata.a.b[1]",
    ),
    (
        "NUL in a metadata key",
        lambda: route_service.create_route({**ROUTE, "metadata": {"team": {"k\x00": 1}}}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "metadata.team.k\x00",
    ),
    (
        "a lone surrogate in metadata",
        lambda: route_service.create_route({**ROUTE, "metadata": {"a": "\ud800"}}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "metadata.a",
    ),
    (
        "an integer beyond 64 bits in metadata",
        lambda: route_service.create_route({**ROUTE, "metadata": {"a": 2**70}}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "metadata.a",
    ),
    (
        "metadata nested 300 levels deep",
        lambda: route_service.create_route({**ROUTE, "metadata": deep(300)}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "metadata" + ".a" * 32,
    ),
    (
        "NUL in the id",
        lambda: route_service.create_route({**ROUTE, "id": "r\x00"}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "id",
    ),
    (
        "NUL in the uri",
        lambda: route_service.create_route({**ROUTE, "uri": "http://a/\x00"}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "uri",
    ),
    (
        "NUL in the status",
        lambda: route_service.create_route({**ROUTE, "status": "ACTIVE\x00"}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "status",
    ),
    (
        "NUL in an unknown field's value",
        lambda: route_service.create_route({**ROUTE, "colour\x00": "\x00"}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "colour\x00",
    ),
    (
        "NUL in an update",
        lambda: route_service.update_route("r0", {"metadata": {"a": "\x00"}}),
        ErrorCode.INVALID_ROUTE_CONFIG,
        "metadata.a",
    ),
    (
        "NUL in the route id of an update",
        lambda: route_service.update_route("r0\x00", {}),
        ErrorCode.INVALID_MESSAGE_FORMAT,
        "routeId",
    ),
    (
        "NUL in the route id of a delete",
        lambda: route_service.delete_route("r0\x00"),
        ErrorCode.INVALID_MESSAGE_FORMAT,
        "routeId",
    ),
]

CONFIG_CASES: list[tuple[str, Callable[[], Any], ErrorCode, str]] = [
    (
        "NUL in the config type",
        lambda: config_service.save_config("route_config\x00", "c", {}),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "configType",
    ),
    (
        "a control character in the config type of a read",
        lambda: config_service.get_config("route\nconfig", "c"),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "configType",
    ),
    (
        "NUL in the config type of a delete",
        lambda: config_service.delete_config("\x00", "c"),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "configType",
    ),
    (
        "NUL in the config type of the list",
        lambda: config_service.config_snapshot("\x00"),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "configType",
    ),
    (
        "NUL in the config id",
        lambda: config_service.save_config("route_config", "c\x00", {}),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "configId",
    ),
    (
        "NUL in a route of a route_config",
        lambda: config_service.save_config(
            "route_config", "c", {"routes": [{**ROUTE, "metadata": {"x": "\x00"}}]}
        ),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "routes[0].metadata.x",
    ),
    (
        "NUL in a global filter",
        lambda: config_service.save_config(
            "route_config", "c", {"globalFilters": ["SetPath=/\x00"]}
        ),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "globalFilters[0]",
    ),
    (
        "null predicates in a route of a route_config",
        lambda: config_service.save_config(
            "route_config", "c", {"routes": [{**ROUTE, "predicates": None}]}
        ),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "routes[0].predicates",
    ),
    (
        "NUL deep in a project type's document",
        lambda: config_service.save_config("feature_flags", "c", {"flags": [{"name": "a\x00"}]}),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "flags[0].name",
    ),
    (
        "NUL in a project type's key",
        lambda: config_service.save_config("feature_flags", "c", {"flags\x00": []}),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "flags\x00",
    ),
    (
        "a lone surrogate in a project type's document",
        lambda: config_service.save_config("feature_flags", "c", {"note": "\udfff"}),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "note",
    ),
    (
        "an integer beyond 64 bits in a project type's document",
        lambda: config_service.save_config("feature_flags", "c", {"limit": -(2**64)}),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "limit",
    ),
    (
        "a project type's document nested 900 levels deep",
        lambda: config_service.save_config("feature_flags", "c", {"deep": deep(900)}),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "deep" + ".a" * 31,
    ),
    (
        "NUL in a dry run",
        lambda: config_service.validate_config("feature_flags", "c", {"a": "\x00"}),
        ErrorCode.CONFIG_VALIDATION_ERROR,
        "a",
    ),
]


@pytest.fixture(autouse=True)
def a_project_type_that_takes_any_document(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "CONFIG_TYPES": {"feature_flags": {"schema": {"type": "object"}}}
    }
    route_service.create_route({**ROUTE, "id": "r0"})


@pytest.mark.parametrize(
    ("what", "call", "code", "field"),
    ROUTE_CASES + CONFIG_CASES,
    ids=[case[0] for case in ROUTE_CASES + CONFIG_CASES],
)
def test_input_the_database_cannot_store_gets_the_fields_validation_error(
    what: str, call: Callable[[], Any], code: ErrorCode, field: str
) -> None:
    with pytest.raises(GatewayError) as raised:
        call()

    error = raised.value
    assert error.code is code, error
    assert field in [issue.get("field") for issue in error_issues(error)], error.details
    assert error.details["reason"]
    assert Route.objects.count() == 1 and GatewayConfig.objects.count() == 0
