"""Turning validation problems into the one error type, with the ``details`` shape of
docs/protocol.md §8."""

from __future__ import annotations

from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError


def validation_error(code: ErrorCode, message: str, issues: list[dict[str, Any]]) -> GatewayError:
    """The first problem in the top-level ``details`` (docs/protocol.md §8), all of them in
    ``errors``."""
    details = dict(issues[0])
    if len(issues) > 1:
        details["errors"] = issues
    return GatewayError(code, message, details)


def issues_by_field(error: GatewayError) -> dict[str, list[str]]:
    """Problems grouped by top-level field name, as forms and serializers report them.

    A nested problem keeps its path in the text, so a person knows which item to fix:
    ``{"predicates": ["predicates[1].args.patterns: ... is required ..."]}``.
    """
    grouped: dict[str, list[str]] = {}
    for issue in error.details.get("errors") or [error.details]:
        path = str(issue.get("field", ""))
        field = path.split("[", 1)[0].split(".", 1)[0] or "__all__"
        reason = str(issue.get("reason", error.message))
        prefix = f"{path}: " if path and path != field else ""
        grouped.setdefault(field, []).append(prefix + reason)
    return grouped
