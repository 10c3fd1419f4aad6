"""Client text on its way into a log line or the database."""

from __future__ import annotations

from tigateway_channels.protocol.text import LOGGED_CHARS, loggable, text_problem


def test_a_value_with_a_newline_logs_as_one_line() -> None:
    assert loggable("web-1\n[ERROR] forged line") == "web-1\\x0a[ERROR] forged line"


def test_every_character_that_breaks_or_reorders_a_line_is_escaped() -> None:
    text = "\x00\r\t\x1b[31m\x7f\x85\u2028\u2029\u202e\ud800"
    assert loggable(text) == ("\\x00\\x0d\\x09\\x1b[31m\\x7f\\x85\\u2028\\u2029\\u202e\\ud800")
    assert loggable("café ☕ 東京") == "café ☕ 東京"


def test_a_logged_value_is_cut_and_objects_are_shown_bounded() -> None:
    assert loggable("x" * 5000) == "x" * LOGGED_CHARS + "..."
    deep: object = "bottom"
    for _ in range(2000):
        deep = [deep]
    assert loggable({"a\n": deep}) == "{'a\\n': [['...']]}"


def test_nul_and_lone_surrogates_cannot_be_stored() -> None:
    assert text_problem("fine: café, 東京, \n\t") is None
    assert "NUL" in (text_problem("a\x00b") or "")
    assert "surrogate" in (text_problem("a\udc80") or "")
