"""The two SCG argument forms, read into one list of raw args and normalised by shortcut type.

``Name=a,b`` becomes positional args ``_genkey_0``, ``_genkey_1``; ``{"name", "args"}`` becomes
flattened keys (``backoff.firstBackoff``, ``patterns[0]``). Normalisation then gives each of a
factory's fields the raw values meant for it, the way SCG's ``ShortcutConfigurable`` does, but
reporting what SCG silently drops (extra positions, unknown names, a misplaced flag).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tigateway_channels.scg.model import SpecIssue, json_safe, show

MAX_SHORTCUT_CHARS = 4096
MAX_ARG_ENTRIES = 200
MAX_ARG_DEPTH = 8
MAX_KEY_CHARS = 200
GENKEY_PREFIX = "_genkey_"

# Java's String.trim removes every char up to and including the space, and nothing else.
_JAVA_TRIM = "".join(chr(code) for code in range(33))
_INDEX = re.compile(r"\[(\d+)\]")
_BOOL_WORDS = ("true", "false")
_EXAMPLES = {"predicate": "Path=/api/**", "filter": "StripPrefix=1"}
SPLIT_HINT = (
    "a ',' always splits shortcut args, so give values with commas in the {name, args} form"
)


class ShortcutType(enum.Enum):
    """How positional values map onto fields (SCG's ``ShortcutConfigurable.ShortcutType``)."""

    DEFAULT = "DEFAULT"
    GATHER_LIST = "GATHER_LIST"
    GATHER_LIST_TAIL_FLAG = "GATHER_LIST_TAIL_FLAG"


@dataclass(frozen=True)
class RawArg:
    """One argument as given: its flattened key, scalar value and where to point an issue."""

    key: str
    value: Any
    field: str
    positional: bool


@dataclass(frozen=True)
class RawDefinition:
    """An item read from either form, before anything is known about its factory."""

    name: str
    args: list[RawArg]
    shortcut: bool
    field: str
    source: Any


@dataclass
class Slot:
    """The raw values normalisation assigned to one field, in order."""

    field: str
    args: list[RawArg] = dataclasses.field(default_factory=list)
    listed: bool = False
    indexes: list[int] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Layout:
    """What normalisation needs to know about a factory."""

    name: str
    shortcut_type: ShortcutType
    shortcut_order: tuple[str, ...]
    field_names: tuple[str, ...]
    list_fields: frozenset[str]


def java_trim(text: str) -> str:
    """Trim as ``String.trim`` does, so tokens match what SCG sees."""
    return text.strip(_JAVA_TRIM)


def read_shortcut(text: str, field: str, kind: str) -> tuple[RawDefinition | None, list[SpecIssue]]:
    """Split ``Name=a,b,c`` at the first ``=``, then on each comma; trim, drop empty tokens."""
    if len(text) > MAX_SHORTCUT_CHARS:
        reason = f"{kind} shortcut is {len(text)} characters long; at most {MAX_SHORTCUT_CHARS}"
        return None, [SpecIssue(field, json_safe(text), reason + " are allowed")]
    body = java_trim(text)
    if not body:
        reason = f"{kind} is an empty string; write Name=value, e.g. {_EXAMPLES[kind]}"
        return None, [SpecIssue(field, json_safe(text), reason)]
    equals = body.find("=")
    if kind == "predicate" and equals <= 0:
        problem = "has nothing before '='" if equals == 0 else "has no '='"
        reason = f"predicate {show(text)} {problem}; write Name=value, e.g. {_EXAMPLES[kind]}"
        return None, [SpecIssue(field, json_safe(text), reason)]
    if equals <= 0:  # a filter without args; with a leading '=' the whole text is its name
        return RawDefinition(body, [], True, field, text), []
    tokens = [java_trim(token) for token in body[equals + 1 :].split(",")]
    args = [
        RawArg(f"{GENKEY_PREFIX}{index}", token, field, positional=True)
        for index, token in enumerate(token for token in tokens if token)
    ]
    return RawDefinition(body[:equals], args, True, field, text), []


def read_expanded(
    item: dict[Any, Any], field: str, kind: str
) -> tuple[RawDefinition | None, list[SpecIssue]]:
    """Check the ``{"name", "args"}`` shape and flatten nested args to dotted and indexed keys."""
    issues = [
        SpecIssue(
            f"{field}.{key}" if isinstance(key, str) else field,
            json_safe(key),
            f'{kind} has an unknown key {show(key)}; write {{"name": ..., "args": {{...}}}}',
        )
        for key in item
        if key not in ("name", "args")
    ]
    name = item.get("name")
    if not isinstance(name, str) or not name:
        reason = f"{kind} name must be a non-empty string, got {show(name)}"
        issues.append(SpecIssue(f"{field}.name", json_safe(name), reason))
    args = item.get("args")
    args = {} if args is None else args
    if not isinstance(args, dict):
        reason = f"{kind} args must be an object of argument names to values, got {show(args)}"
        issues.append(SpecIssue(f"{field}.args", json_safe(args), reason))
        return None, issues
    raw: list[RawArg] = []
    issues += _flatten(args, "", f"{field}.args", raw, 0)
    if issues or not isinstance(name, str):
        return None, issues
    return RawDefinition(name, raw, False, field, item), []


def _flatten(
    value: dict[Any, Any] | list[Any], key: str, path: str, out: list[RawArg], depth: int
) -> list[SpecIssue]:
    """Dotted keys for maps and ``[i]`` for lists, as Spring flattens YAML into properties."""
    if depth >= MAX_ARG_DEPTH:
        return [SpecIssue(path, "...", f"args are nested more than {MAX_ARG_DEPTH} levels deep")]
    if isinstance(value, dict):
        children = []
        for child_key, child in value.items():
            if not isinstance(child_key, str) or not child_key or len(child_key) > MAX_KEY_CHARS:
                reason = f"argument names must be strings of 1 to {MAX_KEY_CHARS} characters"
                return [SpecIssue(path, json_safe(child_key), f"{reason}, got {show(child_key)}")]
            joined = f"{key}.{child_key}" if key else child_key
            children.append((joined, f"{path}.{child_key}", child))
    else:
        children = [(f"{key}[{i}]", f"{path}[{i}]", child) for i, child in enumerate(value)]
    issues: list[SpecIssue] = []
    for child_key, child_path, child in children:
        if len(out) >= MAX_ARG_ENTRIES:
            reason = f"args hold more than {MAX_ARG_ENTRIES} values"
            return [*issues, SpecIssue(path, "...", reason)]
        if isinstance(child, dict | list) and child:
            issues += _flatten(child, child_key, child_path, out, depth + 1)
        elif isinstance(child, str) and len(child) > MAX_SHORTCUT_CHARS:
            reason = f"argument is {len(child)} characters long; at most {MAX_SHORTCUT_CHARS}"
            issues.append(SpecIssue(child_path, json_safe(child), reason + " are allowed"))
        else:
            positional = child_key.startswith(GENKEY_PREFIX)
            out.append(RawArg(child_key, child, child_path, positional))
    return issues


def _canonical(name: str) -> str:
    """Relaxed binding: ``replenish-rate``, ``replenish_rate`` and ``replenishRate`` are equal."""
    return ".".join(part.lower().replace("-", "").replace("_", "") for part in name.split("."))


def match_key(key: str, field_names: Sequence[str]) -> tuple[str | None, int | None]:
    """The field a named key binds to, and its list index (``patterns.0``, ``patterns[0]``)."""
    parts = _INDEX.sub(r".\1", key).split(".")
    index = None
    if len(parts) > 1 and parts[-1].isdigit() and parts[-1].isascii():
        index = int(parts.pop())
    if any(not part or "[" in part or "]" in part for part in parts):
        return None, None
    wanted = _canonical(".".join(parts))
    for name in field_names:
        if _canonical(name) == wanted:
            return name, index
    return None, None


def field_path(raw: RawDefinition, name: str) -> str:
    """Where an issue about a whole field points: the item for a shortcut, else the arg."""
    return raw.field if raw.shortcut else f"{raw.field}.args.{name}"


def unknown_arg_reason(layout: Layout, key: str) -> str:
    """Name the unknown argument, list the accepted ones, and guess the intended one."""
    accepted = ", ".join(layout.field_names) or "none"
    reason = f"{layout.name} has no argument {key!r}; accepted: {accepted}"
    wanted = _canonical(key)
    guesses = [name for name in layout.field_names if _canonical(name).endswith("." + wanted)]
    guesses += difflib.get_close_matches(key, layout.field_names, n=1, cutoff=0.6)
    return f"{reason}; did you mean {guesses[0]!r}?" if guesses else reason


def normalise(raw: RawDefinition, layout: Layout) -> tuple[dict[str, Slot], list[SpecIssue]]:
    """Assign raw args to fields by the factory's shortcut type."""
    if raw.shortcut and raw.args and not layout.shortcut_order:
        example = f'{{"name": "{layout.name}", "args": {{...}}}}'
        reason = f"{layout.name} has no shortcut form; use the expanded form {example}"
        return {}, [SpecIssue(raw.field, json_safe(raw.source), reason)]
    if layout.shortcut_type is ShortcutType.DEFAULT:
        return _normalise_default(raw, layout)
    return _normalise_gathered(raw, layout)


def _normalise_default(
    raw: RawDefinition, layout: Layout
) -> tuple[dict[str, Slot], list[SpecIssue]]:
    """Rename ``_genkey_`` args by position (over all entries, as SCG does); bind others by name."""
    slots: dict[str, Slot] = {}
    issues: list[SpecIssue] = []
    extra: list[RawArg] = []
    refused: set[str] = set()
    order = layout.shortcut_order
    for position, arg in enumerate(raw.args):
        name: str | None
        index: int | None
        if arg.positional:
            if position >= len(order):
                extra.append(arg)
                continue
            name, index = order[position], None
        else:
            name, index = match_key(arg.key, layout.field_names)
            if name is None:
                reason = unknown_arg_reason(layout, arg.key)
                issues.append(SpecIssue(arg.field, json_safe(arg.value), reason))
                continue
        if name in refused:
            continue  # one issue per field given as a list, not one per element
        issue = _put(slots, layout, name, index, arg, field_path(raw, name))
        if issue:
            issues.append(issue)
            refused.add(name)
    if extra:
        if not order:
            example = f'{{"name": "{layout.name}", "args": {{...}}}}'
            reason = f"{layout.name} has no positional arguments; use named args as in {example}"
        else:
            shown = ", ".join(order)
            reason = (
                f"{layout.name} takes at most {len(order)} argument"
                f"{'s' if len(order) > 1 else ''} ({shown}), got {len(raw.args)}"
            )
            if raw.shortcut:
                reason += f"; {SPLIT_HINT}"
        value = raw.source if raw.shortcut else extra[0].value
        issues.append(SpecIssue(extra[0].field, json_safe(value), reason))
    return slots, issues


def _put(
    slots: dict[str, Slot],
    layout: Layout,
    name: str,
    index: int | None,
    arg: RawArg,
    slot_field: str,
) -> SpecIssue | None:
    """Add one raw value to its field's slot, refusing duplicates and lists for scalar fields."""
    listed = index is not None or isinstance(arg.value, list)
    if listed and name not in layout.list_fields:
        reason = f"{layout.name} {name} takes a single value, not a list"
        return SpecIssue(slot_field, json_safe(arg.value), reason)
    slot = slots.get(name)
    if slot is None:
        slots[name] = slot = Slot(slot_field, listed=listed)
    elif not (listed and slot.listed) or (index is not None and index in slot.indexes):
        reason = f"{layout.name} {name} is given more than once"
        return SpecIssue(arg.field, json_safe(arg.value), reason)
    if index is not None:
        slot.indexes.append(index)
    if not isinstance(arg.value, list):
        slot.args.append(arg)
    return None


def _normalise_gathered(
    raw: RawDefinition, layout: Layout
) -> tuple[dict[str, Slot], list[SpecIssue]]:
    """All values, in order, become the list field; a trailing true/false may become the flag."""
    list_name = layout.shortcut_order[0]
    flag_name = layout.shortcut_order[1] if len(layout.shortcut_order) > 1 else None
    gathered = Slot(field_path(raw, list_name), listed=True)
    flag: RawArg | None = None
    issues: list[SpecIssue] = []
    for position, arg in enumerate(raw.args):
        name = None
        if not arg.positional:
            name, index = match_key(arg.key, layout.field_names)
            if name is None:
                reason = unknown_arg_reason(layout, arg.key)
                issues.append(SpecIssue(arg.field, json_safe(arg.value), reason))
                continue
            if name == flag_name:
                last = position == len(raw.args) - 1
                if index is not None or not last:
                    where = "takes a single value" if index is not None else "must be the last arg"
                    reason = f"{layout.name} {flag_name} {where} (SCG reads the flag by position)"
                    issues.append(SpecIssue(arg.field, json_safe(arg.value), reason))
                    continue
                flag = arg
                continue
        if not isinstance(arg.value, list):
            gathered.args.append(arg)
    slots = {list_name: gathered}
    if flag_name and flag is None and gathered.args and _is_bool_word(gathered.args[-1].value):
        flag = gathered.args.pop()
    if flag is not None and flag_name:
        slots[flag_name] = Slot(flag.field, [flag])
    return slots, issues


def _is_bool_word(value: Any) -> bool:
    return isinstance(value, bool) or (
        isinstance(value, str) and java_trim(value).lower() in _BOOL_WORDS
    )
