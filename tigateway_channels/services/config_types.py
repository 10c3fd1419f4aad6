"""The registry of config types: the built-in ones and the project's.

``route_config`` is built in (``services.route_config``, registered below by import); a
project adds its own types in the ``CONFIG_TYPES`` setting, each validated by a JSON Schema or
by a callable. The registry is built once from the setting and rebuilt when a test changes
it. The contract every type keeps is ``services.config_type_base.ConfigType``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from tigateway_channels.conf import SETTING_NAME, tigw_settings
from tigateway_channels.protocol.errors import ErrorCode
from tigateway_channels.protocol.ids import CONFIG_TYPE_MAX_LENGTH, is_config_type_name
from tigateway_channels.services.config_type_base import (
    DOCUMENT_FIELD,
    ConfigType,
    config_issue,
    document_path,
)
from tigateway_channels.services.errors import validation_error
from tigateway_channels.services.route_config import RouteConfigType

# The built-in types by name; a project type may not take one of their names.
BUILTIN_TYPES: dict[str, ConfigType] = {kind.name: kind for kind in (RouteConfigType(),)}


class SchemaConfigType(ConfigType):
    """A project type whose documents must match a JSON Schema (any draft jsonschema knows)."""

    def __init__(self, name: str, schema: Mapping[str, Any]) -> None:
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for

        self.name = name
        validator_class = validator_for(schema)
        try:
            validator_class.check_schema(schema)
        except SchemaError as exc:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['CONFIG_TYPES'][{name!r}]['schema'] is not a valid JSON Schema: "
                f"{exc.message}"
            ) from None
        self._validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)

    def validate(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        errors = sorted(
            self._validator.iter_errors(document),
            key=lambda error: [str(part) for part in error.absolute_path],
        )
        return [
            config_issue(document_path(error.absolute_path), error.instance, error.message)
            for error in errors
        ]


class CallableConfigType(ConfigType):
    """A project type judged by a function of the document.

    The function returns nothing (or an empty list) when the document is valid, otherwise a
    list of problems, each a string or a ``{"field", "reason", "value"}`` dict; it may instead
    raise ``django.core.exceptions.ValidationError`` or ``ValueError``.
    """

    def __init__(self, name: str, func: Callable[[dict[str, Any]], Any]) -> None:
        self.name = name
        self._func = func

    def validate(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            problems = self._func(document)
        except DjangoValidationError as exc:
            if hasattr(exc, "error_dict"):
                return [
                    config_issue(field, None, message)
                    for field, messages in exc.message_dict.items()
                    for message in messages
                ]
            return [config_issue(DOCUMENT_FIELD, None, message) for message in exc.messages]
        except ValueError as exc:
            return [config_issue(DOCUMENT_FIELD, None, str(exc))]
        issues = []
        for problem in problems or ():
            if isinstance(problem, Mapping):
                issues.append(
                    config_issue(
                        str(problem.get("field") or DOCUMENT_FIELD),
                        problem.get("value"),
                        str(problem.get("reason", "invalid")),
                    )
                )
            else:
                issues.append(config_issue(DOCUMENT_FIELD, None, str(problem)))
        return issues


def build_config_type(name: str, spec: Any) -> ConfigType:
    """One ``CONFIG_TYPES`` entry as a config type; ``ImproperlyConfigured`` says what is wrong."""
    where = f"{SETTING_NAME}['CONFIG_TYPES'][{name!r}]"
    if not is_config_type_name(name):
        raise ImproperlyConfigured(
            f"{where}: a type name is a string of 1 to {CONFIG_TYPE_MAX_LENGTH} characters"
        )
    if name in BUILTIN_TYPES:
        raise ImproperlyConfigured(f"{where}: {name!r} is built in and cannot be redefined")
    if not isinstance(spec, Mapping) or len(set(spec) & {"schema", "validator"}) != 1:
        raise ImproperlyConfigured(
            f"{where} must be a dict with exactly one of 'schema' (a JSON Schema) or "
            "'validator' (a dotted path to a callable)"
        )
    unknown = sorted(set(spec) - {"schema", "validator"})
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown keys: {', '.join(unknown)}")
    if "schema" in spec:
        if not isinstance(spec["schema"], Mapping):
            raise ImproperlyConfigured(f"{where}['schema'] must be a JSON Schema object")
        return SchemaConfigType(name, spec["schema"])
    validator = spec["validator"]
    if isinstance(validator, str):
        try:
            validator = import_string(validator)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{where}['validator'] cannot be imported: {exc}") from None
    if not callable(validator):
        raise ImproperlyConfigured(f"{where}['validator'] must be a callable or its dotted path")
    return CallableConfigType(name, validator)


_registry: dict[str, ConfigType] | None = None


def config_types() -> dict[str, ConfigType]:
    """Every config type by name: the built-in ones, then the project's."""
    global _registry
    if _registry is None:
        declared = tigw_settings.CONFIG_TYPES
        if not isinstance(declared, Mapping):
            raise ImproperlyConfigured(f"{SETTING_NAME}['CONFIG_TYPES'] must be a dict")
        registry = dict(BUILTIN_TYPES)
        for name, spec in declared.items():
            registry[name] = build_config_type(name, spec)
        _registry = registry
    return _registry


def config_type_problems() -> list[str]:
    """What is wrong with ``CONFIG_TYPES``, for the system check."""
    declared = tigw_settings.CONFIG_TYPES
    if not isinstance(declared, Mapping):
        return [f"{SETTING_NAME}['CONFIG_TYPES'] must be a dict of type name to definition"]
    problems = []
    for name, spec in declared.items():
        try:
            build_config_type(name, spec)
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
    return problems


def stored_config_type(name: str) -> ConfigType:
    """The type of a stored config; one whose type has since left the settings keeps the
    contract's defaults, so it can still be summarised and deleted."""
    return config_types().get(name) or ConfigType()


def get_config_type(name: Any) -> ConfigType:
    types = config_types()
    if not isinstance(name, str) or name not in types:
        raise validation_error(
            ErrorCode.CONFIG_VALIDATION_ERROR,
            f"Unknown config type {str(name)[:CONFIG_TYPE_MAX_LENGTH]!r}",
            [
                config_issue(
                    "configType", name, f"unknown config type; known types: {', '.join(types)}"
                )
            ],
        )
    return types[name]


@receiver(setting_changed)
def _reset_registry(*, setting: str, **kwargs: Any) -> None:
    global _registry
    if setting == SETTING_NAME:
        _registry = None
