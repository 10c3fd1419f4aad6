"""Client text that cannot go where it is headed as it is.

- Into a log line: a ``\\n`` in a client id would forge a line of its own, a lone surrogate
  breaks a UTF-8 log stream. ``loggable`` escapes them; it is the one helper for every
  client-supplied value the package logs.
- Into the database: PostgreSQL refuses NUL in ``text`` and ``jsonb`` ("A string literal
  cannot contain NUL (0x00) characters"), and a lone surrogate is not UTF-8 at all.
  ``text_problem`` names either, so the field's validation error says so before a query
  fails.
"""

from __future__ import annotations

import re

from tigateway_channels.protocol.errors import shown_value

LOGGED_CHARS = 200

# C0 and C1 controls, DEL, the line and paragraph separators, bidirectional overrides (which
# reorder what a reader sees) and lone surrogates.
_UNLOGGABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def loggable(value: object, limit: int = LOGGED_CHARS) -> str:
    """``value`` as one line of printable text for a log: control characters escaped
    (``\\n`` -> ``\\x0a``), at most ``limit`` characters (then ``...``). Anything but a
    string is shown as the ``repr`` of its bounded copy (a client's object may be deep)."""
    text = value if isinstance(value, str) else repr(shown_value(value))
    if len(text) > limit:
        text = text[:limit] + "..."
    return _UNLOGGABLE.sub(_escaped, text)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a reason that follows a field's name), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL characters (\\u0000), which PostgreSQL cannot store"
    return "must be valid Unicode: a lone surrogate (\\ud800-\\udfff) is not UTF-8"
