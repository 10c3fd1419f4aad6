"""Every filter: both forms agree, SCG's semantics hold, and bad args are reported."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tigateway_channels.scg import (
    FILTER_NAMES,
    SpecIssue,
    SpecValidationError,
    parse_filter,
    parse_filters,
)

DEFAULT_EXCEPTIONS = [
    "java.io.IOException",
    "org.springframework.cloud.gateway.support.TimeoutException",
]
RETRY_ARGS = {
    "retries": 3,
    "statuses": [500],
    "series": ["SERVER_ERROR"],
    "methods": ["GET"],
    "exceptions": DEFAULT_EXCEPTIONS,
    "backoff.firstBackoff": 10,
    "backoff.maxBackoff": 50,
    "backoff.factor": 2,
    "backoff.basedOnPreviousValue": False,
    "jitter.randomFactor": 0.5,
    "timeout": 100,
}

# (shortcut, equivalent expanded form, normalised args); RequestRateLimiter and RequestSize
# have no shortcut form, so their shortcut column is the bare name (defaults only).
EQUIVALENT_FORMS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("StripPrefix=2", {"name": "StripPrefix", "args": {"parts": 2}}, {"parts": 2}),
    (
        "PrefixPath=/mypath",
        {"name": "PrefixPath", "args": {"prefix": "/mypath"}},
        {"prefix": "/mypath"},
    ),
    (
        "RewritePath=/red/?(?<segment>.*), /$\\{segment}",
        {
            "name": "RewritePath",
            "args": {"regexp": "/red/?(?<segment>.*)", "replacement": "/$\\{segment}"},
        },
        {"regexp": "/red/?(?<segment>.*)", "replacement": "/${segment}"},
    ),
    (
        "SetPath=/{segment}",
        {"name": "SetPath", "args": {"template": "/{segment}"}},
        {"template": "/{segment}"},
    ),
    (
        "AddRequestHeader=X-Request-Red, Blue-{segment}",
        {"name": "AddRequestHeader", "args": {"name": "X-Request-Red", "value": "Blue-{segment}"}},
        {"name": "X-Request-Red", "value": "Blue-{segment}"},
    ),
    (
        "SetRequestHeader=X-Request-Red, Blue",
        {"name": "SetRequestHeader", "args": {"name": "X-Request-Red", "value": "Blue"}},
        {"name": "X-Request-Red", "value": "Blue"},
    ),
    (
        "RemoveRequestHeader=X-Request-Foo",
        {"name": "RemoveRequestHeader", "args": {"name": "X-Request-Foo"}},
        {"name": "X-Request-Foo"},
    ),
    (
        "AddResponseHeader=X-Response-Black, White, false",
        {
            "name": "AddResponseHeader",
            "args": {"name": "X-Response-Black", "value": "White", "override": False},
        },
        {"name": "X-Response-Black", "value": "White", "override": False},
    ),
    (
        "SetResponseHeader=X-Response-Red, Blue",
        {"name": "SetResponseHeader", "args": {"name": "X-Response-Red", "value": "Blue"}},
        {"name": "X-Response-Red", "value": "Blue"},
    ),
    (
        "RemoveResponseHeader=X-Response-Foo",
        {"name": "RemoveResponseHeader", "args": {"name": "X-Response-Foo"}},
        {"name": "X-Response-Foo"},
    ),
    (
        "AddRequestParameter=red, blue",
        {"name": "AddRequestParameter", "args": {"name": "red", "value": "blue"}},
        {"name": "red", "value": "blue"},
    ),
    (
        "RemoveRequestParameter=red",
        {"name": "RemoveRequestParameter", "args": {"name": "red"}},
        {"name": "red"},
    ),
    ("SetStatus=401", {"name": "SetStatus", "args": {"status": "UNAUTHORIZED"}}, {"status": 401}),
    (
        "RedirectTo=302, https://acme.org, true",
        {
            "name": "RedirectTo",
            "args": {"status": 302, "url": "https://acme.org", "includeRequestParams": True},
        },
        {"status": 302, "url": "https://acme.org", "includeRequestParams": True},
    ),
    (
        "RequestRateLimiter",
        {"name": "RequestRateLimiter", "args": {"rateLimiter": "#{@myLimiter}"}},
        {"rateLimiter": "#{@myLimiter}", "statusCode": 429},
    ),
    (
        "Retry=3,INTERNAL_SERVER_ERROR,GET,10ms,50ms,2,false,0.5,100ms",
        {
            "name": "Retry",
            "args": {
                "retries": 3,
                "statuses": "INTERNAL_SERVER_ERROR",
                "methods": "GET",
                "backoff": {
                    "firstBackoff": "10ms",
                    "maxBackoff": "50ms",
                    "factor": 2,
                    "basedOnPreviousValue": False,
                },
                "jitter": {"randomFactor": 0.5},
                "timeout": "100ms",
            },
        },
        RETRY_ARGS,
    ),
    ("RequestSize", {"name": "RequestSize", "args": {"maxSize": 5000000}}, {"maxSize": 5000000}),
]

# (item, issue field, a word the reason must contain)
REJECTED: list[tuple[Any, str, str]] = [
    ("StripPrefix=abc", "filters[0]", "must be an integer, got 'abc'"),
    ({"name": "StripPrefix", "args": {"parts": -1}}, "filters[0].args.parts", "negative"),
    ("PrefixPath", "filters[0]", "prefix is required"),
    ("PrefixPath=/api/", "filters[0]", "end with '/'"),
    ("RewritePath=/a(.*), /$2", "filters[0]", "group 2"),
    (
        {"name": "RewritePath", "args": {"regexp": "/a(", "replacement": "/"}},
        "filters[0].args.regexp",
        "regular expression",
    ),
    ("SetPath=segment", "filters[0]", "start with '/'"),
    ("AddRequestHeader=X-L,a,b", "filters[0]", "at most 2 arguments"),
    (
        {"name": "SetRequestHeader", "args": {"name": "X-A", "value": ""}},
        "filters[0].args.value",
        "empty",
    ),
    ("RemoveRequestHeader", "filters[0]", "name is required"),
    (
        {"name": "AddResponseHeader", "args": {"name": "X-A", "value": "v", "override": "maybe"}},
        "filters[0].args.override",
        "true or false",
    ),
    (
        {"name": "SetResponseHeader", "args": {"name": "X-A", "value": "a\r\nSet-Cookie: x"}},
        "filters[0].args.value",
        "control characters",
    ),
    ({"name": "RemoveResponseHeader", "args": {"name": "X A"}}, "filters[0].args.name", "spaces"),
    ("AddRequestParameter=red", "filters[0]", "value is required"),
    ({"name": "RemoveRequestParameter", "args": {}}, "filters[0].args.name", "required"),
    ("SetStatus=abc", "filters[0]", "HTTP status name"),
    ("RedirectTo=200, https://acme.org", "filters[0]", "3xx"),
    ("RequestRateLimiter=2, 2, #{@userKeyResolver}", "filters[0]", "no shortcut form"),
    ("Retry=0", "filters[0]", "at least 1"),
    ("RequestSize=5MB", "filters[0]", "no shortcut form"),
]


def issues_of(item: Any) -> list[SpecIssue]:
    with pytest.raises(SpecValidationError) as caught:
        parse_filter(item)
    return caught.value.issues


@pytest.mark.parametrize(("shortcut", "expanded", "expected"), EQUIVALENT_FORMS)
def test_shortcut_and_expanded_forms_normalise_to_the_same_args(
    shortcut: str, expanded: dict[str, Any], expected: dict[str, Any]
) -> None:
    if shortcut not in ("RequestRateLimiter", "RequestSize"):
        assert parse_filter(shortcut).args == expected
    assert parse_filter(expanded).args == expected


def test_every_filter_has_an_equivalence_case() -> None:
    assert {expanded["name"] for _, expanded, _ in EQUIVALENT_FORMS} == set(FILTER_NAMES)


def test_every_filter_has_a_rejection_case() -> None:
    named = {item if isinstance(item, str) else item["name"] for item, _, _ in REJECTED}
    assert {name.split("=", 1)[0] for name in named} == set(FILTER_NAMES)


@pytest.mark.parametrize(("item", "field", "word"), REJECTED)
def test_bad_filter_args_are_reported_on_the_item_or_arg(item: Any, field: str, word: str) -> None:
    issues = issues_of(item)
    assert any(issue.field == field and word in issue.reason for issue in issues), issues


@pytest.mark.parametrize(("shortcut", "expanded", "expected"), EQUIVALENT_FORMS)
def test_normalised_args_parse_back_to_themselves(
    shortcut: str, expanded: dict[str, Any], expected: dict[str, Any]
) -> None:
    definition = parse_filter(expanded)
    again = parse_filter({"name": definition.name, "args": definition.args})
    assert again.args == definition.args
    json.dumps(definition.args)


def test_strip_prefix_rejects_non_integer_parts() -> None:
    [issue] = issues_of("StripPrefix=abc")
    assert issue.as_dict() == {
        "field": "filters[0]",
        "value": "abc",
        "reason": "StripPrefix parts must be an integer, got 'abc'",
    }


def test_strip_prefix_rejects_extra_positional_args() -> None:
    [issue] = issues_of("StripPrefix=1,2")
    assert "takes at most 1 argument (parts), got 2" in issue.reason


def test_strip_prefix_accepts_json_numbers_and_numeric_strings() -> None:
    for parts in (2, "2", 2.0, " 2 "):
        assert parse_filter({"name": "StripPrefix", "args": {"parts": parts}}).args == {"parts": 2}
    assert "integer" in issues_of({"name": "StripPrefix", "args": {"parts": True}})[0].reason
    assert "integer" in issues_of({"name": "StripPrefix", "args": {"parts": 2.5}})[0].reason


def test_filters_without_equals_sign_use_their_defaults() -> None:
    assert parse_filter("StripPrefix").args == {"parts": 1}
    assert parse_filter("Retry").args == {
        "retries": 3,
        "statuses": [],
        "series": ["SERVER_ERROR"],
        "methods": ["GET"],
        "exceptions": DEFAULT_EXCEPTIONS,
    }
    assert parse_filter("RequestSize").args == {"maxSize": 5000000}


def test_filter_with_a_leading_equals_sign_is_an_unknown_name() -> None:
    [issue] = issues_of("=StripPrefix")
    assert "unknown filter '=StripPrefix'" in issue.reason


def test_add_request_header_requires_both_name_and_value() -> None:
    issues = issues_of("AddRequestHeader")
    assert [issue.reason for issue in issues] == [
        "AddRequestHeader name is required; write AddRequestHeader=name",
        "AddRequestHeader value is required; write AddRequestHeader=name, value",
    ]


def test_header_value_may_not_be_a_spel_expression() -> None:
    [issue] = issues_of("AddRequestHeader=X-A, #{@bean}")
    assert "SpEL" in issue.reason


def test_add_request_parameter_keeps_later_equals_signs_in_the_value() -> None:
    assert parse_filter("AddRequestParameter=q,a=b").args == {"name": "q", "value": "a=b"}
    assert "'&'" in issues_of("AddRequestParameter=q,a&b=c")[0].reason


def test_rewrite_path_turns_dollar_backslash_into_dollar() -> None:
    args = parse_filter("RewritePath=/red/(?<segment>.*), /$\\{segment}").args
    assert args["replacement"] == "/${segment}"


def test_rewrite_path_replacement_must_refer_to_existing_groups() -> None:
    assert "'other'" in issues_of("RewritePath=/a/(?<seg>.*), /${other}")[0].reason
    assert "group 1" in issues_of("RewritePath=/a/.*, /$1")[0].reason
    assert "literal '$'" in issues_of("RewritePath=/a/(.*), /$x")[0].reason
    assert parse_filter("RewritePath=/a/(.*), /$1\\$").args["replacement"] == "/$1\\$"


def test_rewrite_path_accepts_an_empty_replacement_in_the_expanded_form() -> None:
    item = {"name": "RewritePath", "args": {"regexp": "/prefix", "replacement": ""}}
    assert parse_filter(item).args == {"regexp": "/prefix", "replacement": ""}


def test_set_path_template_may_start_with_a_variable() -> None:
    assert parse_filter("SetPath={rest}").args == {"template": "{rest}"}
    assert "unclosed" in issues_of("SetPath=/a/{b")[0].reason


def test_set_status_accepts_non_standard_codes_and_names_in_any_case() -> None:
    assert parse_filter("SetStatus=432").args == {"status": 432}
    assert parse_filter("SetStatus=unauthorized").args == {"status": 401}
    assert "between 100 and 599" in issues_of("SetStatus=99")[0].reason


def test_redirect_to_accepts_a_status_name_and_a_relative_url() -> None:
    args = parse_filter("RedirectTo=moved_permanently, /login").args
    assert args == {"status": 301, "url": "/login", "includeRequestParams": False}
    assert "URI" in issues_of("RedirectTo=302, https://acme.org/a b")[0].reason


def test_rate_limiter_binds_relaxed_and_nested_names() -> None:
    item = {
        "name": "RequestRateLimiter",
        "args": {
            "redis-rate-limiter": {"replenish-rate": "10", "burstCapacity": 20},
            "key-resolver": "#{@userKeyResolver}",
            "deny-empty-key": "false",
            "status-code": "too_many_requests",
            "emptyKeyStatus": "unauthorized",
        },
    }
    assert parse_filter(item).args == {
        "keyResolver": "#{@userKeyResolver}",
        "statusCode": 429,
        "denyEmptyKey": False,
        "emptyKeyStatus": 401,
        "redis-rate-limiter.replenishRate": 10,
        "redis-rate-limiter.burstCapacity": 20,
        "redis-rate-limiter.requestedTokens": 1,
    }


def test_rate_limiter_requires_a_replenish_rate_unless_a_limiter_bean_is_named() -> None:
    [issue] = issues_of({"name": "RequestRateLimiter", "args": {}})
    assert issue.field == "filters[0].args.redis-rate-limiter.replenishRate"
    assert "required" in issue.reason


def test_rate_limiter_rejects_misplaced_replenish_rate_with_a_hint() -> None:
    issues = issues_of({"name": "RequestRateLimiter", "args": {"replenishRate": 10}})
    assert "did you mean 'redis-rate-limiter.replenishRate'?" in issues[0].reason


def test_rate_limiter_checks_rate_burst_and_tokens() -> None:
    prefix = "redis-rate-limiter."

    def limiter(**values: Any) -> dict[str, Any]:
        return {"name": "RequestRateLimiter", "args": {prefix + k: v for k, v in values.items()}}

    assert "at least 1" in issues_of(limiter(replenishRate=0))[0].reason
    [issue] = issues_of(limiter(replenishRate=10, burstCapacity=5))
    assert issue.field == "filters[0].args.redis-rate-limiter.burstCapacity"
    assert "at least replenishRate 10" in issue.reason
    assert "default 1" in issues_of(limiter(replenishRate=10))[0].reason
    assert "at least 1" in issues_of(limiter(replenishRate=1, requestedTokens=0))[0].reason
    assert "between" in issues_of(limiter(replenishRate=1, burstCapacity=2**53))[0].reason


def test_rate_limiter_key_resolver_must_be_a_bean_reference() -> None:
    item = {"name": "RequestRateLimiter", "args": {"rateLimiter": "#{@l}", "keyResolver": "k"}}
    assert "bean reference" in issues_of(item)[0].reason


def test_retry_rules_from_the_reference_are_enforced() -> None:
    def retry(**args: Any) -> dict[str, Any]:
        return {"name": "Retry", "args": args}

    assert "at least 1" in issues_of(retry(retries=0))[0].reason
    assert "must list at least 1" in issues_of(retry(methods=""))[0].reason
    assert "between 0 and 1" in issues_of(retry(jitter={"randomFactor": 1.5}))[0].reason
    assert "negative" in issues_of(retry(timeout="-1s"))[0].reason
    assert "status name" in issues_of(retry(statuses="NOPE"))[0].reason
    assert "series" in issues_of(retry(series="SOMETIMES"))[0].reason
    assert "class name" in issues_of(retry(exceptions="IOException"))[0].reason
    [issue] = issues_of(retry(series="", statuses=[], exceptions=""))
    assert "must not all be empty" in issue.reason


def test_retry_expanded_list_from_one_comma_joined_string_is_split() -> None:
    args = parse_filter({"name": "Retry", "args": {"methods": "GET, POST", "series": ""}}).args
    assert args["methods"] == ["GET", "POST"]
    assert args["series"] == []


def test_retry_any_backoff_position_enables_backoff_defaults() -> None:
    args = parse_filter("Retry=3,BAD_GATEWAY,GET,PT0.5S").args
    assert args["statuses"] == [502]
    assert args["backoff.firstBackoff"] == 500
    assert args["backoff.factor"] == 2
    assert args["backoff.basedOnPreviousValue"] is True
    assert "backoff.maxBackoff" not in args


def test_retry_max_backoff_below_first_backoff_is_rejected() -> None:
    item = {"name": "Retry", "args": {"backoff": {"firstBackoff": "1s", "maxBackoff": "10ms"}}}
    [issue] = issues_of(item)
    assert issue.field == "filters[0].args.backoff.maxBackoff"


def test_request_size_accepts_binary_units_and_rejects_zero() -> None:
    assert parse_filter({"name": "RequestSize", "args": {"maxSize": "5MB"}}).args == {
        "maxSize": 5 * 1024 * 1024
    }
    [issue] = issues_of({"name": "RequestSize", "args": {"maxSize": 0}})
    assert issue.field == "filters[0].args.maxSize"
    assert "greater than 0" in issue.reason


def test_predicate_name_used_as_a_filter_is_explained() -> None:
    [issue] = issues_of("Path=/api/**")
    assert "is a predicate, not a filter" in issue.reason


def test_every_bad_filter_of_a_route_is_reported_at_once() -> None:
    filters = [
        "StripPrefix=abc",
        {"name": "StripPrefix", "args": {"parts": "x"}},
        "AddRequestHeader=X-A, ok",
        "SetStatus=1000",
        {"name": "Retry", "args": {"retries": -1, "timeout": "soon"}},
    ]
    with pytest.raises(SpecValidationError) as caught:
        parse_filters(filters)
    assert [issue.field for issue in caught.value.issues] == [
        "filters[0]",
        "filters[1].args.parts",
        "filters[3]",
        "filters[4].args.retries",
        "filters[4].args.timeout",
    ]


@pytest.mark.parametrize(
    "url",
    ["https://user:secret@acme.org/login", "//admin:pw@acme.org/", "http://token@acme.org"],
)
def test_redirect_url_with_credentials_is_refused(url: str) -> None:
    with pytest.raises(SpecValidationError) as caught:
        parse_filter({"name": "RedirectTo", "args": {"status": 302, "url": url}})
    [issue] = caught.value.issues
    assert issue.field == "filters[0].args.url"
    assert "user:password" in issue.reason


def test_redirect_url_without_credentials_is_kept() -> None:
    item = {"name": "RedirectTo", "args": {"status": 302, "url": "https://acme.org/a?b=c@d"}}
    assert parse_filter(item).args["url"] == "https://acme.org/a?b=c@d"
