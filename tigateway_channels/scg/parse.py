"""Entry points: a route's predicate and filter lists in, definitions or every issue out."""

from __future__ import annotations

import copy
import difflib
import logging
from typing import Any

from tigateway_channels.scg.factory import Factory
from tigateway_channels.scg.filters import FILTERS
from tigateway_channels.scg.model import (
    Definition,
    SpecIssue,
    SpecValidationError,
    json_safe,
    show,
)
from tigateway_channels.scg.predicates import PREDICATES
from tigateway_channels.scg.shortcut import RawDefinition, read_expanded, read_shortcut

logger = logging.getLogger(__name__)

MAX_ITEMS = 100

_REGISTRIES: dict[str, dict[str, Factory]] = {"predicate": PREDICATES, "filter": FILTERS}


def parse_predicates(items: Any, field: str = "predicates") -> list[Definition]:
    """Parse a route's predicates, raising one error that lists every bad item."""
    return _parse_list(items, field, "predicate")


def parse_filters(items: Any, field: str = "filters") -> list[Definition]:
    """Parse a route's filters, raising one error that lists every bad item."""
    return _parse_list(items, field, "filter")


def parse_predicate(item: Any, field: str = "predicates[0]") -> Definition:
    """Parse one predicate in either form (``Path=/a/**`` or ``{"name", "args"}``)."""
    return _parse_or_raise(item, field, "predicate")


def parse_filter(item: Any, field: str = "filters[0]") -> Definition:
    """Parse one filter in either form (``StripPrefix=1`` or ``{"name", "args"}``)."""
    return _parse_or_raise(item, field, "filter")


def _parse_or_raise(item: Any, field: str, kind: str) -> Definition:
    definition, issues = _parse_item(item, field, kind)
    if issues or definition is None:
        raise SpecValidationError(issues)
    return definition


def _parse_list(items: Any, field: str, kind: str) -> list[Definition]:
    if items is None:
        return []
    if not isinstance(items, list | tuple):
        reason = f"{field} must be a list of {kind}s, got {show(items)}"
        raise SpecValidationError([SpecIssue(field, json_safe(items), reason)])
    if len(items) > MAX_ITEMS:
        reason = f"{field} holds {len(items)} {kind}s; at most {MAX_ITEMS} are allowed per route"
        raise SpecValidationError([SpecIssue(field, None, reason)])
    definitions: list[Definition] = []
    issues: list[SpecIssue] = []
    for index, item in enumerate(items):
        definition, item_issues = _parse_item(item, f"{field}[{index}]", kind)
        issues += item_issues
        if definition is not None:
            definitions.append(definition)
    if issues:
        raise SpecValidationError(issues)
    return definitions


def _parse_item(item: Any, field: str, kind: str) -> tuple[Definition | None, list[SpecIssue]]:
    """Never raises: an unexpected failure is logged and reported as an issue on the item."""
    try:
        return _parse_checked(item, field, kind)
    except Exception:
        logger.exception("unexpected failure validating %s %s", kind, field)
        reason = f"{kind} could not be validated; check its form and values"
        return None, [SpecIssue(field, json_safe(item), reason)]


def _parse_checked(item: Any, field: str, kind: str) -> tuple[Definition | None, list[SpecIssue]]:
    raw: RawDefinition | None
    if isinstance(item, str):
        raw, issues = read_shortcut(item, field, kind)
    elif isinstance(item, dict):
        raw, issues = read_expanded(item, field, kind)
    else:
        reason = (
            f"{kind} must be a shortcut string such as "
            f"{'Path=/api/**' if kind == 'predicate' else 'StripPrefix=1'} or an object "
            f'{{"name": ..., "args": {{...}}}}, got {show(item)}'
        )
        return None, [SpecIssue(field, json_safe(item), reason)]
    if raw is None:
        return None, issues
    registry = _REGISTRIES[kind]
    factory = registry.get(raw.name)
    if factory is None:
        name_field = field if raw.shortcut else f"{field}.name"
        return None, [SpecIssue(name_field, json_safe(raw.name), _unknown_name(raw.name, kind))]
    args, issues = factory.bind(raw)
    if issues:
        return None, issues
    source = item if isinstance(item, str) else copy.deepcopy(item)
    return Definition(factory.name, args, source), []


def _unknown_name(name: str, kind: str) -> str:
    """Name the known factories and, when it is plausible, the one that was meant."""
    known = tuple(_REGISTRIES[kind])
    reason = f"unknown {kind} {show(name)}"
    folded = {candidate.lower(): candidate for candidate in known}
    guess = folded.get(name.strip().lower())
    if guess is None and len(name) <= 64:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        guess = close[0] if close else None
    if guess is not None:
        return f"{reason}; did you mean {guess!r}?"
    other = "filter" if kind == "predicate" else "predicate"
    if name in _REGISTRIES[other]:
        return f"{reason}: {name} is a {other}, not a {kind}; known {kind}s: {', '.join(known)}"
    return f"{reason}; known {kind}s: {', '.join(known)}"
