"""What the id of a route or a config, and the name of a config type, may be.

One rule for the models (column sizes, the admin's field check), the services (the error a
client gets, in each field's own words), the REST serializers and the REST URL patterns.
"""

from __future__ import annotations

import enum
import re
from typing import Any

ID_MAX_LENGTH = 200
# Letters, digits, "-" and "_": Django's slug, as URL patterns spell it.
ID_PATTERN = r"[-a-zA-Z0-9_]+"
# The same characters as a whole-string pattern, for validators.
ID_REGEX = re.compile(rf"^{ID_PATTERN}\Z")
CONFIG_TYPE_MAX_LENGTH = 100
CONFIG_TYPE_RULE = f"1-{CONFIG_TYPE_MAX_LENGTH} characters, none of them a control character"
_NOT_IN_A_NAME = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


class IdProblem(enum.Enum):
    """Why a value is not an id; each caller words it for its own field."""

    NOT_A_STRING = "not a non-empty string"
    TOO_LONG = "too long"
    CHARACTERS = "characters other than letters, digits, - and _"


def id_problem(value: Any) -> IdProblem | None:
    """What is wrong with ``value`` as a route or config id, or None when it is one."""
    if not isinstance(value, str) or not value:
        return IdProblem.NOT_A_STRING
    if len(value) > ID_MAX_LENGTH:
        return IdProblem.TOO_LONG
    if not ID_REGEX.match(value):
        return IdProblem.CHARACTERS
    return None


def is_config_type_name(value: Any) -> bool:
    """A config type's name: a string of 1 to ``CONFIG_TYPE_MAX_LENGTH`` characters, none of
    them a control character (NUL among them, which PostgreSQL cannot store) or a lone
    surrogate."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= CONFIG_TYPE_MAX_LENGTH
        and not _NOT_IN_A_NAME.search(value)
    )
