"""The results of parsing: a normalised definition, or every problem found on the way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tigateway_channels.protocol.errors import SHOWN_DEPTH, field_issue, shown_value

_MAX_SHOWN_DEPTH = SHOWN_DEPTH


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
    """A JSON-serialisable, bounded copy of an input value, so issues can always be sent back
    (the protocol's ``shown_value``; ``depth`` levels are already used up)."""
    return shown_value(value, _MAX_SHOWN_DEPTH - depth)


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
