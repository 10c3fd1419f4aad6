"""A factory declaration (its fields and rules) and the binding of normalised args onto it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tigateway_channels.scg.model import SpecIssue, json_safe, show
from tigateway_channels.scg.scalars import InvalidValue
from tigateway_channels.scg.shortcut import (
    Layout,
    RawArg,
    RawDefinition,
    ShortcutType,
    Slot,
    field_path,
    java_trim,
    normalise,
)
from tigateway_channels.scg.values import to_spel_bean_reference

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Field:
    """One argument of a factory: how to convert it and what happens when it is absent."""

    name: str
    convert: Converter
    required: bool = False
    default: Any = None
    many: bool = False
    min_items: int = 0
    spel: bool = False


@dataclass
class Bound:
    """Converted args of one item, handed to a factory's cross-field rules."""

    factory: Factory
    args: dict[str, Any]
    given: dict[str, Any]
    paths: dict[str, str]
    issues: list[SpecIssue] = field(default_factory=list)

    def fail(self, name: str, reason: str) -> None:
        """Report a rule broken by argument ``name``; ``reason`` follows the factory's name."""
        value = json_safe(self.given.get(name, self.args.get(name)))
        self.issues.append(SpecIssue(self.paths[name], value, f"{self.factory.name} {reason}"))


@dataclass(frozen=True)
class Factory:
    """A predicate or filter factory as SCG declares it, plus the rules SCG leaves unchecked."""

    name: str
    kind: str
    fields: tuple[Field, ...]
    shortcut_type: ShortcutType = ShortcutType.DEFAULT
    shortcut: tuple[str, ...] | None = None
    check: Callable[[Bound], None] | None = None

    @property
    def layout(self) -> Layout:
        """The facts normalisation needs; ``shortcut`` defaults to every field in order."""
        names = tuple(f.name for f in self.fields)
        return Layout(
            name=self.name,
            shortcut_type=self.shortcut_type,
            shortcut_order=names if self.shortcut is None else self.shortcut,
            field_names=names,
            list_fields=frozenset(f.name for f in self.fields if f.many),
        )

    def bind(self, raw: RawDefinition) -> tuple[dict[str, Any], list[SpecIssue]]:
        """Normalise, convert every field, then apply the cross-field rules; report everything."""
        layout = self.layout
        slots, issues = normalise(raw, layout)
        if issues and raw.shortcut and not layout.shortcut_order:
            return {}, issues  # no shortcut form: binding the defaults would only add noise
        bound = Bound(self, {}, {}, {})
        for spec in self.fields:
            slot = slots.get(spec.name) or Slot(field_path(raw, spec.name))
            bound.paths[spec.name] = slot.field
            issues += self._bind_field(spec, slot, raw, bound)
        if self.check is not None:
            self.check(bound)
        return bound.args, issues + bound.issues

    def _bind_field(
        self, spec: Field, slot: Slot, raw: RawDefinition, bound: Bound
    ) -> list[SpecIssue]:
        args = _in_index_order(slot)
        args = [arg for arg in args if arg.value is not None]
        if not args and not (slot.listed and spec.many):
            if spec.required:
                return [self._missing(spec, slot, raw)]
            if spec.default is not None:
                default = spec.default
                bound.args[spec.name] = list(default) if isinstance(default, tuple) else default
            return []
        elements = _elements(args, split=spec.many and not slot.listed)
        issues: list[SpecIssue] = []
        converted = []
        for arg, value in elements:
            try:
                converted.append(self._convert(spec, value))
            except InvalidValue as exc:
                reason = f"{self.name} {spec.name} {exc}, got {show(value)}"
                if exc.hint:
                    reason += f"; {exc.hint}"
                issues.append(SpecIssue(arg.field, json_safe(value), reason))
        if spec.many:
            bound.given[spec.name] = [value for _, value in elements]
        else:
            bound.given[spec.name] = elements[0][1]
        if issues:
            return issues
        if spec.many and len(converted) < spec.min_items:
            if spec.required and not converted:
                return [self._missing(spec, slot, raw)]
            reason = f"{self.name} {spec.name} must list at least {spec.min_items} value(s)"
            return [SpecIssue(slot.field, json_safe(bound.given[spec.name]), reason)]
        bound.args[spec.name] = converted if spec.many else converted[0]
        return []

    def _convert(self, spec: Field, value: Any) -> Any:
        if isinstance(value, str):
            trimmed = java_trim(value)
            if trimmed.startswith("#{") and trimmed.endswith("}"):
                if spec.spel:
                    return to_spel_bean_reference(trimmed)
                raise InvalidValue(
                    "is a SpEL expression ('#{...}'), which is supported only in "
                    "RequestRateLimiter keyResolver and rateLimiter"
                )
        if spec.spel:
            return to_spel_bean_reference(value)
        return spec.convert(value)

    def _missing(self, spec: Field, slot: Slot, raw: RawDefinition) -> SpecIssue:
        reason = f"{self.name} {spec.name} is required"
        order = self.layout.shortcut_order
        if raw.shortcut and order and self.shortcut_type is ShortcutType.DEFAULT:
            reason += f"; write {self.name}={', '.join(order[: order.index(spec.name) + 1])}"
        elif not raw.shortcut:
            reason += f"; add it to args as {spec.name!r}"
        return SpecIssue(slot.field, None, reason)


def _in_index_order(slot: Slot) -> list[RawArg]:
    """Indexed keys bind by index, as Spring's binder fills a list from ``name[i]``."""
    if len(slot.indexes) == len(slot.args) and slot.indexes:
        return [arg for _, arg in sorted(zip(slot.indexes, slot.args, strict=True), key=_first)]
    return list(slot.args)


def _first(pair: tuple[int, RawArg]) -> int:
    return pair[0]


def _elements(args: list[RawArg], *, split: bool) -> list[tuple[RawArg, Any]]:
    """Values of a field; one comma-joined string is split for a DEFAULT list, as Spring does."""
    if split and len(args) == 1 and isinstance(args[0].value, str):
        tokens = [java_trim(token) for token in args[0].value.split(",")]
        return [(args[0], token) for token in tokens if token]
    return [(arg, arg.value) for arg in args]
