"""The gateway filter factories: one declaration each, with SCG's field order and rules."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tigateway_channels.scg.factory import Bound, Factory, Field
from tigateway_channels.scg.patterns import check_path_prefix, check_path_template
from tigateway_channels.scg.scalars import InvalidValue, to_bool, to_float, to_int, to_text
from tigateway_channels.scg.values import (
    compile_java_regex,
    parse_data_size,
    parse_duration_ms,
    to_header_value,
    to_http_method,
    to_http_status,
    to_java_class_name,
    to_java_regex,
    to_non_empty_text,
    to_status_code,
    to_status_series,
    to_token,
)

__all__ = ["FILTERS", "FILTER_NAMES"]

_FILTER = "filter"
_MAX_SAFE_LONG = 2**53 - 1
_URI_TEXT = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2}|[^\x00-\x7f])+")
_QUERY_BREAKERS = frozenset("&#")


def _non_negative_int(value: Any) -> int:
    number = to_int(value)
    if number < 0:
        raise InvalidValue("must not be negative")
    return number


def _at_least_one(value: Any) -> int:
    number = to_int(value)
    if number < 1:
        raise InvalidValue("must be at least 1")
    return number


def _burst_capacity(value: Any) -> int:
    return to_int(value, bounds=(0, _MAX_SAFE_LONG))


def _non_negative_duration(value: Any) -> int | float:
    duration = parse_duration_ms(value)
    if duration < 0:
        raise InvalidValue("must not be negative")
    return duration


def _positive_size(value: Any) -> int:
    size = parse_data_size(value)
    if size <= 0:
        raise InvalidValue("must be greater than 0")
    return size


def _unit_interval(value: Any) -> float:
    number = to_float(value)
    if not 0 <= number <= 1:
        raise InvalidValue("must be between 0 and 1")
    return number


def _redirect_status(value: Any) -> int:
    status = to_status_code(value)
    if not 300 <= status <= 399:
        raise InvalidValue("must be a 3xx redirection status")
    return status


def _redirect_url(value: Any) -> str:
    """A Location value as ``URI.create`` accepts it; relative URLs are fine."""
    text = to_non_empty_text(value)
    if not _URI_TEXT.fullmatch(text):
        raise InvalidValue("must be a URI without spaces or characters such as '{', '|' or '\"'")
    if "@" in urlsplit(text).netloc:
        raise InvalidValue(
            "must not carry user:password; routes are broadcast to every subscriber and the "
            "Location header would hand the credentials to every client"
        )
    return text


def _parameter_name(value: Any) -> str:
    text = _parameter_value(value)
    if "=" in text:
        raise InvalidValue("must not contain '='")
    return text


def _parameter_value(value: Any) -> str:
    """Appended to the query unencoded, so '&', '#' or spaces would change the request."""
    text = to_header_value(value)
    if any(ch in _QUERY_BREAKERS or ch.isspace() for ch in text):
        raise InvalidValue("must not contain spaces, '&' or '#', because it is added unencoded")
    return text


def _replacement(value: Any) -> str:
    """SCG turns every ``$\\`` into ``$`` first, so ``$\\{name}`` means ``${name}``."""
    return to_text(value).replace("$\\", "$")


def java_replacement_problem(replacement: str, groups: int, names: dict[str, int]) -> str | None:
    """What Java's ``Matcher.replaceAll`` would reject in ``replacement``, or None."""
    i, n = 0, len(replacement)
    while i < n:
        ch = replacement[i]
        if ch == "\\":
            if i + 1 == n:
                return "ends with a lone '\\'"
            i += 2
            continue
        if ch != "$":
            i += 1
            continue
        i += 1
        if i == n:
            return "ends with a lone '$'; write a literal '$' as '\\$'"
        if replacement[i] == "{":
            end = replacement.find("}", i)
            name = replacement[i + 1 : end] if end > 0 else ""
            if end < 0 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
                return "has a malformed '${name}' group reference"
            if name not in names:
                return f"refers to group {name!r}, which regexp does not define"
            i = end + 1
            continue
        if not ("0" <= replacement[i] <= "9"):
            return "has '$' without a group number or ${name}; write a literal '$' as '\\$'"
        number = int(replacement[i])
        if number > groups:
            return f"refers to group {number}, but regexp has {groups} group(s)"
        i += 1
        while (
            i < n and "0" <= replacement[i] <= "9" and number * 10 + int(replacement[i]) <= groups
        ):
            number = number * 10 + int(replacement[i])
            i += 1
    return None


