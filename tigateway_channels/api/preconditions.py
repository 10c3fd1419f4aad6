"""Optimistic locking over HTTP: the version a client last saw, from ``If-Match`` or the body."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from tigateway_channels.protocol.errors import ErrorCode, field_error


def expected_version(request: Request, body_version: Any = None) -> Any:
    """The version the client last saw: ``If-Match: "<version>"`` or the body's ``version``."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return body_version
    tag = header.removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit()):
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "If-Match",
            header,
            'must be a version, e.g. "3"',
            "If-Match must carry a version",
        )
    if body_version is not None and body_version != int(tag):
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "version",
            body_version,
            f"differs from If-Match {header}",
            "If-Match and version disagree",
        )
    return int(tag)
