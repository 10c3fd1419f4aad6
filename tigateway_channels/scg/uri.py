"""The route ``uri``: where matching requests go, in every form Spring Cloud Gateway takes.

- ``http(s)://host[:port]`` and ``ws(s)://host[:port]``: an upstream by address;
- ``lb://service``, ``lb:ws://service``, ``lb:wss://service``: a service the gateway's registry
  resolves (load-balanced), named by DNS labels;
- ``forward:/path``: handled by the gateway itself at that path (``forward:///path`` too).

Credentials (``user:password@``) are refused everywhere: routes are broadcast to subscribers.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from tigateway_channels.scg.model import SpecIssue, SpecValidationError, json_safe, show

MAX_URI_CHARS = 2048
MAX_HOST_CHARS = 253
SCHEMES = ("http", "https", "ws", "wss")
LB_SCHEMES = ("lb", "lb:ws", "lb:wss")
FORWARD_SCHEME = "forward"
ALL_SCHEMES = (*SCHEMES, *LB_SCHEMES, FORWARD_SCHEME)

_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
# Host names as resolvers take them (``_`` included, as in container and service names).
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
# Service names: strict DNS labels (RFC 1123). Java's URI parser finds no host in a name with
# ``_``, so Spring Cloud Gateway could not resolve it.
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_SERVICE_NAME_RULE = (
    "a service name is DNS labels joined by dots: each 1-63 letters, digits or '-', not "
    f"starting or ending with '-', at most {MAX_HOST_CHARS} characters in all"
)


class _Invalid(Exception):
    """Why a value is not a route URI (internal: turned into a ``SpecIssue``)."""


def _split(value: str) -> SplitResult:
    try:
        return urlsplit(value)
    except ValueError:  # urlsplit checks bracketed hosts itself
        raise _Invalid("has an invalid IPv6 address in brackets") from None


def _common_checks(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid("must be a non-empty string")
    if len(value) > MAX_URI_CHARS:
        raise _Invalid(f"must be at most {MAX_URI_CHARS} characters")
    if not _URI_CHARS.fullmatch(value):
        raise _Invalid(
            "contains characters a URI cannot hold (spaces, non-ASCII, quotes or bad %-escapes)"
        )
    if "#" in value:
        raise _Invalid("must not have a #fragment, which is never sent upstream")
    return value


def _port(parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise _Invalid("has an invalid port; use a number from 1 to 65535")
    return port


def _no_credentials(parts: SplitResult) -> None:
    if "@" in parts.netloc:
        raise _Invalid("must not carry user:password; routes are broadcast to every subscriber")


def _address(value: str) -> str:
    """``http(s)://`` or ``ws(s)://`` with a host; returned with scheme and host lower-cased."""
    parts = _split(value)
    if parts.scheme.lower() not in SCHEMES:
        raise _Invalid(f"must be an absolute URI with scheme {', '.join(ALL_SCHEMES)}")
    if not value[len(parts.scheme) :].startswith("://") or not parts.hostname:
        raise _Invalid("must name a host, as in http://backend:8080")
    _no_credentials(parts)
    _port(parts)
    host = parts.hostname
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _Invalid("has an invalid IPv6 address in brackets") from None
        hostport = parts.netloc.lower()
    else:
        if len(host) > MAX_HOST_CHARS or not all(
            _HOST_LABEL.fullmatch(label) for label in host.split(".")
        ):
            raise _Invalid("has an invalid host name")
        hostport = host + parts.netloc[len(host) :]
    return str(urlunsplit((parts.scheme.lower(), hostport, parts.path, parts.query, "")))


def _load_balanced(value: str) -> str:
    """``lb://service`` or ``lb:ws(s)://service``; returned lower-cased up to the path."""
    rest = value[len("lb:") :]
    if rest.startswith("//"):
        scheme, target = "lb", "lb:" + rest
    elif rest.lower().startswith(("ws://", "wss://")):
        scheme, target = "lb:" + rest.split(":", 1)[0].lower(), rest
    else:
        raise _Invalid(
            "is load-balanced but not in a form Spring Cloud Gateway takes: write "
            "lb://service, lb:ws://service or lb:wss://service"
        )
    parts = _split(target)
    _no_credentials(parts)
    if "[" in parts.netloc:
        raise _Invalid(f"must name a service, not an address; {_SERVICE_NAME_RULE}")
    if _port(parts) is not None:
        raise _Invalid(
            "must not give a port: a load-balanced URI names a service, and the registry "
            "gives each instance's port"
        )
    service = parts.hostname or ""
    if not service:
        raise _Invalid(f"must name a service, as in {scheme}://user-service")
    if len(service) > MAX_HOST_CHARS or not all(
        _DNS_LABEL.fullmatch(label) for label in service.split(".")
    ):
        raise _Invalid(f"has an invalid service name {service!r}; {_SERVICE_NAME_RULE}")
    tail = urlunsplit(("", "", parts.path, parts.query, ""))
    return f"{scheme}://{service.lower()}{tail}"


def _forward(value: str) -> str:
    """``forward:/path`` (or ``forward:///path``): a path the gateway itself serves."""
    rest = value[len("forward:") :]
    path = rest[2:] if rest.startswith("///") else rest
    if path.startswith("//"):
        raise _Invalid("must give a path, not a host: write forward:/path")
    if not path.startswith("/"):
        raise _Invalid("must give an absolute path, as in forward:/fallback")
    return f"{FORWARD_SCHEME}:{rest}"


def _normalised(value: Any) -> str:
    text = _common_checks(value)
    lower = text.lower()
    if lower.startswith("lb:"):
        return _load_balanced(text)
    if lower.startswith(f"{FORWARD_SCHEME}:"):
        return _forward(text)
    return _address(text)


def validate_uri(value: Any, field: str = "uri") -> str:
    """Check a route ``uri`` and return it with its scheme and host (or service) lower-cased."""
    try:
        return _normalised(value)
    except _Invalid as problem:
        reason = f"{field} {problem}, got {show(value)}"
        raise SpecValidationError([SpecIssue(field, json_safe(value), reason)]) from None
