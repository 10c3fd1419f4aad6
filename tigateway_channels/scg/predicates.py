"""The route predicate factories: one declaration each, with SCG's field order and rules."""

from __future__ import annotations

from tigateway_channels.scg.factory import Bound, Factory, Field
from tigateway_channels.scg.patterns import check_host_pattern, check_path_pattern
from tigateway_channels.scg.scalars import InvalidValue, to_int
from tigateway_channels.scg.shortcut import ShortcutType
from tigateway_channels.scg.values import (
    parse_zoned_datetime,
    to_flag,
    to_http_method,
    to_ip_source,
    to_java_regex,
    to_non_empty_text,
    to_token,
    to_zoned_datetime,
)

__all__ = ["PREDICATES", "PREDICATE_NAMES"]


def _query_predicate(_value: object) -> object:
    """``Query.predicate`` is a Java ``Predicate<String>``, settable only from the Java DSL."""
    raise InvalidValue("cannot be set from configuration (Java DSL only); use regexp")


def _non_negative_weight(value: object) -> int:
    weight = to_int(value)
    if weight < 0:
        raise InvalidValue("must not be negative")
    return weight


def _between_in_order(bound: Bound) -> None:
    """Between matches ``datetime1 < now < datetime2``, so the bounds must be strictly ordered."""
    first, second = bound.args.get("datetime1"), bound.args.get("datetime2")
    if first is None or second is None:
        return
    if parse_zoned_datetime(first) >= parse_zoned_datetime(second):
        bound.fail(
            "datetime2",
            f"datetime1 must be before datetime2, got {first!r} and {second!r}",
        )


_PREDICATE = "predicate"

PATH = Factory(
    "Path",
    _PREDICATE,
    (
        Field("patterns", check_path_pattern, required=True, many=True, min_items=1),
        Field("matchTrailingSlash", to_flag, default=True),
    ),
    ShortcutType.GATHER_LIST_TAIL_FLAG,
)
METHOD = Factory(
    "Method",
    _PREDICATE,
    (Field("methods", to_http_method, required=True, many=True, min_items=1),),
    ShortcutType.GATHER_LIST,
)
HOST = Factory(
    "Host",
    _PREDICATE,
    (Field("patterns", check_host_pattern, required=True, many=True, min_items=1),),
    ShortcutType.GATHER_LIST,
)
HEADER = Factory(
    "Header",
    _PREDICATE,
    (Field("header", to_token, required=True), Field("regexp", to_java_regex)),
)
QUERY = Factory(
    "Query",
    _PREDICATE,
    (
        Field("param", to_non_empty_text, required=True),
        Field("regexp", to_java_regex),
        Field("predicate", _query_predicate),
    ),
    shortcut=("param", "regexp"),
)
COOKIE = Factory(
    "Cookie",
    _PREDICATE,
    (Field("name", to_token, required=True), Field("regexp", to_java_regex, required=True)),
)
REMOTE_ADDR = Factory(
    "RemoteAddr",
    _PREDICATE,
    (Field("sources", to_ip_source, required=True, many=True, min_items=1),),
    ShortcutType.GATHER_LIST,
)
AFTER = Factory("After", _PREDICATE, (Field("datetime", to_zoned_datetime, required=True),))
BEFORE = Factory("Before", _PREDICATE, (Field("datetime", to_zoned_datetime, required=True),))
BETWEEN = Factory(
    "Between",
    _PREDICATE,
    (
        Field("datetime1", to_zoned_datetime, required=True),
        Field("datetime2", to_zoned_datetime, required=True),
    ),
    check=_between_in_order,
)
# SCG binds Weight under the prefix "weight", so its keys are "weight.group"/"weight.weight".
WEIGHT = Factory(
    "Weight",
    _PREDICATE,
    (
        Field("weight.group", to_non_empty_text, required=True),
        Field("weight.weight", _non_negative_weight, default=0),
    ),
)

PREDICATES: dict[str, Factory] = {
    factory.name: factory
    for factory in (
        PATH, METHOD, HOST, HEADER, QUERY, COOKIE, REMOTE_ADDR, AFTER, BEFORE, BETWEEN, WEIGHT
    )
}  # fmt: skip
PREDICATE_NAMES: tuple[str, ...] = tuple(PREDICATES)
