r"""Java regular expressions, run on RE2: every user pattern matches in linear time.

Routes carry regexes written by users (Header, Query, Cookie, Path and Host variables,
RewritePath). A backtracking engine (Java's, Python's ``re``) can take exponential or high
polynomial time on an input that almost matches (``(a|aa)+$``, ``(.*a){12}$``,
``\d+\d+\d+$``), and no list of refused shapes catches them all. So, as Envoy does for its
``safe_regex``, the gateway compiles every user regex with RE2, whose matching time is linear
in the input whatever the pattern. What RE2 cannot run in linear time (backreferences,
lookaround, atomic groups, possessive quantifiers, Java's ``\Z``) is refused at validation with
a reason, so a route that validates is a route the gateway can serve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import re2

MAX_REGEX_CHARS = 1000
# RE2 refuses programs larger than this (bytes) instead of growing without bound.
RE2_MAX_MEMORY = 8 << 20

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a user's bad pattern is answered, not logged to stderr
_RE2_OPTIONS.max_mem = RE2_MAX_MEMORY
_NOT_LINEAR = {
    "(?=": "a lookahead '(?='",
    "(?!": "a negative lookahead '(?!'",
    "(?<=": "a lookbehind '(?<='",
    "(?<!": "a negative lookbehind '(?<!'",
    "(?>": "an atomic group '(?>'",
}
_LINEAR_ONLY = (
    "; the gateway runs user regexes on RE2, which matches in linear time and so has no "
    "backtracking constructs"
)

_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z][A-Za-z0-9]*)>")
_BACKREF_NAME = re.compile(r"\\k<([A-Za-z][A-Za-z0-9]*)>")
_GROUP_OPEN = re.compile(r"\((?:\?(?:[:=!>]|<[=!]|[A-Za-z-]+:?)?)?")
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")


class RegexProblem(ValueError):
    """Why a pattern was refused, worded to follow the argument name in a reason."""


@dataclass
class _Group:
    start: int


def translate_java_regex(pattern: str) -> str:
    """Java syntax to RE2 syntax, raising RegexProblem for what Java rejects or RE2 cannot run."""
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
        if ch == "\\":
            atom_end, text = _escape(pattern, i)
            out.append(text)
        elif ch == "[":
            atom_end, text = _char_class(pattern, i)
            out.append(text)
        elif ch == "(":
            for opener, what in _NOT_LINEAR.items():
                if pattern.startswith(opener, i):
                    raise RegexProblem(f"uses {what} at {i}{_LINEAR_ONLY}")
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
            stack.pop()
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
        i = _quantifier(pattern, atom_end, out)
    if len(stack) > 1:
        raise RegexProblem(
            f"is not a valid regular expression: missing ')' for the group at {stack[-1].start}"
        )
    return "".join(out)


def _escape(pattern: str, i: int) -> tuple[int, str]:
    """One escape sequence; ``\\Q...\\E`` quoting becomes escaped literals."""
    if i + 1 >= len(pattern):
        raise RegexProblem("is not a valid regular expression: it ends with a lone '\\'")
    nxt = pattern[i + 1]
    if nxt == "Q":
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        return (len(pattern) if end < 0 else end + 2), re.escape(literal)
    if nxt == "k" or nxt in "123456789":
        raise RegexProblem(f"uses a backreference '\\{nxt}' at {i}{_LINEAR_ONLY}")
    if nxt == "Z":
        raise RegexProblem(
            f"uses '\\Z' at {i}, which RE2 does not have; write '\\z' (end of input) or '$'"
        )
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
        return end + 1, f"\\x{{{digits}}}"
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


def _quantifier(pattern: str, i: int, out: list[str]) -> int:
    """Copy a quantifier after an atom, if any; refuse the possessive form RE2 lacks."""
    if i >= len(pattern):
        return i
    ch = pattern[i]
    if ch in "*+?":
        end = i + 1
    elif ch == "{":
        found = _QUANTIFIER.match(pattern, i)
        if not found:
            raise RegexProblem(
                f"is not a valid regular expression: illegal repetition at {i}; "
                "write a literal brace as '\\{'"
            )
        end = found.end()
    else:
        return i
    if end < len(pattern) and pattern[end] == "+":
        raise RegexProblem(f"uses a possessive quantifier at {i}{_LINEAR_ONLY}")
    if end < len(pattern) and pattern[end] == "?":
        end += 1
    if end < len(pattern) and pattern[end] in "*+?{":
        raise RegexProblem(f"is not a valid regular expression: nothing to repeat at {end}")
    out.append(pattern[i:end])
    return end


def compile_java_regex(pattern: str) -> Any:
    """Compile a Java regex with RE2, so the gateway matches exactly what was validated, in
    time linear in the input. The result has ``re``'s interface (search, fullmatch, sub,
    groups, groupindex)."""
    translated = translate_java_regex(pattern)
    try:
        return re2.compile(translated, _RE2_OPTIONS)
    except re2.error as exc:
        raise RegexProblem(f"is not a valid regular expression: {_re2_reason(exc)}") from None


def _re2_reason(exc: Exception) -> str:
    """RE2's reason without the pattern it echoes ('missing ): (ab' -> 'missing )')."""
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text.split(": ", 1)[0]
