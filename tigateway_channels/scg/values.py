"""Typed converters for argument values, accepting the text SCG's binder accepts (and JSON)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tigateway_channels.protocol.json_values import is_integer
from tigateway_channels.scg.httpnames import (
    HTTP_STATUSES,
    STATUS_SERIES,
    to_http_method,
    to_http_status,
    to_status_code,
    to_status_series,
)
from tigateway_channels.scg.javaregex import RegexProblem, compile_java_regex
from tigateway_channels.scg.scalars import (
    INTEGER_TEXT,
    LONG_RANGE,
    InvalidValue,
    text_of,
    to_bool,
    to_float,
    to_int,
    to_text,
)

__all__ = [
    "HTTP_STATUSES",
    "STATUS_SERIES",
    "InvalidValue",
    "compile_java_regex",
    "parse_data_size",
    "parse_duration_ms",
    "parse_zoned_datetime",
    "to_bool",
    "to_flag",
    "to_float",
    "to_header_value",
    "to_http_method",
    "to_http_status",
    "to_int",
    "to_ip_source",
    "to_java_class_name",
    "to_java_regex",
    "to_non_empty_text",
    "to_spel_bean_reference",
    "to_status_code",
    "to_status_series",
    "to_text",
    "to_token",
    "to_zoned_datetime",
]

_ZONED = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2}(?::\d{2})?)(?:\[([^\]]{1,64})\])?"
)
_REGION = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
_FIXED_ZONE = re.compile(r"(?:UTC|GMT|UT)?([+-])(\d{2})(?::?(\d{2}))?")
_SIMPLE_DURATION = re.compile(r"([+-]?[0-9]{1,19})([a-zA-Z]{0,2})")
_ISO_DURATION = re.compile(
    r"([-+]?)P(?:([-+]?[0-9]{1,15})D)?"
    r"(?:T(?:([-+]?[0-9]{1,15})H)?(?:([-+]?[0-9]{1,15})M)?"
    r"(?:([-+]?[0-9]{1,19})(?:[.,]([0-9]{0,9}))?S)?)?",
    re.IGNORECASE,
)
_DURATION_UNITS_MS = {
    "ns": Fraction(1, 1_000_000),
    "us": Fraction(1, 1000),
    "ms": Fraction(1),
    "s": Fraction(1000),
    "m": Fraction(60_000),
    "h": Fraction(3_600_000),
    "d": Fraction(86_400_000),
}
_DATA_SIZE = re.compile(r"([+-]?[0-9]{1,19})([a-zA-Z]{0,2})")
_DATA_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_JAVA_CLASS = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+", re.ASCII)
_SPEL_BEAN = re.compile(r"#\{@(?:[A-Za-z_$][\w$]*|'[^'{}]+')\}", re.ASCII)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_IP_SOURCE = re.compile(r"([^/]+)(?:/([0-9]{1,3}))?")


def parse_zoned_datetime(value: Any) -> dt.datetime:
    """An aware datetime from epoch milliseconds or ISO text with an offset and optional [zone]."""
    text = text_of(value)
    if text is None or isinstance(value, bool | float):
        raise InvalidValue("must be epoch milliseconds or an ISO date-time with an offset")
    text = text.strip()
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if INTEGER_TEXT.fullmatch(text):
        millis = int(text)
        if not LONG_RANGE[0] <= millis <= LONG_RANGE[1]:
            raise InvalidValue("is out of range for epoch milliseconds")
        try:
            return epoch + dt.timedelta(milliseconds=millis)
        except OverflowError:
            raise InvalidValue("is outside the supported years 1 to 9999") from None
    found = _ZONED.fullmatch(text)
    if not found:
        raise InvalidValue(
            "must be epoch milliseconds or an ISO date-time with an offset, "
            "like 2017-01-20T17:42:47.789-07:00[America/Denver]"
        )
    year, month, day, hour, minute, second, fraction, offset, region = found.groups()
    try:
        local = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
            int((fraction or "0").ljust(6, "0")[:6]),
        )  # fmt: skip
    except ValueError as exc:
        raise InvalidValue(f"is not a valid date-time ({exc})") from None
    moment = local.replace(tzinfo=_offset_zone(offset))
    if region is None:
        return moment
    return moment.astimezone(_region_zone(region))


def _offset_zone(offset: str) -> dt.tzinfo:
    if offset == "Z":
        return dt.UTC
    sign = -1 if offset[0] == "-" else 1
    parts = [int(part) for part in offset[1:].split(":")] + [0]
    if parts[0] > 18 or parts[1] > 59 or parts[2] > 59:
        raise InvalidValue(f"has an invalid offset {offset!r}")
    return dt.timezone(sign * dt.timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2]))


def _region_zone(region: str) -> dt.tzinfo:
    if region == "Z":
        return dt.UTC
    fixed = _FIXED_ZONE.fullmatch(region)
    if fixed:
        return _offset_zone(f"{fixed.group(1)}{fixed.group(2)}:{fixed.group(3) or '00'}")
    if _REGION.fullmatch(region):
        try:
            return ZoneInfo(region)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise InvalidValue(f"names an unknown time zone {region!r}")


def to_zoned_datetime(value: Any) -> str:
    """The normalised ISO text of a ZonedDateTime argument (Python ``isoformat``, same instant)."""
    return parse_zoned_datetime(value).isoformat()


def _milliseconds(amount: Fraction) -> int | float:
    return int(amount) if amount.denominator == 1 else float(amount)


def parse_duration_ms(value: Any) -> int | float:
    """A Spring Boot Duration (10ms, 5s, 1m, PT0.5S; a bare number is ms) in milliseconds."""
    if isinstance(value, bool):
        raise InvalidValue("must be a duration such as 10ms, 5s or PT0.5S")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidValue("must be a finite duration")
        if abs(value) > 2**63:
            raise InvalidValue("is out of range for a duration")
        return _milliseconds(Fraction(value))
    text = value.strip() if isinstance(value, str) else ""
    simple = _SIMPLE_DURATION.fullmatch(text)
    if simple:
        unit = _DURATION_UNITS_MS.get(simple.group(2).lower() or "ms")
        if unit is None:
            raise InvalidValue(
                f"has an unknown unit {simple.group(2)!r}; use ns, us, ms, s, m, h or d"
            )
        return _milliseconds(int(simple.group(1)) * unit)
    iso = _ISO_DURATION.fullmatch(text)
    if iso and any(iso.group(k) for k in (2, 3, 4, 5)):
        sign, days, hours, minutes, seconds, nanos = iso.groups()
        total = Fraction(int(days or 0) * 86_400 + int(hours or 0) * 3600)
        total += int(minutes or 0) * 60
        whole = int(seconds or 0)
        part = Fraction(int((nanos or "0").ljust(9, "0")), 10**9)
        total += whole - part if (seconds or "").startswith("-") else whole + part
        return _milliseconds(total * 1000 * (-1 if sign == "-" else 1))
    raise InvalidValue("must be a duration such as 10ms, 5s, 1m or PT0.5S")


def parse_data_size(value: Any) -> int:
    """A Spring DataSize (5MB, 1024KB, 512; binary units, no suffix = bytes) in bytes."""
    if not (is_integer(value) or isinstance(value, str)):
        raise InvalidValue("must be a size such as 5000000, 512KB or 5MB")
    found = _DATA_SIZE.fullmatch(value.strip() if isinstance(value, str) else str(value))
    if not found:
        raise InvalidValue("must be a size such as 5000000, 512KB or 5MB")
    unit = _DATA_UNITS.get(found.group(2).upper() or "B")
    if unit is None:
        raise InvalidValue(f"has an unknown unit {found.group(2)!r}; use B, KB, MB, GB or TB")
    size = int(found.group(1)) * unit
    if not LONG_RANGE[0] <= size <= LONG_RANGE[1]:
        raise InvalidValue("is out of range for a size in bytes")
    return size


def to_ip_source(value: Any) -> str:
    """An IP literal or CIDR block, normalised to ``network/prefix`` as SCG's subnet rule."""
    text = to_text(value).strip()
    found = _IP_SOURCE.fullmatch(text)
    try:
        address = ipaddress.ip_address(found.group(1)) if found else None
    except ValueError:
        address = None
    if found is None or address is None:
        raise InvalidValue("must be an IP address or CIDR block such as 10.0.0.0/8")
    if found.group(2) is None and address.version == 6:
        raise InvalidValue(
            "needs a prefix length for an IPv6 address (SCG would use /32, a huge range)",
            hint=f"write {address}/128 for one address",
        )
    prefix = int(found.group(2) or 32)
    if prefix > address.max_prefixlen:
        raise InvalidValue(f"has a prefix length above {address.max_prefixlen}")
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def to_java_regex(value: Any) -> str:
    """A Java regex, checked (syntax, size, runs on RE2) but kept as text."""
    text = to_text(value)
    try:
        compile_java_regex(text)
    except RegexProblem as exc:
        raise InvalidValue(str(exc)) from None
    return text


