"""Java regular expressions as Python ``re`` patterns, refusing the ones that can hang a worker."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REGEX_CHARS = 1000

_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z][A-Za-z0-9]*)>")
_BACKREF_NAME = re.compile(r"\\k<([A-Za-z][A-Za-z0-9]*)>")
_GROUP_OPEN = re.compile(r"\((?:\?(?:[:=!>]|<[=!]|[A-Za-z-]+:?)?)?")
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")


class RegexProblem(ValueError):
    """Why a pattern was refused, worded to follow the argument name in a reason."""


@dataclass
class _Group:
    """What the scan knows about one open group: does anything inside it repeat without bound."""

    start: int
    unbounded: bool = False


def translate_java_regex(pattern: str) -> str:
    """Java syntax to Python syntax, raising RegexProblem for what Java rejects or cannot hang."""
    if len(pattern) > MAX_REGEX_CHARS:
        raise RegexProblem(
            f"is a regular expression of {len(pattern)} characters; at most "
            f"{MAX_REGEX_CHARS} are allowed"
        )
    out: list[str] = []
    stack = [_Group(start=0)]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        atom_end = i + 1
        closed: _Group | None = None
        if ch == "\\":
            atom_end, text = _escape(pattern, i)
            out.append(text)
        elif ch == "[":
            atom_end, text = _char_class(pattern, i)
            out.append(text)
        elif ch == "(":
            named = _NAMED_GROUP.match(pattern, i)
            if named:
                out.append(f"(?P<{named.group(1)}>")
                atom_end = named.end()
            elif pattern.startswith("(?P", i):
                raise RegexProblem(
                    f"uses the Python-only group syntax '(?P' at {i}; "
                    "write a named group as (?<name>...)"
                )
            else:
                opening = _GROUP_OPEN.match(pattern, i)
                atom_end = opening.end() if opening else i + 1
                out.append(pattern[i:atom_end])
            stack.append(_Group(start=i))
            i = atom_end
            continue
        elif ch == ")":
            if len(stack) == 1:
                raise RegexProblem(f"is not a valid regular expression: unbalanced ')' at {i}")
            closed = stack.pop()
            out.append(")")
        elif ch in "*+?":
            raise RegexProblem(f"is not a valid regular expression: nothing to repeat at {i}")
        elif ch == "{":
            raise RegexProblem(
                f"is not a valid regular expression: illegal repetition '{{' at {i}; "
                "write a literal brace as '\\{'"
            )
        else:
            out.append(ch)
        i, unbounded = _quantifier(pattern, atom_end, out)
        if closed is not None:
            if unbounded and closed.unbounded:
                raise RegexProblem(
                    "repeats a group that itself contains an unbounded quantifier "
                    "(like '(a+)+', '(a*)*' or '(.*a)*'); such patterns take exponential time "
                    "on inputs that almost match (catastrophic backtracking), so rewrite it "
                    "without the nested repetition"
                )
            stack[-1].unbounded = stack[-1].unbounded or closed.unbounded or unbounded
        elif unbounded:
            stack[-1].unbounded = True
    if len(stack) > 1:
        raise RegexProblem(
            f"is not a valid regular expression: missing ')' for the group at {stack[-1].start}"
        )
    return "".join(out)


def _escape(pattern: str, i: int) -> tuple[int, str]:
    """One escape sequence; ``\\Q...\\E`` quoting, ``\\k<name>`` and ``\\z`` have no Python twin."""
    if i + 1 >= len(pattern):
        raise RegexProblem("is not a valid regular expression: it ends with a lone '\\'")
    nxt = pattern[i + 1]
    if nxt == "Q":
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        return (len(pattern) if end < 0 else end + 2), re.escape(literal)
    if nxt == "k":
        ref = _BACKREF_NAME.match(pattern, i)
        if ref:
            return ref.end(), f"(?P={ref.group(1)})"
    if nxt == "z":
        return i + 2, "\\Z"
    if nxt in "pP":
        raise RegexProblem(
            f"uses the Unicode property class '\\{nxt}' at {i}, which the gateway's regex "
            "engine does not support; use an explicit class such as [A-Za-z]"
        )
    if nxt == "x" and pattern.startswith("{", i + 2):
        end = pattern.find("}", i + 3)
        digits = pattern[i + 3 : end] if end > 0 else ""
        if not digits or len(digits) > 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise RegexProblem(f"is not a valid regular expression: bad '\\x{{...}}' at {i}")
        return end + 1, f"\\U{int(digits, 16):08x}"
    return i + 2, pattern[i : i + 2]


def _char_class(pattern: str, i: int) -> tuple[int, str]:
    """One ``[...]`` class, copied verbatim except where Python would read set operations."""
    out = ["["]
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        out.append("^")
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        out.append("\\]")
        j += 1
    while j < len(pattern):
        ch = pattern[j]
        if ch == "\\":
            if j + 1 >= len(pattern):
                break
            out.append(pattern[j : j + 2])
            j += 2
            continue
        if ch == "]":
            out.append("]")
            return j + 1, "".join(out)
        if ch == "[":
            raise RegexProblem(
                f"uses a nested character class at {j}, Java-only syntax; "
                "write a single class or escape '[' as '\\['"
            )
        if ch == "&" and pattern.startswith("&&", j):
            raise RegexProblem(f"uses a character class intersection '&&' at {j}, Java-only syntax")
        if ch in "|~" or (ch == "-" and pattern[j - 1] == "-"):
            out.append("\\" + ch)
        else:
            out.append(ch)
        j += 1
    raise RegexProblem(f"is not a valid regular expression: unclosed character class at {i}")


def _quantifier(pattern: str, i: int, out: list[str]) -> tuple[int, bool]:
    """Copy a quantifier after an atom, if any, and say whether it is unbounded."""
    if i >= len(pattern):
        return i, False
    ch = pattern[i]
    if ch in "*+?":
        end, unbounded = i + 1, ch != "?"
    elif ch == "{":
        found = _QUANTIFIER.match(pattern, i)
        if not found:
            raise RegexProblem(
                f"is not a valid regular expression: illegal repetition at {i}; "
                "write a literal brace as '\\{'"
            )
        end, unbounded = found.end(), bool(found.group(2)) and not found.group(3)
    else:
        return i, False
    if end < len(pattern) and pattern[end] in "?+":
        end += 1
    if end < len(pattern) and pattern[end] in "*+?{":
        raise RegexProblem(f"is not a valid regular expression: nothing to repeat at {end}")
    out.append(pattern[i:end])
    return end, unbounded


def compile_java_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Java regex for Python, so a gateway matches exactly what was validated."""
    translated = translate_java_regex(pattern)
    try:
        return re.compile(translated)
    except (re.error, OverflowError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, re.error) else type(exc).__name__
        raise RegexProblem(f"is not a valid regular expression: {detail}") from None
