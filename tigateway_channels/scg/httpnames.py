"""HTTP method and status names, as Spring's ``HttpMethod`` and ``HttpStatus`` know them."""

from __future__ import annotations

import re
from typing import Any

from tigateway_channels.protocol.json_values import is_integer
from tigateway_channels.scg.scalars import INTEGER_TEXT, InvalidValue, to_text

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# Spring's HttpStatus constants (SCG 4.3 and 5.0 together), deprecated aliases included.
HTTP_STATUSES: dict[str, int] = {
    name: int(code)
    for code, names in (
        line.split(" ", 1)
        for line in """
100 CONTINUE
101 SWITCHING_PROTOCOLS
102 PROCESSING
103 EARLY_HINTS CHECKPOINT
200 OK
201 CREATED
202 ACCEPTED
203 NON_AUTHORITATIVE_INFORMATION
204 NO_CONTENT
205 RESET_CONTENT
206 PARTIAL_CONTENT
207 MULTI_STATUS
208 ALREADY_REPORTED
226 IM_USED
300 MULTIPLE_CHOICES
301 MOVED_PERMANENTLY
302 FOUND MOVED_TEMPORARILY
303 SEE_OTHER
304 NOT_MODIFIED
305 USE_PROXY
307 TEMPORARY_REDIRECT
308 PERMANENT_REDIRECT
400 BAD_REQUEST
401 UNAUTHORIZED
402 PAYMENT_REQUIRED
403 FORBIDDEN
404 NOT_FOUND
405 METHOD_NOT_ALLOWED
406 NOT_ACCEPTABLE
407 PROXY_AUTHENTICATION_REQUIRED
408 REQUEST_TIMEOUT
409 CONFLICT
410 GONE
411 LENGTH_REQUIRED
412 PRECONDITION_FAILED
413 PAYLOAD_TOO_LARGE CONTENT_TOO_LARGE REQUEST_ENTITY_TOO_LARGE
414 URI_TOO_LONG REQUEST_URI_TOO_LONG
415 UNSUPPORTED_MEDIA_TYPE
416 REQUESTED_RANGE_NOT_SATISFIABLE
417 EXPECTATION_FAILED
418 I_AM_A_TEAPOT
419 INSUFFICIENT_SPACE_ON_RESOURCE
420 METHOD_FAILURE
421 DESTINATION_LOCKED
422 UNPROCESSABLE_ENTITY UNPROCESSABLE_CONTENT
423 LOCKED
424 FAILED_DEPENDENCY
425 TOO_EARLY
426 UPGRADE_REQUIRED
428 PRECONDITION_REQUIRED
429 TOO_MANY_REQUESTS
431 REQUEST_HEADER_FIELDS_TOO_LARGE
451 UNAVAILABLE_FOR_LEGAL_REASONS
500 INTERNAL_SERVER_ERROR
501 NOT_IMPLEMENTED
502 BAD_GATEWAY
503 SERVICE_UNAVAILABLE
504 GATEWAY_TIMEOUT
505 HTTP_VERSION_NOT_SUPPORTED
506 VARIANT_ALSO_NEGOTIATES
507 INSUFFICIENT_STORAGE
508 LOOP_DETECTED
509 BANDWIDTH_LIMIT_EXCEEDED
510 NOT_EXTENDED
511 NETWORK_AUTHENTICATION_REQUIRED
""".strip().splitlines()
    )
    for name in names.split()
}
_KNOWN_CODES = frozenset(HTTP_STATUSES.values())
STATUS_SERIES = ("INFORMATIONAL", "SUCCESSFUL", "REDIRECTION", "CLIENT_ERROR", "SERVER_ERROR")


def _lenient_name(value: str) -> str:
    return value.strip().upper().replace("-", "_")


def to_http_method(value: Any) -> str:
    """An HTTP method; SCG compares them case-sensitively, so lowercase would never match."""
    text = to_text(value)
    if "," in text:
        raise InvalidValue("must be one method per list element, not a comma-separated string")
    if not _TOKEN.fullmatch(text):
        raise InvalidValue("must be an HTTP method name such as GET")
    if text != text.upper():
        raise InvalidValue(
            "must be upper case: methods are compared case-sensitively, so it would never match",
            hint=f"did you mean {text.upper()!r}?",
        )
    return text


def _code_of(value: Any) -> int | None:
    """A status code given as a JSON integer or as digits, else None."""
    if is_integer(value):
        return value
    if isinstance(value, str) and INTEGER_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def to_http_status(value: Any) -> int:
    """An ``HttpStatus`` constant (BAD_GATEWAY, bad-gateway) or its known code, as the code."""
    code = _code_of(value)
    if code is None and isinstance(value, str):
        code = HTTP_STATUSES.get(_lenient_name(value))
    if code not in _KNOWN_CODES:
        raise InvalidValue("must be an HTTP status name such as BAD_GATEWAY or a standard code")
    return code


def to_status_code(value: Any) -> int:
    """A status string as SCG reads it for SetStatus/RedirectTo: any code 100-599 or a name."""
    code = _code_of(value)
    if code is not None:
        if not 100 <= code <= 599:
            raise InvalidValue("must be a status code between 100 and 599")
        return code
    code = HTTP_STATUSES.get(_lenient_name(value)) if isinstance(value, str) else None
    if code is None:
        raise InvalidValue(
            "must be a status code (100-599) or an HTTP status name such as NOT_FOUND"
        )
    return code


def to_status_series(value: Any) -> str:
    """An ``HttpStatus.Series`` name (SERVER_ERROR...), normalised to upper case."""
    name = _lenient_name(value) if isinstance(value, str) else ""
    if name not in STATUS_SERIES:
        raise InvalidValue(f"must be a status series, one of {', '.join(STATUS_SERIES)}")
    return name
