"""Syntax of Path patterns (Spring ``PathPattern``), Host patterns (Ant, '.'-separated) and
path templates (SetPath, PrefixPath), checked the way Spring parses them at route build."""

from __future__ import annotations

import re
from typing import Any

from tigateway_channels.scg.javaregex import RegexProblem, compile_java_regex
from tigateway_channels.scg.scalars import InvalidValue, to_text
from tigateway_channels.scg.shortcut import SPLIT_HINT

_JOINED_PATHS = re.compile(r",\s*/")
_HOST_CHARS = re.compile(r"[A-Za-z0-9.\-_*?:\[\]]*")


def _is_name_start(ch: str) -> bool:
    return ch.isidentifier() or ch == "$"


def _is_name_part(ch: str) -> bool:
    return ("a" + ch).isidentifier() or ch in "$-"


def _refuse_blanks(text: str, what: str) -> None:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise InvalidValue(
            f"must not contain spaces or control characters (the {what} is matched raw; "
            "write a space as %20)"
        )


def _capture(
    text: str, start: int, *, rest_allowed: bool, regex_dot_ok: bool
) -> tuple[int, str, bool]:
    """Read ``{name}``, ``{name:regex}`` or ``{*name}`` at ``start``; return end, name, is-rest."""
    i = start + 1
    rest = text.startswith("*", i)
    if rest:
        if not rest_allowed:
            raise InvalidValue(f"uses '{{*...}}' at {start}, which only Path patterns support")
        i += 1
    name_start = i
    while i < len(text) and text[i] not in ":}":
        if text[i] in "{/":
            raise InvalidValue(f"has an unclosed '{{' at {start}", hint=SPLIT_HINT)
        i += 1
    name = text[name_start:i]
    if not name or not _is_name_start(name[0]) or not all(map(_is_name_part, name[1:])):
        raise InvalidValue(
            f"has an invalid variable name {name!r} at {start}; use letters, digits, '_' or '-'"
        )
    if i >= len(text):
        raise InvalidValue(f"has an unclosed '{{' at {start}", hint=SPLIT_HINT)
    if text[i] == "}":
        return i + 1, name, rest
    if rest:
        raise InvalidValue(f"puts a regex on '{{*{name}}}', which captures the rest as is")
    end = _regex_end(text, i + 1, start)
    regex = text[i + 1 : end]
    if not regex:
        raise InvalidValue(f"has an empty regex in '{{{name}:}}'")
    if not regex_dot_ok and "." in regex:
        raise InvalidValue(
            f"has '.' in the regex of '{{{name}:...}}'; host patterns are split on '.' before "
            "matching, so the regex would be cut in two"
        )
    try:
        compile_java_regex(regex)
    except RegexProblem as exc:
        raise InvalidValue(f"has a regex in '{{{name}:...}}' that {exc}") from None
    return end + 1, name, rest


def _regex_end(text: str, i: int, start: int) -> int:
    """Where a capture's regex ends: Spring counts nested braces and honours backslashes."""
    depth = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "/":
            raise InvalidValue(
                f"has an unclosed '{{' at {start} (a regex may not contain '/')", hint=SPLIT_HINT
            )
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise InvalidValue(f"has an unclosed '{{' at {start}", hint=SPLIT_HINT)


def check_path_pattern(value: Any) -> str:
    """A Spring ``PathPattern``: '/'-rooted, balanced captures, ``**``/``{*v}`` only at the end."""
    text = to_text(value)
    if not text.startswith("/"):
        raise InvalidValue("must start with '/'")
    if _JOINED_PATHS.search(text):
        raise InvalidValue("looks like several patterns joined by ','; give a list instead")
    _refuse_blanks(text, "request path")
    names: set[str] = set()
    segment_start = 0
    tail_at: int | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if tail_at is not None:
            raise InvalidValue(
                f"continues after the '**' or '{{*...}}' at {tail_at}; they must come last"
            )
        if ch == "/":
            segment_start = i + 1
        elif ch == "{":
            end, name, rest = _capture(text, i, rest_allowed=True, regex_dot_ok=True)
            if name in names:
                raise InvalidValue(f"captures the variable {name!r} twice")
            names.add(name)
            if rest:
                if i != segment_start or end != len(text):
                    raise InvalidValue(f"must have '{{*{name}}}' as a whole last segment")
                tail_at = i
            i = end
            continue
        elif ch == "}":
            raise InvalidValue(f"has a '}}' without '{{' at {i}")
        elif text.startswith("**", i):
            segment_end = text.find("/", i)
            segment_end = len(text) if segment_end < 0 else segment_end
            if text[segment_start:segment_end] != "**":
                raise InvalidValue("must have '**' as a whole segment, like /api/**")
            tail_at = i
            i = segment_end
            continue
        i += 1
    return text


def check_host_pattern(value: Any) -> str:
    """An Ant-style host pattern, labels split on '.': ``*``, ``**``, ``?``, ``{v}``, ``{v:re}``."""
    text = to_text(value)
    if "," in text:
        raise InvalidValue("contains ','; give each host pattern as its own list element")
    if not text:
        raise InvalidValue("must not be empty")
    _refuse_blanks(text, "Host header")
    i = 0
    literal_start = 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            _check_host_chars(text[literal_start:i])
            i, _, _ = _capture(text, i, rest_allowed=False, regex_dot_ok=False)
            literal_start = i
            continue
        if ch == "}":
            raise InvalidValue(f"has a '}}' without '{{' at {i}")
        i += 1
    _check_host_chars(text[literal_start:])
    return text


def _check_host_chars(literal: str) -> None:
    if not _HOST_CHARS.fullmatch(literal):
        bad = next(ch for ch in literal if not _HOST_CHARS.fullmatch(ch))
        raise InvalidValue(f"contains {bad!r}, which cannot appear in a host name")


def check_path_template(value: Any) -> str:
    """A SetPath/PrefixPath URI template: a path or ``{var}``-start, balanced braces, raw chars."""
    text = to_text(value)
    if not text.startswith(("/", "{")):
        raise InvalidValue("must start with '/' or with a '{variable}' that holds one")
    _refuse_blanks(text, "path")
    depth = 0
    opened = 0
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                opened = i
            depth += 1
        elif ch == "}":
            if depth == 0:
                raise InvalidValue(f"has a '}}' without '{{' at {i}")
            depth -= 1
            name = text[opened + 1 : i].split(":", 1)[0]
            if depth == 0 and not name:
                raise InvalidValue(f"has an empty variable '{{}}' at {opened}")
    if depth:
        raise InvalidValue(f"has an unclosed '{{' at {opened}", hint=SPLIT_HINT)
    return text


def check_path_prefix(value: Any) -> str:
    """A PrefixPath prefix; a trailing '/' would make every rewritten path start with '//'."""
    text = check_path_template(value)
    if text.endswith("/"):
        raise InvalidValue("must not end with '/', as the request path already starts with one")
    return text
