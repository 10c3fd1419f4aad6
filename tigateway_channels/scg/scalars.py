"""JSON scalars and Java primitives as SCG's binder reads them from text."""

from __future__ import annotations

import math
import re
from typing import Any

from tigateway_channels.protocol.json_values import is_integer

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,30}")

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})


class InvalidValue(ValueError):
    """A converter's complaint, worded to follow the argument's name ("must be an integer")."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def text_of(value: Any) -> str | None:
    """The text of a scalar as Spring would see it, or None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and LONG_RANGE[0] <= value <= LONG_RANGE[1]:
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def to_text(value: Any) -> str:
    """A string argument; JSON numbers and booleans are accepted as their text, like Spring."""
    text = text_of(value)
    if text is None:
        raise InvalidValue("must be a string")
    return text


def to_int(value: Any, *, bounds: tuple[int, int] = INT_RANGE) -> int:
    """A Java int (or long, with ``LONG_RANGE``) from a JSON integer or decimal text."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        value = int(value)
    if is_integer(value):
        number = value
    elif isinstance(value, str) and INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise InvalidValue("must be an integer")
    if not bounds[0] <= number <= bounds[1]:
        raise InvalidValue(f"must be between {bounds[0]} and {bounds[1]}")
    return number


def to_float(value: Any) -> float:
    """A finite Java double from a JSON number or decimal text."""
    if is_integer(value):
        number = float(value) if abs(value) < 2**1000 else math.inf
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        raise InvalidValue("must be a number")
    if not math.isfinite(number):
        raise InvalidValue("must be a finite number")
    return number


def to_bool(value: Any) -> bool:
    """A boolean from JSON or from the words Spring's converter accepts (true/false, yes/no...)."""
    if isinstance(value, bool):
        return value
    text = text_of(value)
    word = text.strip().lower() if text is not None else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidValue("must be true or false")
