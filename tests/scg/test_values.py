"""Typed converters: what SCG's binder accepts from text, JSON values, and the Java regex bridge."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tigateway_channels.scg.javaregex import MAX_REGEX_CHARS, RegexProblem
from tigateway_channels.scg.values import (
    InvalidValue,
    compile_java_regex,
    parse_data_size,
    parse_duration_ms,
    parse_zoned_datetime,
    to_bool,
    to_float,
    to_header_value,
    to_http_method,
    to_http_status,
    to_int,
    to_ip_source,
    to_java_class_name,
    to_java_regex,
    to_spel_bean_reference,
    to_status_code,
    to_status_series,
    to_text,
    to_token,
)


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), ("3", 3), (" -4 ", -4), ("+5", 5), (7.0, 7)]
)
def test_int_accepts_json_integers_and_decimal_text(value: Any, expected: int) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize("value", [True, 2.5, "2.5", "0x10", "1_000", "", None, [], "٣", 2**31])
def test_int_rejects_what_java_would_not_parse(value: Any) -> None:
    with pytest.raises(InvalidValue):
        to_int(value)


def test_int_handles_huge_numbers_without_converting_them_to_text() -> None:
    with pytest.raises(InvalidValue, match="between"):
        to_int(10**5000)


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("TRUE", True), ("no", False), (0, False)]
)
def test_bool_accepts_json_and_spring_words(value: Any, expected: bool) -> None:
    assert to_bool(value) is expected


def test_bool_and_float_reject_nonsense() -> None:
    with pytest.raises(InvalidValue):
        to_bool("maybe")
    with pytest.raises(InvalidValue):
        to_float("nan")
    with pytest.raises(InvalidValue):
        to_float(float("inf"))
    assert to_float("0.5") == 0.5


def test_text_accepts_numbers_and_booleans_as_spring_would() -> None:
    assert [to_text(v) for v in ("a", 5, True, 1.5)] == ["a", "5", "true", "1.5"]
    with pytest.raises(InvalidValue):
        to_text({"a": 1})


def test_zoned_datetime_from_epoch_milliseconds_is_utc() -> None:
    moment = parse_zoned_datetime("1484952167789")
    assert moment == dt.datetime(2017, 1, 20, 22, 42, 47, 789000, tzinfo=dt.UTC)
    assert parse_zoned_datetime(1484952167789) == moment


def test_zoned_datetime_keeps_the_instant_and_moves_to_the_region() -> None:
    moment = parse_zoned_datetime("2017-01-20T17:42:47.789-07:00[America/Denver]")
    assert moment.utcoffset() == dt.timedelta(hours=-7)
    assert str(moment.tzinfo) == "America/Denver"
    shifted = parse_zoned_datetime("2017-07-20T12:00:00Z[Europe/Paris]")
    assert shifted.hour == 14


@pytest.mark.parametrize(
    "value",
    [
        "2017-01-20T17:42:47",
        "2017-01-20 17:42:47Z",
        "2017-13-01T00:00:00Z",
        "2017-01-20T17:42:47Z[Nowhere/City]",
        "2017-01-20T17:42:47Z[../../etc/passwd]",
        "tomorrow",
        True,
        1.5,
    ],
)
def test_zoned_datetime_rejects_unparsable_values(value: Any) -> None:
    with pytest.raises(InvalidValue):
        parse_zoned_datetime(value)


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        ("10ms", 10),
        ("5s", 5000),
        ("1m", 60000),
        ("2h", 7_200_000),
        ("PT0.5S", 500),
        ("pt1m30s", 90000),
        ("250", 250),
        (250, 250),
        ("1500us", 1.5),
        ("-1s", -1000),
        ("P1D", 86_400_000),
    ],
)
def test_duration_parses_spring_boot_and_iso_forms_to_milliseconds(
    value: Any, millis: float
) -> None:
    assert parse_duration_ms(value) == millis


@pytest.mark.parametrize("value", ["10 parsecs", "10x", "PT", "P", "soon", True, "1.5s"])
def test_duration_rejects_unknown_forms(value: Any) -> None:
    with pytest.raises(InvalidValue):
        parse_duration_ms(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("512", 512),
        (512, 512),
        ("10B", 10),
        ("1KB", 1024),
        ("5MB", 5 * 1024**2),
        ("2GB", 2 * 1024**3),
        ("1TB", 1024**4),
        ("5mb", 5 * 1024**2),
    ],
)
def test_data_size_uses_binary_units(value: Any, size: int) -> None:
    assert parse_data_size(value) == size


@pytest.mark.parametrize("value", ["5PB", "five", "1.5MB", True, None])
def test_data_size_rejects_unknown_forms(value: Any) -> None:
    with pytest.raises(InvalidValue):
        parse_data_size(value)


def test_http_methods_are_case_sensitive_tokens() -> None:
    assert to_http_method("PURGE") == "PURGE"
    with pytest.raises(InvalidValue) as caught:
        to_http_method("get")
    assert caught.value.hint == "did you mean 'GET'?"
    with pytest.raises(InvalidValue, match="comma"):
        to_http_method("GET,POST")


def test_http_status_accepts_enum_names_leniently_and_known_codes() -> None:
    assert to_http_status("BAD_GATEWAY") == 502
    assert to_http_status("bad-gateway") == 502
    assert to_http_status(503) == 503
    assert to_http_status("PAYLOAD_TOO_LARGE") == to_http_status("CONTENT_TOO_LARGE") == 413
    with pytest.raises(InvalidValue):
        to_http_status(432)


def test_status_code_accepts_any_code_from_100_to_599_or_a_name() -> None:
    assert to_status_code("432") == 432
    assert to_status_code("unauthorized") == 401
    for bad in (99, "600", "NOPE", True, None):
        with pytest.raises(InvalidValue):
            to_status_code(bad)


def test_status_series_are_spring_series_names() -> None:
    assert to_status_series("server_error") == "SERVER_ERROR"
    with pytest.raises(InvalidValue):
        to_status_series("5xx")


@pytest.mark.parametrize(
    ("value", "network"),
    [
        ("10.0.0.1", "10.0.0.1/32"),
        ("192.168.1.1/24", "192.168.1.0/24"),
        ("::1/128", "::1/128"),
        ("2001:db8::/32", "2001:db8::/32"),
    ],
)
def test_ip_sources_normalise_to_networks(value: str, network: str) -> None:
    assert to_ip_source(value) == network


@pytest.mark.parametrize(
    "value", ["10.0.0.0/33", "::1/129", "example.org", "10.0.0.0/255.0.0.0", "::1"]
)
def test_ip_sources_reject_malformed_or_too_wide_values(value: str) -> None:
    with pytest.raises(InvalidValue):
        to_ip_source(value)


def test_java_named_groups_are_translated() -> None:
    pattern = compile_java_regex("/red/(?<segment>[a-z]+)/x")
    assert pattern.groupindex == {"segment": 1}
    assert pattern.fullmatch("/red/ab/x")
    assert pattern.sub("/\\g<segment>", "/red/ab/x") == "/ab"


def test_java_quoting_and_end_anchor_are_translated() -> None:
    assert compile_java_regex("\\Qa.b\\E").fullmatch("a.b")
    assert not compile_java_regex("\\Qa.b\\E").fullmatch("axb")
    assert compile_java_regex("abc\\z").search("abc")
    assert compile_java_regex("\\x{1F600}").fullmatch("\U0001f600")


# Patterns that take exponential or high polynomial time on a backtracking engine. On RE2
# each search below is linear; on Python's re any of them would run past the test timeout.
HOSTILE = [
    ("(a|aa)+$", "a" * 100_000 + "!"),
    ("(a|a)*$", "a" * 100_000 + "!"),
    ("(.*a){12}$", "a" * 100_000 + "!"),
    ("\\d+\\d+\\d+$", "1" * 100_000 + "x"),
    ("(a+)+$", "a" * 100_000 + "!"),
    ("(x\\d*)+y", "x1" * 50_000),
    ("(?:a+)+b", "a" * 100_000),
]


@pytest.mark.parametrize(("pattern", "text"), HOSTILE, ids=[p for p, _ in HOSTILE])
def test_backtracking_shapes_run_in_linear_time_on_re2(pattern: str, text: str) -> None:
    compiled = compile_java_regex(pattern)
    assert type(compiled).__module__.startswith("re2")
    for _ in range(3):
        compiled.search(text)


@pytest.mark.parametrize(
    ("pattern", "word"),
    [
        ("/red/(?<segment>[a-z]+)/\\k<segment>", "backreference"),
        ("(a)\\1", "backreference"),
        ("(?=a)b", "lookahead"),
        ("(?!a)b", "negative lookahead"),
        ("(?<=a)b", "lookbehind"),
        ("(?<!a)b", "negative lookbehind"),
        ("(?>a+)b", "atomic group"),
        ("a*+b", "possessive"),
        ("a{2,}+", "possessive"),
        ("abc\\Z", "\\z"),
    ],
)
def test_what_re2_cannot_run_is_refused_with_a_reason(pattern: str, word: str) -> None:
    with pytest.raises(RegexProblem) as caught:
        compile_java_regex(pattern)
    assert word in str(caught.value)


@pytest.mark.parametrize("pattern", ["(a+)?", "(ab)+", "(a{1,3})+", "(?:a|b)*c", "[a+]+"])
def test_bounded_or_flat_repetition_is_allowed(pattern: str) -> None:
    compile_java_regex(pattern)


def test_overlong_regex_is_refused_before_compiling() -> None:
    with pytest.raises(RegexProblem, match="at most 1000"):
        compile_java_regex("a" * (MAX_REGEX_CHARS + 1))
    compile_java_regex("a" * MAX_REGEX_CHARS)


@pytest.mark.parametrize(
    ("pattern", "word"),
    [
        ("[a-", "character class"),
        ("(ab", "missing ')'"),
        ("a{x}", "repetition"),
        ("[a&&[b]]", "intersection"),
        ("\\p{L}", "Unicode property"),
        ("(?P<x>a)", "(?<name>"),
        ("*a", "nothing to repeat"),
    ],
)
def test_invalid_or_java_only_regex_syntax_is_explained(pattern: str, word: str) -> None:
    with pytest.raises(RegexProblem) as caught:
        compile_java_regex(pattern)
    assert word in str(caught.value)


def test_regex_argument_keeps_the_pattern_text() -> None:
    assert to_java_regex("(?<n>\\d+)") == "(?<n>\\d+)"
    with pytest.raises(InvalidValue, match="lookbehind"):
        to_java_regex("(?<=a)b")


def test_names_values_classes_and_bean_references() -> None:
    assert to_token("X-Request-Id") == "X-Request-Id"
    assert to_header_value("a\tb") == "a\tb"
    assert to_java_class_name("java.io.IOException") == "java.io.IOException"
    assert to_spel_bean_reference(" #{@userKeyResolver} ") == "#{@userKeyResolver}"
    for call, bad in (
        (to_token, "X Y"),
        (to_header_value, "a\nb"),
        (to_header_value, "  "),
        (to_java_class_name, "IOException"),
        (to_spel_bean_reference, "#{1+1}"),
    ):
        with pytest.raises(InvalidValue):
            call(bad)