def to_java_class_name(value: Any) -> str:
    """A fully-qualified Java class name, as Retry ``exceptions`` needs."""
    text = to_text(value).strip()
    if not _JAVA_CLASS.fullmatch(text):
        raise InvalidValue("must be a fully-qualified class name such as java.io.IOException")
    return text


def to_spel_bean_reference(value: Any) -> str:
    """A ``#{@beanName}`` reference, the only SpEL form SCG's restrictive context evaluates."""
    text = to_text(value).strip()
    if not _SPEL_BEAN.fullmatch(text):
        raise InvalidValue("must be a bean reference such as #{@userKeyResolver}")
    return text


def to_non_empty_text(value: Any) -> str:
    """A string SCG requires (``@NotEmpty``); blank text is refused too, as it never helps."""
    text = to_text(value)
    if not text.strip():
        raise InvalidValue("must not be empty")
    return text


def to_token(value: Any) -> str:
    """An HTTP token (header or cookie name): no spaces, separators or control characters."""
    text = to_non_empty_text(value)
    if not _TOKEN.fullmatch(text):
        raise InvalidValue("must be a name without spaces, separators or control characters")
    return text


def to_header_value(value: Any) -> str:
    """A header value; CR, LF and other control characters would split or corrupt the header."""
    text = to_non_empty_text(value)
    if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in text):
        raise InvalidValue("must not contain control characters such as CR or LF")
    return text


def to_flag(value: Any) -> bool:
    """A tail flag: only true/false, because SCG recognises nothing else in that position."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word not in ("true", "false"):
        raise InvalidValue("must be true or false")
    return word == "true"
