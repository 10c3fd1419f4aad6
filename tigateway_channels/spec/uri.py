"""The route ``uri``: where matching requests go, so it must name a reachable upstream."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tigateway_channels.spec.model import SpecIssue, SpecValidationError, json_safe, show

MAX_URI_CHARS = 2048
SCHEMES = ("http", "https", "ws", "wss")

_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_HOST_LABELS = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def _problem(value: Any) -> str | None:
    """Why ``value`` is not an absolute http(s)/ws(s) URI with a host, or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_URI_CHARS:
        return f"must be at most {MAX_URI_CHARS} characters"
    if not _URI_CHARS.fullmatch(value):
        return "contains characters a URI cannot hold (spaces, non-ASCII, quotes or bad %-escapes)"
    try:
        parts = urlsplit(value)
    except ValueError:  # urlsplit checks bracketed hosts itself
        return "has an invalid IPv6 address in brackets"
    if parts.scheme.lower() not in SCHEMES:
        return f"must be an absolute URI with scheme {', '.join(SCHEMES)}"
    if not value[len(parts.scheme) :].startswith("://") or not parts.hostname:
        return "must name a host, as in http://backend:8080"
    if "@" in parts.netloc:
        return "must not carry user:password; routes are broadcast to every subscriber"
    if parts.fragment or value.endswith("#"):
        return "must not have a #fragment, which is never sent upstream"
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return "has an invalid port; use a number from 1 to 65535"
    if parts.port == 0:
        return "has an invalid port; use a number from 1 to 65535"
    return _host_problem(parts.hostname, bracketed="[" in parts.netloc)


def _host_problem(host: str, *, bracketed: bool) -> str | None:
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has an invalid IPv6 address in brackets"
        return None
    if len(host) > 253 or not all(_HOST_LABELS.fullmatch(label) for label in host.split(".")):
        return "has an invalid host name"
    return None


def validate_uri(value: Any, field: str = "uri") -> str:
    """Check a route ``uri`` and return it with scheme and host lower-cased."""
    problem = _problem(value)
    if problem:
        reason = f"{field} {problem}, got {show(value)}"
        raise SpecValidationError([SpecIssue(field, json_safe(value), reason)])
    parts = urlsplit(value)
    hostport = parts.netloc
    host = parts.hostname or ""
    if "[" not in hostport:
        hostport = host + hostport[len(host) :]
    else:
        hostport = hostport.lower()
    return str(urlunsplit((parts.scheme.lower(), hostport, parts.path, parts.query, "")))
