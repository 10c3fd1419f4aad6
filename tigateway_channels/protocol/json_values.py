"""JSON values as Python's parsers give them.

In Python ``True`` is an ``int``; in JSON ``true`` is not a number. Every check of a number
from a client, a document or a setting asks these, so ``true`` is never taken for ``1``.
``json_issues`` is the one check that a value from a client can be stored and sent back.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tigateway_channels.protocol.errors import field_issue
from tigateway_channels.protocol.text import text_problem

if TYPE_CHECKING:
    from typing_extensions import TypeIs


def is_integer(value: Any) -> TypeIs[int]:
    """A JSON integer: an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeIs[int | float]:
    """A JSON number: an ``int`` or a ``float`` that is not a ``bool``."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    """A JSON string, number, boolean or null, which an error can show back as it is."""
    return value is None or isinstance(value, str | int | float | bool)


# How deep a stored value (route metadata, a config document) may nest. The envelope that
# carries it adds a few levels; the encoder stops at 254.
MAX_JSON_DEPTH = 32
# Problems reported per value; the first ones say what to fix.
MAX_JSON_ISSUES = 20
_INT64 = (-(2**63), 2**63 - 1)


def json_issues(value: Any, field: str) -> list[dict[str, Any]]:
    """What keeps a client's JSON value from being stored and sent back as it is, each
    problem at its path (``metadata.labels[2]``): NUL or a lone surrogate in a string or a
    key (``protocol.text.text_problem``), an integer beyond 64 bits, a number that is not
    finite, nesting deeper than ``MAX_JSON_DEPTH``, or, from Python callers, a key that is not
    a string or a value that is not JSON. ``field`` is the value's own path ("" for a
    document, whose paths start at its keys)."""
    issues: list[dict[str, Any]] = []
    _check(value, field, 0, issues)
    return issues


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check(value: Any, path: str, depth: int, issues: list[dict[str, Any]]) -> None:
    if len(issues) >= MAX_JSON_ISSUES or value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            issues.append(field_issue(path, value, problem))
    elif isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            reason = "integers must fit in 64 bits (-2^63 to 2^63-1)"
            issues.append(field_issue(path, value, reason))
    elif isinstance(value, float):
        if not math.isfinite(value):
            issues.append(field_issue(path, value, "numbers must be finite"))
    elif isinstance(value, dict | list | tuple):
        if depth >= MAX_JSON_DEPTH:
            reason = f"nested more than {MAX_JSON_DEPTH} levels deep"
            issues.append(field_issue(path, None, reason))
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    issues.append(field_issue(path, key, "object keys must be strings"))
                    continue
                problem = text_problem(key)
                if problem is not None:
                    issues.append(field_issue(_child(path, key), key, f"a key {problem}"))
                    continue
                _check(item, _child(path, key), depth + 1, issues)
        else:
            for index, item in enumerate(value):
                _check(item, f"{path}[{index}]", depth + 1, issues)
    else:
        issues.append(field_issue(path, value, "not a JSON value"))