def _rewrite_groups_exist(bound: Bound) -> None:
    """Java fails at request time on a reference to a missing group; catch it at build."""
    regexp, replacement = bound.args.get("regexp"), bound.args.get("replacement")
    if regexp is None or replacement is None:
        return
    pattern = compile_java_regex(regexp)
    problem = java_replacement_problem(replacement, pattern.groups, dict(pattern.groupindex))
    if problem:
        bound.fail("replacement", f"replacement {problem}, got {replacement!r}")


def _rate_limiter_rules(bound: Bound) -> None:
    """Redis limiter settings are needed unless a custom limiter is named, and must be coherent."""
    args, rate_key = bound.args, "redis-rate-limiter.replenishRate"
    burst_key, tokens_key = "redis-rate-limiter.burstCapacity", "redis-rate-limiter.requestedTokens"
    if rate_key not in args:
        if rate_key not in bound.given and "rateLimiter" not in bound.given:
            bound.fail(
                rate_key,
                f"{rate_key} is required (tokens per second, at least 1) unless a custom "
                "rateLimiter is set",
            )
        return
    if any(key in bound.given and key not in args for key in (burst_key, tokens_key)):
        return  # already reported as unconvertible
    args.setdefault(burst_key, 1)
    args.setdefault(tokens_key, 1)
    if args[burst_key] < args[rate_key]:
        default = "" if burst_key in bound.given else " (not given, so the default 1 applies)"
        bound.fail(
            burst_key,
            f"{burst_key} must be at least replenishRate {args[rate_key]}, "
            f"got {args[burst_key]}{default}",
        )


def _retry_rules(bound: Bound) -> None:
    """RetryConfig.validate, plus defaults that apply once any backoff position is given."""
    args = bound.args
    triggers = ("series", "statuses", "exceptions")
    if all(key in args for key in triggers) and not any(args[key] for key in triggers):
        bound.fail("series", "series, statuses and exceptions must not all be empty")
    backoff = [key for key in bound.given if key.startswith("backoff.")]
    if not backoff or any(key not in args for key in backoff):
        return
    args.setdefault("backoff.firstBackoff", 5)
    args.setdefault("backoff.factor", 2)
    args.setdefault("backoff.basedOnPreviousValue", True)
    first, most = args["backoff.firstBackoff"], args.get("backoff.maxBackoff")
    if most is not None and most < first:
        bound.fail(
            "backoff.maxBackoff",
            f"backoff.maxBackoff must not be below backoff.firstBackoff, got {most}ms "
            f"and {first}ms",
        )


def _name_value(name: str, *extra: Field) -> Factory:
    return Factory(
        name,
        _FILTER,
        (
            Field("name", to_token, required=True),
            Field("value", to_header_value, required=True),
            *extra,
        ),
    )


def _name_only(name: str, convert: Any = to_token) -> Factory:
    return Factory(name, _FILTER, (Field("name", convert, required=True),))


