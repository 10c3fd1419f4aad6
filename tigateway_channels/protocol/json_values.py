"""JSON values as Python's parsers give them.

In Python ``True`` is an ``int``; in JSON ``true`` is not a number. Every check of a number
from a client, a document or a setting asks these, so ``true`` is never taken for ``1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import TypeIs


def is_integer(value: Any) -> TypeIs[int]:
    """A JSON integer: an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeIs[int | float]:
    """A JSON number: an ``int`` or a ``float`` that is not a ``bool``."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    """A JSON string, number, boolean or null, which an error can show back as it is."""
    return value is None or isinstance(value, str | int | float | bool)
