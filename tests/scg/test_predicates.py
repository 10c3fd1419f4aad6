"""Every predicate: both forms agree, SCG's semantics hold, and bad args are reported."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tigateway_channels.scg import (
    PREDICATE_NAMES,
    SpecIssue,
    SpecValidationError,
    parse_predicate,
    parse_predicates,
)

DENVER = "2017-01-20T17:42:47.789-07:00[America/Denver]"
DENVER_NEXT_DAY = "2017-01-21T17:42:47.789-07:00[America/Denver]"

# (shortcut, equivalent expanded form, normalised args)
EQUIVALENT_FORMS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "Path=/red/{segment},/blue/{segment},false",
        {
            "name": "Path",
            "args": {
                "patterns": ["/red/{segment}", "/blue/{segment}"],
                "matchTrailingSlash": False,
            },
        },
        {"patterns": ["/red/{segment}", "/blue/{segment}"], "matchTrailingSlash": False},
    ),
    (
        "Method=GET,POST",
        {"name": "Method", "args": {"methods": ["GET", "POST"]}},
        {"methods": ["GET", "POST"]},
    ),
    (
        "Host=**.somehost.org,{sub}.myhost.org",
        {"name": "Host", "args": {"patterns": ["**.somehost.org", "{sub}.myhost.org"]}},
        {"patterns": ["**.somehost.org", "{sub}.myhost.org"]},
    ),
    (
        "Header=X-Request-Id, \\d+",
        {"name": "Header", "args": {"header": "X-Request-Id", "regexp": "\\d+"}},
        {"header": "X-Request-Id", "regexp": "\\d+"},
    ),
    (
        "Query=red, gree.",
        {"name": "Query", "args": {"param": "red", "regexp": "gree."}},
        {"param": "red", "regexp": "gree."},
    ),
    (
        "Cookie=chocolate, ch.p",
        {"name": "Cookie", "args": {"name": "chocolate", "regexp": "ch.p"}},
        {"name": "chocolate", "regexp": "ch.p"},
    ),
    (
        "RemoteAddr=192.168.1.1/24,10.0.0.0/8",
        {"name": "RemoteAddr", "args": {"sources": ["192.168.1.1/24", "10.0.0.0/8"]}},
        {"sources": ["192.168.1.0/24", "10.0.0.0/8"]},
    ),
    (
        f"After={DENVER}",
        {"name": "After", "args": {"datetime": DENVER}},
        {"datetime": "2017-01-20T17:42:47.789000-07:00"},
    ),
    (
        "Before=1484952167789",
        {"name": "Before", "args": {"datetime": 1484952167789}},
        {"datetime": "2017-01-20T22:42:47.789000+00:00"},
    ),
    (
        f"Between={DENVER}, {DENVER_NEXT_DAY}",
        {"name": "Between", "args": {"datetime1": DENVER, "datetime2": DENVER_NEXT_DAY}},
        {
            "datetime1": "2017-01-20T17:42:47.789000-07:00",
            "datetime2": "2017-01-21T17:42:47.789000-07:00",
        },
    ),
    (
        "Weight=group1, 8",
        {"name": "Weight", "args": {"weight.group": "group1", "weight.weight": 8}},
        {"weight.group": "group1", "weight.weight": 8},
    ),
]

# (item, issue field, a word the reason must contain)
REJECTED: list[tuple[Any, str, str]] = [
    ("Path=api/**", "predicates[0]", "start with '/'"),
    ("Path=/api/**/users", "predicates[0]", "last"),
    ({"name": "Path", "args": {"patterns": []}}, "predicates[0].args.patterns", "required"),
    ("Method=get", "predicates[0]", "'GET'"),
    ({"name": "Method", "args": {"methods": "GET,POST"}}, "predicates[0].args.methods", "list"),
    ("Host=a b.org", "predicates[0]", "spaces"),
    ("Header=X-Id, [a-", "predicates[0]", "character class"),
    ({"name": "Header", "args": {"regexp": "\\d+"}}, "predicates[0].args.header", "required"),
    ("Query=red, (?=a)b", "predicates[0]", "linear time"),
    ({"name": "Query", "args": {"param": ""}}, "predicates[0].args.param", "empty"),
    ("Cookie=chocolate", "predicates[0]", "regexp is required"),
    ("RemoteAddr=10.0.0.0/33", "predicates[0]", "prefix length"),
    ("RemoteAddr=not-an-ip", "predicates[0]", "IP address"),
    ("After=yesterday", "predicates[0]", "ISO date-time"),
    (
        {"name": "Before", "args": {"datetime": "2017-02-30T10:00:00Z"}},
        "predicates[0].args.datetime",
        "day",
    ),
    (f"Between={DENVER_NEXT_DAY},{DENVER}", "predicates[0]", "before"),
    ("Weight=group1, -1", "predicates[0]", "negative"),
    (
        {"name": "Weight", "args": {"weight.group": "g", "weight.weight": "x"}},
        "predicates[0].args.weight.weight",
        "integer",
    ),
]


def issues_of(item: Any) -> list[SpecIssue]:
    with pytest.raises(SpecValidationError) as caught:
        parse_predicate(item)
    return caught.value.issues


@pytest.mark.parametrize(("shortcut", "expanded", "expected"), EQUIVALENT_FORMS)
def test_shortcut_and_expanded_forms_normalise_to_the_same_args(
    shortcut: str, expanded: dict[str, Any], expected: dict[str, Any]
) -> None:
    from_shortcut = parse_predicate(shortcut)
    from_expanded = parse_predicate(expanded)
    assert from_shortcut.args == from_expanded.args == expected
    assert from_shortcut.name == from_expanded.name == expanded["name"]


def test_every_predicate_has_an_equivalence_case() -> None:
    assert {expanded["name"] for _, expanded, _ in EQUIVALENT_FORMS} == set(PREDICATE_NAMES)


def test_every_predicate_has_a_rejection_case() -> None:
    named = {item if isinstance(item, str) else item["name"] for item, _, _ in REJECTED}
    assert {name.split("=", 1)[0] for name in named} == set(PREDICATE_NAMES)


@pytest.mark.parametrize(("item", "field", "word"), REJECTED)
def test_bad_predicate_args_are_reported_on_the_item_or_arg(
    item: Any, field: str, word: str
) -> None:
    issues = issues_of(item)
    assert any(issue.field == field and word in issue.reason for issue in issues), issues


@pytest.mark.parametrize(("shortcut", "expanded", "expected"), EQUIVALENT_FORMS)
def test_normalised_args_parse_back_to_themselves(
    shortcut: str, expanded: dict[str, Any], expected: dict[str, Any]
) -> None:
    definition = parse_predicate(shortcut)
    again = parse_predicate({"name": definition.name, "args": definition.args})
    assert again.args == definition.args
    json.dumps(definition.args)


def test_definition_keeps_the_source_exactly_as_given() -> None:
    expanded = {"name": "Method", "args": {"methods": ["GET"]}}
    assert parse_predicate(" Path=/a ").source == " Path=/a "
    assert parse_predicate(expanded).source == expanded


def test_path_defaults_match_trailing_slash_to_true() -> None:
    assert parse_predicate("Path=/api/users/**").args == {
        "patterns": ["/api/users/**"],
        "matchTrailingSlash": True,
    }


def test_path_flag_in_the_expanded_form_must_be_the_last_entry() -> None:
    item = {"name": "Path", "args": {"matchTrailingSlash": False, "patterns": ["/a"]}}
    [issue] = issues_of(item)
    assert issue.field == "predicates[0].args.matchTrailingSlash"
    assert "last" in issue.reason


def test_path_flag_accepts_only_true_or_false() -> None:
    [issue] = issues_of({"name": "Path", "args": {"patterns": ["/a"], "matchTrailingSlash": "yes"}})
    assert "true or false" in issue.reason


def test_path_allows_capture_the_rest_and_double_star_only_at_the_end() -> None:
    assert parse_predicate("Path=/api/{*rest}").args["patterns"] == ["/api/{*rest}"]
    assert "whole last segment" in issues_of("Path=/api/{*rest}/x")[0].reason
    assert "whole segment" in issues_of("Path=/api**")[0].reason


def test_path_variables_must_be_named_once_and_closed() -> None:
    assert "twice" in issues_of("Path=/{id}/{id}")[0].reason
    assert "unclosed" in issues_of("Path=/a/{id")[0].reason
    assert "without '{'" in issues_of("Path=/a/id}")[0].reason
    assert "variable name" in issues_of("Path=/a/{1x}")[0].reason


def test_path_regex_variable_with_a_comma_needs_the_expanded_form() -> None:
    issues = issues_of("Path=/a/{id:\\d{1,3}}")
    assert "splits shortcut args" in issues[0].reason
    item = {"name": "Path", "args": {"patterns": ["/a/{id:\\d{1,3}}"]}}
    assert parse_predicate(item).args["patterns"] == ["/a/{id:\\d{1,3}}"]


def test_path_regex_variable_is_compiled_and_guarded() -> None:
    assert "lookahead" in issues_of("Path=/a/{id:(?!x)a+}")[0].reason
    assert parse_predicate("Path=/a/{id:(a+)+}").args["patterns"] == ["/a/{id:(a+)+}"]
    assert "regular expression" in issues_of("Path=/a/{id:[a-}")[0].reason


def test_path_patterns_joined_by_a_comma_in_the_expanded_form_are_reported() -> None:
    [issue] = issues_of({"name": "Path", "args": {"patterns": "/a,/b"}})
    assert "give a list" in issue.reason


def test_host_regex_may_not_contain_a_dot_because_ant_splits_on_it() -> None:
    [issue] = issues_of("Host={sub:.+}.example.org")
    assert "split on '.'" in issue.reason
    assert parse_predicate("Host={sub:[a-z]+}.example.org:8080").args["patterns"] == [
        "{sub:[a-z]+}.example.org:8080"
    ]


def test_method_given_in_lowercase_suggests_the_uppercase_name() -> None:
    [issue] = issues_of("Method=GET,post")
    assert issue.value == "post"
    assert "did you mean 'POST'?" in issue.reason


def test_header_without_regexp_is_an_existence_check() -> None:
    assert parse_predicate("Header=X-Request-Id").args == {"header": "X-Request-Id"}


def test_header_regex_with_java_named_group_is_accepted() -> None:
    args = parse_predicate("Header=X-Id, (?<num>\\d+)").args
    assert args["regexp"] == "(?<num>\\d+)"


def test_query_predicate_field_cannot_be_configured() -> None:
    item = {"name": "Query", "args": {"param": "a", "predicate": "x"}}
    [issue] = issues_of(item)
    assert issue.field == "predicates[0].args.predicate"
    assert "Java DSL" in issue.reason
    assert "at most 2 arguments" in issues_of("Query=a,b,c")[0].reason


def test_remote_addr_ipv6_without_prefix_is_refused_as_too_wide() -> None:
    [issue] = issues_of("RemoteAddr=::1")
    assert "/32" in issue.reason and "::1/128" in issue.reason
    assert parse_predicate("RemoteAddr=::1/128,10.0.0.1").args == {
        "sources": ["::1/128", "10.0.0.1/32"]
    }


def test_between_requires_datetime1_strictly_before_datetime2() -> None:
    [issue] = issues_of("Between=1484952167789,1484952167789")
    assert "before" in issue.reason
    expanded = {"name": "Between", "args": {"datetime1": DENVER_NEXT_DAY, "datetime2": DENVER}}
    [issue] = issues_of(expanded)
    assert issue.field == "predicates[0].args.datetime2"


def test_after_rejects_an_unknown_time_zone() -> None:
    [issue] = issues_of("After=2017-01-20T17:42:47.789-07:00[Mars/Olympus]")
    assert "time zone" in issue.reason


def test_weight_args_must_use_the_weight_prefix() -> None:
    issues = issues_of({"name": "Weight", "args": {"group": "g", "weight": 3}})
    unknown = [issue for issue in issues if issue.field == "predicates[0].args.group"]
    assert unknown and "did you mean 'weight.group'?" in unknown[0].reason


def test_weight_accepts_a_nested_weight_object() -> None:
    item = {"name": "Weight", "args": {"weight": {"group": "g", "weight": "2"}}}
    assert parse_predicate(item).args == {"weight.group": "g", "weight.weight": 2}


def test_weight_defaults_to_zero() -> None:
    assert parse_predicate("Weight=g").args == {"weight.group": "g", "weight.weight": 0}


def test_unknown_predicate_name_suggests_the_right_case() -> None:
    [issue] = issues_of("path=/api/**")
    assert issue.field == "predicates[0]"
    assert issue.reason == "unknown predicate 'path'; did you mean 'Path'?"


def test_unknown_predicate_name_lists_the_known_ones() -> None:
    [issue] = issues_of({"name": "Frobnicate", "args": {}})
    assert issue.field == "predicates[0].name"
    assert all(name in issue.reason for name in PREDICATE_NAMES)


def test_filter_name_used_as_a_predicate_is_explained() -> None:
    [issue] = issues_of("StripPrefix=1")
    assert "is a filter, not a predicate" in issue.reason


def test_predicate_shortcut_needs_an_equals_sign_with_a_name_before_it() -> None:
    assert "no '='" in issues_of("Path")[0].reason
    assert "nothing before '='" in issues_of("=/api")[0].reason


def test_unknown_named_arg_is_reported_with_a_suggestion() -> None:
    [issue] = issues_of({"name": "Header", "args": {"header": "X-Id", "regex": "\\d+"}})
    assert issue.field == "predicates[0].args.regex"
    assert "accepted: header, regexp" in issue.reason
    assert "did you mean 'regexp'?" in issue.reason


def test_every_bad_predicate_of_a_route_is_reported_at_once() -> None:
    with pytest.raises(SpecValidationError) as caught:
        parse_predicates(["Path=/ok/**", "Method=get", "Nope=1", "Weight=g,-2"])
    assert [issue.field for issue in caught.value.issues] == [
        "predicates[1]",
        "predicates[2]",
        "predicates[3]",
    ]
