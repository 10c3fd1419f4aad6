"""The results of parsing: a normalised definition, or every problem found on the way."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tigateway_channels.protocol.errors import field_issue

MAX_SHOWN_CHARS = 200
_MAX_SHOWN_ITEMS = 20
_MAX_SHOWN_DEPTH = 3
_JSON_INT_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Definition:
    """One predicate or filter, normalised and typed, so consumers never re-parse the source."""

    name: str
    args: dict[str, Any]
    source: str | dict[str, Any]


@dataclass(frozen=True)
class SpecIssue:
    """One problem, pointing at the item or argument a person has to change."""

    field: str
    value: Any
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The ``details`` shape of an error reply, ready for JSON."""
        return field_issue(self.field, self.value, self.reason)


class SpecValidationError(ValueError):
    """Raised with every problem of the input at once, so a form can show them all."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = list(issues)
        super().__init__(self._summary())

    def _summary(self) -> str:
        if len(self.issues) == 1:
            issue = self.issues[0]
            return f"{issue.field}: {issue.reason}"
        lines = [f"{len(self.issues)} problems:"]
        lines += [f"  {issue.field}: {issue.reason}" for issue in self.issues]
        return "\n".join(lines)


def json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON-serialisable, bounded copy of an input value, so issues can always be sent back."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if _JSON_INT_RANGE[0] <= value <= _JSON_INT_RANGE[1]:
            return value
        return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        if len(value) > MAX_SHOWN_CHARS:
            return value[:MAX_SHOWN_CHARS] + "..."
        return value
    if depth >= _MAX_SHOWN_DEPTH:
        return "..."
    if isinstance(value, dict):
        shown = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= _MAX_SHOWN_ITEMS:
                shown["..."] = f"{len(value) - index} more"
                break
            shown[str(json_safe(key, _MAX_SHOWN_DEPTH))] = json_safe(item, depth + 1)
        return shown
    if isinstance(value, list | tuple):
        items = [json_safe(item, depth + 1) for item in value[:_MAX_SHOWN_ITEMS]]
        if len(value) > _MAX_SHOWN_ITEMS:
            items.append(f"... {len(value) - _MAX_SHOWN_ITEMS} more")
        return items
    return f"<{type(value).__name__}>"


def show(value: Any) -> str:
    """A short, quoted rendering of a value for a reason sentence."""
    safe = json_safe(value, _MAX_SHOWN_DEPTH - 1)
    if isinstance(safe, bool) or safe is None:
        return {True: "true", False: "false", None: "null"}[safe]
    if isinstance(safe, str) and not isinstance(value, str):
        return safe
    text = repr(safe)
    if len(text) > 80:
        text = text[:77] + "..."
    return text
