"""The two argument forms and SCG's normalisation rules, input bounds, and garbage input."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tigateway_channels.scg import (
    Definition,
    SpecIssue,
    SpecValidationError,
    parse_filter,
    parse_filters,
    parse_predicate,
    parse_predicates,
)
from tigateway_channels.scg.filters import FILTERS
from tigateway_channels.scg.shortcut import read_shortcut


def predicate_issues(item: Any) -> list[SpecIssue]:
    with pytest.raises(SpecValidationError) as caught:
        parse_predicate(item)
    return caught.value.issues


def filter_issues(item: Any) -> list[SpecIssue]:
    with pytest.raises(SpecValidationError) as caught:
        parse_filter(item)
    return caught.value.issues


def test_shortcut_splits_at_the_first_equals_and_keeps_later_ones() -> None:
    raw, issues = read_shortcut("AddRequestParameter=q,a=b=c", "filters[0]", "filter")
    assert not issues and raw is not None
    assert raw.name == "AddRequestParameter"
    assert [(arg.key, arg.value) for arg in raw.args] == [
        ("_genkey_0", "q"),
        ("_genkey_1", "a=b=c"),
    ]


def test_shortcut_tokens_are_trimmed_and_empty_ones_dropped() -> None:
    raw, _ = read_shortcut("  Method= GET ,, , POST\t,", "predicates[0]", "predicate")
    assert raw is not None
    assert [arg.value for arg in raw.args] == ["GET", "POST"]
    assert parse_filter("AddRequestHeader=X, ,Y").args == {"name": "X", "value": "Y"}


def test_shortcut_name_is_exact_and_not_trimmed_before_the_equals() -> None:
    [issue] = filter_issues("StripPrefix =1")
    assert "did you mean 'StripPrefix'?" in issue.reason


def test_gather_list_takes_every_value_in_order() -> None:
    assert parse_predicate("Method=PUT,GET,POST").args == {"methods": ["PUT", "GET", "POST"]}
    expanded = {"name": "Host", "args": {"_genkey_0": "a.org", "patterns": "b.org"}}
    assert parse_predicate(expanded).args == {"patterns": ["a.org", "b.org"]}


def test_tail_flag_is_taken_only_from_the_last_value() -> None:
    assert parse_predicate("Path=/a,/b,FALSE").args == {
        "patterns": ["/a", "/b"],
        "matchTrailingSlash": False,
    }
    assert "required" in predicate_issues("Path=true")[0].reason
    assert "start with '/'" in predicate_issues("Path=/a,false,/b")[0].reason


def test_tail_flag_in_the_expanded_form_binds_by_position_like_scg() -> None:
    item = {"name": "Path", "args": {"patterns": ["/a", "true"]}}
    assert parse_predicate(item).args == {"patterns": ["/a"], "matchTrailingSlash": True}


def test_generated_keys_are_renamed_by_entry_position() -> None:
    item = {"name": "AddRequestHeader", "args": {"name": "X-A", "_genkey_7": "v"}}
    assert parse_filter(item).args == {"name": "X-A", "value": "v"}
    clash = {"name": "AddRequestHeader", "args": {"value": "v", "_genkey_0": "X-A"}}
    assert "more than once" in filter_issues(clash)[0].reason


def test_weight_prefix_maps_positions_to_dotted_keys() -> None:
    assert parse_predicate("Weight=blue, 3").args == {"weight.group": "blue", "weight.weight": 3}


def test_nested_objects_flatten_to_dotted_keys() -> None:
    item = {"name": "Retry", "args": {"backoff": {"firstBackoff": "1s"}, "jitter.randomFactor": 0}}
    args = parse_filter(item).args
    assert args["backoff.firstBackoff"] == 1000
    assert args["jitter.randomFactor"] == 0.0


def test_indexed_keys_are_gathered_in_index_order() -> None:
    dotted = {"name": "Retry", "args": {"methods.1": "POST", "methods.0": "GET"}}
    bracketed = {"name": "Retry", "args": {"methods[1]": "POST", "methods[0]": "GET"}}
    assert parse_filter(dotted).args["methods"] == ["GET", "POST"]
    assert parse_filter(bracketed).args["methods"] == ["GET", "POST"]
    listed = {"name": "Path", "args": {"patterns.0": "/a", "patterns.1": "/b"}}
    assert parse_predicate(listed).args["patterns"] == ["/a", "/b"]


def test_relaxed_names_bind_like_spring() -> None:
    for key in ("matchTrailingSlash", "match-trailing-slash", "match_trailing_slash"):
        item = {"name": "Path", "args": {"patterns": ["/a"], key: False}}
        assert parse_predicate(item).args["matchTrailingSlash"] is False


def test_scalar_field_given_as_a_list_is_reported() -> None:
    [issue] = filter_issues({"name": "StripPrefix", "args": {"parts": [1, 2]}})
    assert issue.field == "filters[0].args.parts"
    assert "single value" in issue.reason


def test_same_field_under_two_spellings_is_reported() -> None:
    item = {"name": "SetStatus", "args": {"status": 401, "Status": 402}}
    assert "more than once" in filter_issues(item)[0].reason


def test_expanded_item_with_extra_keys_is_rejected() -> None:
    [issue] = filter_issues({"name": "StripPrefix", "args": {}, "order": 1})
    assert issue.field == "filters[0].order"


def test_expanded_item_may_omit_args() -> None:
    assert parse_filter({"name": "StripPrefix"}).args == {"parts": 1}
    assert parse_filter({"name": "StripPrefix", "args": None}).args == {"parts": 1}


def test_none_means_no_items_and_a_non_list_is_an_issue() -> None:
    assert parse_predicates(None) == []
    with pytest.raises(SpecValidationError) as caught:
        parse_filters("StripPrefix=1")
    assert caught.value.issues[0].field == "filters"


def test_garbage_items_become_issues_not_exceptions() -> None:
    with pytest.raises(SpecValidationError) as caught:
        parse_predicates([1, None, {"name": 3}, {"name": "Path", "args": [1]}])
    assert [issue.field for issue in caught.value.issues] == [
        "predicates[0]",
        "predicates[1]",
        "predicates[2].name",
        "predicates[3].args",
    ]


@pytest.mark.parametrize(
    "item",
    [
        {"name": "Path", "args": {1: "/a"}},
        {"name": "StripPrefix", "args": {"parts": 10**5000}},
        {"name": "StripPrefix", "args": {"parts": math.nan}},
        {"name": "Retry", "args": {"timeout": math.inf}},
        {"name": "Retry", "args": {"retries": object()}},
        {"name": "SetPath", "args": {"template": {"a": {"b": [None, {}]}}}},
        {None: "Path"},
        ["Path=/a"],
        b"Path=/a",
        {"name": "Path", "args": {"patterns": [[[["/a"]]]]}},
    ],
)
def test_hostile_values_produce_serialisable_issues(item: Any) -> None:
    with pytest.raises(SpecValidationError) as caught:
        parse_filters([item])
    payload = [issue.as_dict() for issue in caught.value.issues]
    json.dumps(payload, allow_nan=False)


def test_deeply_nested_args_are_one_issue() -> None:
    nested: dict[str, Any] = {}
    cursor = nested
    for _ in range(10_000):
        cursor["a"] = {}
        cursor = cursor["a"]
    [issue] = filter_issues({"name": "Retry", "args": nested})
    assert "nested" in issue.reason


def test_shortcut_longer_than_4096_characters_is_one_issue() -> None:
    [issue] = predicate_issues("Path=/" + "a" * 5000)
    assert "at most 4096" in issue.reason
    assert len(issue.value) < 300


def test_more_than_100_items_is_one_issue() -> None:
    with pytest.raises(SpecValidationError) as caught:
        parse_filters(["StripPrefix=1"] * 101)
    [issue] = caught.value.issues
    assert issue.field == "filters" and "at most 100" in issue.reason
    assert len(parse_filters(["StripPrefix=1"] * 100)) == 100


def test_too_many_expanded_args_is_one_issue() -> None:
    args = {f"k{i}": "v" for i in range(1000)}
    [issue] = filter_issues({"name": "Retry", "args": args})
    assert "more than 200" in issue.reason


def test_unexpected_failure_inside_a_factory_is_reported_as_an_issue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(_raw: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(type(FILTERS["StripPrefix"]), "bind", lambda self, raw: explode(raw))
    [issue] = filter_issues("StripPrefix=1")
    assert issue.field == "filters[0]" and "could not be validated" in issue.reason


def test_error_message_summarises_every_issue() -> None:
    with pytest.raises(SpecValidationError) as caught:
        parse_filters(["StripPrefix=x", "SetStatus=1"])
    text = str(caught.value)
    assert text.startswith("2 problems:")
    assert "filters[0]: StripPrefix parts must be an integer" in text
    assert "filters[1]: SetStatus status" in text
    assert isinstance(caught.value, ValueError)


def test_definition_and_issue_are_plain_frozen_data() -> None:
    definition = parse_filter("StripPrefix=3")
    assert definition == Definition("StripPrefix", {"parts": 3}, "StripPrefix=3")
    with pytest.raises(AttributeError):
        definition.name = "X"  # type: ignore[misc]
    issue = SpecIssue("filters[0]", "x", "why")
    assert issue.as_dict() == {"field": "filters[0]", "value": "x", "reason": "why"}
