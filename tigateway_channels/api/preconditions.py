"""Optimistic locking over HTTP: the version goes out as ``ETag`` and comes back as
``If-Match`` (or in the body); a version in a query string is read the same way."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from tigateway_channels.protocol.errors import ErrorCode, field_error
from tigateway_channels.services.errors import not_an_integer


def versioned_response(
    message: dict[str, Any], http_status: int = status.HTTP_200_OK, **headers: str
) -> Response:
    """A route or config as the API sends it, with ``ETag: "<version>"``."""
    return Response(
        message, status=http_status, headers={"ETag": f'"{message["version"]}"', **headers}
    )


def _version_number(text: str) -> int | None:
    """ASCII digits as their number; no sign, space or other digit."""
    return int(text) if text.isascii() and text.isdigit() else None


def version_param(request: Request, name: str = "version") -> int | None:
    """``?version=N``, or None when absent."""
    given = request.query_params.get(name)
    if given is None:
        return None
    version = _version_number(given)
    if version is None:
        raise not_an_integer(name, given)
    return version


def expected_version(request: Request, body_version: Any = None) -> Any:
    """The version the client last saw: ``If-Match: "<version>"`` or the body's ``version``."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return body_version
    version = _version_number(header.removeprefix("W/").strip('"'))
    if version is None:
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "If-Match",
            header,
            'must be a version, e.g. "3"',
            "If-Match must carry a version",
        )
    if body_version is not None and body_version != version:
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "version",
            body_version,
            f"differs from If-Match {header}",
            "If-Match and version disagree",
        )
    return version
