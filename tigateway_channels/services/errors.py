"""Turning validation problems into the one error type, with the spec's ``details`` shape."""

from __future__ import annotations

from typing import Any

from tigateway_channels.protocol.errors import ErrorCode, GatewayError


def validation_error(code: ErrorCode, message: str, issues: list[dict[str, Any]]) -> GatewayError:
    """The first problem in the top-level ``details`` (spec 9.1), all of them in ``errors``."""
    details = dict(issues[0])
    if len(issues) > 1:
        details["errors"] = issues
    return GatewayError(code, message, details)


def issues_by_field(error: GatewayError) -> dict[str, list[str]]:
    """Problems grouped by top-level field name, as forms and serializers report them."""
    grouped: dict[str, list[str]] = {}
    for issue in error.details.get("errors") or [error.details]:
        field = str(issue.get("field", "")).split("[", 1)[0].split(".", 1)[0] or "__all__"
        grouped.setdefault(field, []).append(str(issue.get("reason", error.message)))
    return grouped
