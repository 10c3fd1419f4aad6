"""The contract of a config type, and how a problem inside a document is reported.

Kept apart from the registry (``config_types``) so that a built-in type such as
``route_config`` can implement it and the registry can import that type, with no cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tigateway_channels.protocol.errors import field_issue
from tigateway_channels.scg.model import json_safe

if TYPE_CHECKING:
    from tigateway_channels.models import GatewayConfig

# The field of a problem about the document as a whole (paths inside it name their item).
DOCUMENT_FIELD = "config"


def config_issue(field: str, value: Any, reason: str) -> dict[str, Any]:
    """A problem inside a document; the value is bounded, as a document may be large."""
    return field_issue(field, json_safe(value), reason)


def document_path(parts: Iterable[Any]) -> str:
    """``["routes", 2, "predicates", 0]`` -> ``routes[2].predicates[0]``."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or DOCUMENT_FIELD


class ConfigType:
    """The contract of a config type.

    ``validate`` judges the document alone (no database) and returns every problem, each a
    ``{"field", "value", "reason"}`` whose field is a path inside the document. The other
    hooks run inside the change's transaction, with the config row locked: ``check_state``
    reports problems that depend on stored state, ``apply`` makes the stored state follow a
    saved document, ``remove`` undoes it before the config is deleted. A type that only
    stores its document (every project type) keeps the defaults.
    """

    name: str = ""

    def validate(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    def check_state(
        self, config: GatewayConfig | None, document: dict[str, Any], *, adopt_routes: bool
    ) -> list[dict[str, Any]]:
        return []

    def apply(self, config: GatewayConfig, document: dict[str, Any], *, adopt_routes: bool) -> None:
        return None

    def remove(self, config: GatewayConfig) -> None:
        return None

    def summarize(self, old: dict[str, Any] | None, new: dict[str, Any]) -> str:
        """A short line for the revision history; the default names the top-level keys."""
        if old is None:
            return f"created with {', '.join(sorted(new)) or 'an empty document'}"
        parts = describe_changes(dict(sorted(old.items())), dict(sorted(new.items())))
        return "; ".join(parts) or "no change"


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any], what: str = "") -> list[str]:
    """``added a, b``, ``changed c``, ``removed d``: the keys that differ, in their order."""
    groups = (
        ("added", [key for key in new if key not in old]),
        ("changed", [key for key in new if key in old and old[key] != new[key]]),
        ("removed", [key for key in old if key not in new]),
    )
    named = f"{what} " if what else ""
    return [f"{label} {named}{', '.join(keys)}" for label, keys in groups if keys]
