"""Path and Host patterns compiled for matching, and URI templates for expansion.

Path patterns follow Spring's ``PathPattern`` (docs: spring-cloud-gateway.md §4.1): matched
segment by segment against the request path split on ``/``, each segment percent-decoded with
its ``;matrix`` parameters removed; ``*`` and ``?`` inside a segment, ``{v}`` one segment,
``{v:regex}``, and ``**`` or ``{*v}`` at the end. Host patterns are Ant patterns with ``.`` as
the separator (§4.3). Patterns arrive validated (``scg.patterns``); user regexes run on RE2
(``scg.javaregex``); the gateway's own glob regexes use ``re`` where they cannot backtrack
badly (at most one wildcard per segment) and RE2 otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tigateway_channels.scg.javaregex import compile_java_regex

Variables = dict[str, str]
# Characters a path keeps unencoded when a template variable is expanded into it (RFC 3986
# pchar plus '/', which SetPath keeps as a separator).
PATH_SAFE = "/:@!$&'()*+,;=-._~"


class TemplateError(LookupError):
    """A template names a variable no predicate produced (SCG answers 500)."""


def _java_literal(text: str) -> str:
    if "\\E" in text:
        return "".join("\\" + ch if ch.isascii() and not ch.isalnum() else ch for ch in text)
    return f"\\Q{text}\\E" if text else ""


def _split_captures(text: str) -> list[tuple[str, str, str | None]]:
    """A segment or label as parts: ("lit", text, None), ("star"/"one", "", None) or
    ("var", name, regex-or-None). Braces inside a capture's regex are balanced."""
    parts: list[tuple[str, str, str | None]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            if literal:
                parts.append(("lit", "".join(literal), None))
                literal = []
            depth, j = 0, i + 1
            while j < len(text):
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    if depth == 0:
                        break
                    depth -= 1
                j += 1
            body = text[i + 1 : j]
            name, _, regex = body.partition(":")
            parts.append(("var", name, regex or None))
            i = j + 1
            continue
        if ch in "*?":
            if literal:
                parts.append(("lit", "".join(literal), None))
                literal = []
            parts.append(("star" if ch == "*" else "one", "", None))
        else:
            literal.append(ch)
        i += 1
    if literal:
        parts.append(("lit", "".join(literal), None))
    return parts


@dataclass(frozen=True, slots=True)
class _Glob:
    """A compiled segment (or host) regex and which group holds which variable."""

    regex: Any
    names: tuple[tuple[int, str], ...]

    def match(self, text: str, variables: Variables) -> bool:
        found = self.regex.fullmatch(text)
        if found is None:
            return False
        for group, name in self.names:
            variables[name] = found.group(group) or ""
        return True


def _compile_glob(parts: list[tuple[str, str, str | None]], any_char: str) -> _Glob:
    """Parts to one regex; ``any_char`` is what a wildcard may consume (one segment/label)."""
    java: list[str] = []
    python: list[str] = []
    names: list[tuple[int, str]] = []
    group = 0
    user_regex = False
    wildcards = 0
    for kind, text, regex in parts:
        if kind == "lit":
            java.append(_java_literal(text))
            python.append(re.escape(text))
        elif kind == "star":
            java.append(f"{any_char}*")
            python.append(f"{any_char}*")
            wildcards += 1
        elif kind == "one":
            java.append(any_char)
            python.append(any_char)
        elif kind == "raw":
            java.append(text)
            python.append(text)
        else:
            group += 1
            names.append((group, text))
            if regex is None:
                java.append(f"({any_char}*)")
                python.append(f"({any_char}*)")
                wildcards += 1
            else:
                user_regex = True
                java.append(f"({regex})")
                group += compile_java_regex(regex).groups
    if user_regex or wildcards > 1:
        return _Glob(compile_java_regex("".join(java)), tuple(names))
    return _Glob(re.compile("".join(python), re.DOTALL), tuple(names))


# -- Path ----------------------------------------------------------------------------------

Segment = Callable[[str, Variables, bool], bool]  # (segment, variables, is_last) -> matched


def _literal_segment(text: str) -> Segment:
    def match(segment: str, variables: Variables, last: bool) -> bool:
        return segment == text

    return match


def _capture_segment(name: str) -> Segment:
    def match(segment: str, variables: Variables, last: bool) -> bool:
        if not segment:
            return False
        variables[name] = segment
        return True

    return match


def _wildcard_segment(segment: str, variables: Variables, last: bool) -> bool:
    # Spring: '*' as a whole segment needs a character, except as the pattern's last element.
    return bool(segment) or last


def _glob_segment(glob: _Glob) -> Segment:
    def match(segment: str, variables: Variables, last: bool) -> bool:
        return glob.match(segment, variables)

    return match


class PathPattern:
    """One compiled Path pattern. ``prefix`` is its leading literal segments (the index key)."""

    __slots__ = ("prefix", "rest_name", "segments", "source", "tail")

    def __init__(self, source: str) -> None:
        self.source = source
        texts = source[1:].split("/")
        self.tail: str | None = None  # None, "**" or "rest"
        self.rest_name = ""
        if texts and texts[-1] == "**":
            self.tail = "**"
            texts.pop()
        elif texts and texts[-1].startswith("{*"):
            self.tail = "rest"
            self.rest_name = texts.pop()[2:-1]
        self.segments: tuple[Segment, ...] = tuple(self._segment(text) for text in texts)
        prefix: list[str] = []
        for text in texts:
            if any(ch in text for ch in "*?{"):
                break
            prefix.append(text)
        self.prefix = tuple(prefix)

    @staticmethod
    def _segment(text: str) -> Segment:
        if not any(ch in text for ch in "*?{"):
            return _literal_segment(text)
        if text == "*":
            return _wildcard_segment
        parts = _split_captures(text)
        if len(parts) == 1 and parts[0][0] == "var" and parts[0][2] is None:
            return _capture_segment(parts[0][1])
        return _glob_segment(_compile_glob(parts, "."))

    def match(self, segments: list[str], variables: Variables, match_trailing_slash: bool) -> bool:
        """Match decoded path segments (``/a/b/`` is ``["a", "b", ""]``), filling variables."""
        if self._match(segments, variables):
            return True
        if (
            match_trailing_slash
            and self.tail is None
            and len(segments) > 1
            and segments[-1] == ""
            and len(self.segments) == len(segments) - 1
        ):
            return self._match(segments[:-1], variables)
        return False

    def _match(self, segments: list[str], variables: Variables) -> bool:
        mine = self.segments
        count = len(mine)
        # '/api/**' and '/api/{*rest}' also match '/api' itself, '/**' matches '/'.
        if len(segments) != count and (self.tail is None or len(segments) < count):
            return False
        found: Variables = {}
        closed = self.tail is None
        for index in range(count):
            if not mine[index](segments[index], found, closed and index == count - 1):
                return False
        if self.tail == "rest":
            found[self.rest_name] = "".join("/" + part for part in segments[count:])
        variables.update(found)
        return True


def split_path(raw_path: str) -> list[str]:
    """Decoded segments of a raw path for matching: ``/a%20b/c;v=1/`` is ``["a b", "c", ""]``."""
    segments = raw_path[1:].split("/") if raw_path.startswith("/") else raw_path.split("/")
    if "%" in raw_path or ";" in raw_path:
        from urllib.parse import unquote

        segments = [unquote(s.split(";", 1)[0] if ";" in s else s) for s in segments]
    return segments


# -- Host ----------------------------------------------------------------------------------


class HostPattern:
    """One compiled Host pattern; ``literal`` is set when it has no wildcard or variable."""

    __slots__ = ("glob", "literal", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.literal: str | None = None if any(ch in source for ch in "*?{") else source
        self.glob: _Glob | None = None
        if self.literal is None:
            self.glob = _compile_glob(_host_parts(source), "[^.]")

    def match(self, host: str, variables: Variables) -> bool:
        if self.literal is not None:
            return host == self.literal
        assert self.glob is not None
        found: Variables = {}
        if not self.glob.match(host, found):
            return False
        variables.update(found)
        return True


def _host_parts(source: str) -> list[tuple[str, str, str | None]]:
    """An Ant host pattern as glob parts; ``**`` spans zero or more whole labels."""
    labels = _split_labels(source)
    parts: list[tuple[str, str, str | None]] = []
    last = len(labels) - 1
    for index, label in enumerate(labels):
        if label == "**":
            if index == last:
                # 'a.**' matches 'a' and 'a.b.c'; '**' alone matches anything.
                parts.append(("raw", r"(?:\..*)?" if index else ".*", None))
            else:
                if index and labels[index - 1] != "**":
                    parts.append(("lit", ".", None))
                parts.append(("raw", r"(?:[^.]*\.)*", None))
            continue
        if index and labels[index - 1] != "**":
            parts.append(("lit", ".", None))
        parts.extend(_split_captures(label))
    return parts


def _split_labels(source: str) -> list[str]:
    """Split on '.' outside of ``{...}`` captures."""
    labels: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in source:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "." and depth == 0:
            labels.append("".join(current))
            current = []
        else:
            current.append(ch)
    labels.append("".join(current))
    return labels


# -- Templates ------------------------------------------------------------------------------


class Template:
    """A URI template (``/v2/{segment}``) expanded with the request's variables."""

    __slots__ = ("parts", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: tuple[tuple[bool, str], ...] = tuple(
            (kind == "var", text) for kind, text, _ in _template_parts(source)
        )

    @property
    def is_literal(self) -> bool:
        return not any(is_var for is_var, _ in self.parts)

    def expand(self, variables: Mapping[str, str], encode_path: bool) -> str:
        out = []
        for is_var, text in self.parts:
            if not is_var:
                out.append(text)
                continue
            if text not in variables:
                raise TemplateError(f"Map has no value for '{text}'")
            value = variables[text]
            out.append(quote(value, safe=PATH_SAFE) if encode_path else value)
        return "".join(out)


def _template_parts(source: str) -> list[tuple[str, str, str | None]]:
    parts: list[tuple[str, str, str | None]] = []
    i, literal = 0, []
    while i < len(source):
        if source[i] == "{":
            depth, j = 0, i + 1
            while j < len(source):
                if source[j] == "{":
                    depth += 1
                elif source[j] == "}":
                    if depth == 0:
                        break
                    depth -= 1
                j += 1
            if j >= len(
                source
            ):  # unbalanced: literal (header values are not validated as templates)
                literal.append(source[i:])
                break
            if literal:
                parts.append(("lit", "".join(literal), None))
                literal = []
            parts.append(("var", source[i + 1 : j].split(":", 1)[0].strip(), None))
            i = j + 1
            continue
        literal.append(source[i])
        i += 1
    if literal:
        parts.append(("lit", "".join(literal), None))
    return parts