STRIP_PREFIX = Factory("StripPrefix", _FILTER, (Field("parts", _non_negative_int, default=1),))
PREFIX_PATH = Factory("PrefixPath", _FILTER, (Field("prefix", check_path_prefix, required=True),))
REWRITE_PATH = Factory(
    "RewritePath",
    _FILTER,
    (
        Field("regexp", to_java_regex, required=True),
        Field("replacement", _replacement, required=True),
    ),
    check=_rewrite_groups_exist,
)
SET_PATH = Factory("SetPath", _FILTER, (Field("template", check_path_template, required=True),))
ADD_REQUEST_HEADER = _name_value("AddRequestHeader")
SET_REQUEST_HEADER = _name_value("SetRequestHeader")
REMOVE_REQUEST_HEADER = _name_only("RemoveRequestHeader")
ADD_RESPONSE_HEADER = _name_value("AddResponseHeader", Field("override", to_bool, default=True))
SET_RESPONSE_HEADER = _name_value("SetResponseHeader")
REMOVE_RESPONSE_HEADER = _name_only("RemoveResponseHeader")
ADD_REQUEST_PARAMETER = Factory(
    "AddRequestParameter",
    _FILTER,
    (
        Field("name", _parameter_name, required=True),
        Field("value", _parameter_value, required=True),
    ),
)
REMOVE_REQUEST_PARAMETER = _name_only("RemoveRequestParameter", _parameter_name)
SET_STATUS = Factory("SetStatus", _FILTER, (Field("status", to_status_code, required=True),))
REDIRECT_TO = Factory(
    "RedirectTo",
    _FILTER,
    (
        Field("status", _redirect_status, required=True),
        Field("url", _redirect_url, required=True),
        Field("includeRequestParams", to_bool, default=False),
    ),
)
REQUEST_RATE_LIMITER = Factory(
    "RequestRateLimiter",
    _FILTER,
    (
        Field("keyResolver", to_text, spel=True),
        Field("rateLimiter", to_text, spel=True),
        Field("statusCode", to_http_status, default=429),
        Field("denyEmptyKey", to_bool),
        Field("emptyKeyStatus", to_status_code),
        Field("throwOnLimit", to_bool),
        Field("redis-rate-limiter.replenishRate", _at_least_one),
        Field("redis-rate-limiter.burstCapacity", _burst_capacity),
        Field("redis-rate-limiter.requestedTokens", _at_least_one),
    ),
    shortcut=(),
    check=_rate_limiter_rules,
)
RETRY = Factory(
    "Retry",
    _FILTER,
    (
        Field("retries", _at_least_one, default=3),
        Field("statuses", to_http_status, many=True, default=()),
        Field("series", to_status_series, many=True, default=("SERVER_ERROR",)),
        Field("methods", to_http_method, many=True, min_items=1, default=("GET",)),
        Field(
            "exceptions",
            to_java_class_name,
            many=True,
            default=(
                "java.io.IOException",
                "org.springframework.cloud.gateway.support.TimeoutException",
            ),
        ),
        Field("backoff.firstBackoff", _non_negative_duration),
        Field("backoff.maxBackoff", _non_negative_duration),
        Field("backoff.factor", _at_least_one),
        Field("backoff.basedOnPreviousValue", to_bool),
        Field("jitter.randomFactor", _unit_interval),
        Field("timeout", _non_negative_duration),
    ),
    shortcut=(
        "retries",
        "statuses",
        "methods",
        "backoff.firstBackoff",
        "backoff.maxBackoff",
        "backoff.factor",
        "backoff.basedOnPreviousValue",
        "jitter.randomFactor",
        "timeout",
    ),
    check=_retry_rules,
)
REQUEST_SIZE = Factory(
    "RequestSize", _FILTER, (Field("maxSize", _positive_size, default=5_000_000),), shortcut=()
)

FILTERS: dict[str, Factory] = {
    factory.name: factory
    for factory in (
        STRIP_PREFIX, PREFIX_PATH, REWRITE_PATH, SET_PATH, ADD_REQUEST_HEADER, SET_REQUEST_HEADER,
        REMOVE_REQUEST_HEADER, ADD_RESPONSE_HEADER, SET_RESPONSE_HEADER, REMOVE_RESPONSE_HEADER,
        ADD_REQUEST_PARAMETER, REMOVE_REQUEST_PARAMETER, SET_STATUS, REDIRECT_TO,
        REQUEST_RATE_LIMITER, RETRY, REQUEST_SIZE,
    )
}  # fmt: skip
FILTER_NAMES: tuple[str, ...] = tuple(FILTERS)
