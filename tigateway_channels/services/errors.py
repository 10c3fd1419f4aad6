"""Turning validation problems into the one error type, with the ``details`` shape of
docs/protocol.md §8."""

from __future__ import annotations

from typing import Any

from tigateway_channels.protocol.errors import (
    TEXT_CHARS,
    ErrorCode,
    GatewayError,
    field_error,
    shown_text,
)
from tigateway_channels.protocol.json_values import is_integer


def validation_error(code: ErrorCode, message: str, issues: list[dict[str, Any]]) -> GatewayError:
    """The first problem in the top-level ``details`` (docs/protocol.md §8), all of them in
    ``errors``."""
    details = dict(issues[0])
    if len(issues) > 1:
        details["errors"] = issues
    return GatewayError(code, message, details)


def error_issues(error: GatewayError) -> list[dict[str, Any]]:
    """Every problem of an error, in ``validation_error``'s shape: ``details.errors`` when
    there are several, else ``details`` itself."""
    issues: list[dict[str, Any]] = error.details.get("errors") or [error.details]
    return issues


def not_an_integer(field: str, value: Any) -> GatewayError:
    """A request field (``version``, ``toVersion``...) that must be an integer and is not."""
    return field_error(
        ErrorCode.INVALID_MESSAGE_FORMAT,
        field,
        value,
        "must be an integer",
        f"{field} must be an integer",
    )


def require_integer(field: str, value: Any) -> int:
    if not is_integer(value):
        raise not_an_integer(field, value)
    return value


def issues_by_field(error: GatewayError) -> dict[str, list[str]]:
    """Problems grouped by top-level field name, as forms and serializers report them.

    A nested problem keeps its path in the text, so a person knows which item to fix:
    ``{"predicates": ["predicates[1].args.patterns: ... is required ..."]}``.
    """
    grouped: dict[str, list[str]] = {}
    for issue in error_issues(error):
        # Bounded as the error's details are: a path may hold a client's key.
        path = shown_text(str(issue.get("field", "")))
        field = path.split("[", 1)[0].split(".", 1)[0] or "__all__"
        reason = shown_text(str(issue.get("reason", error.message)), TEXT_CHARS)
        prefix = f"{path}: " if path and path != field else ""
        grouped.setdefault(field, []).append(prefix + reason)
    return grouped
