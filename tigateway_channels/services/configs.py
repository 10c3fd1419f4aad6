"""Gateway config rules: validate, save (create or update), roll back, delete, read.

Every writer (admin, REST, WebSocket, a shell) calls these. A change runs in one transaction
with the config row locked (``select_for_update``), so two updates expecting the same
version cannot both win. The config type validates the whole document and reports every
problem at once; only then does anything change. The model's signals (``delivery.model_signals``)
record the revision and push the ``config_update``; routes a ``route_config`` changes are
saved through ``Route.save``/``delete`` and pushed by the route signals.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from tigateway_channels.delivery.history import sequence_row
from tigateway_channels.models import (
    AUTHOR_MAX_LENGTH,
    ChangeSource,
    GatewayConfig,
    TopicSequence,
)
from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_issue
from tigateway_channels.protocol.ids import (
    CONFIG_TYPE_RULE,
    ID_MAX_LENGTH,
    IdProblem,
    id_problem,
    is_config_type_name,
)
from tigateway_channels.protocol.json_values import json_issues
from tigateway_channels.services.audit import Actor, record_change
from tigateway_channels.services.config_revisions import ConfigChange
from tigateway_channels.services.config_type_base import DOCUMENT_FIELD, ConfigType, config_issue
from tigateway_channels.services.config_types import get_config_type, stored_config_type
from tigateway_channels.services.errors import require_integer, validation_error
from tigateway_channels.services.permissions import Authorize


def _invalid(message: str, issues: list[dict[str, Any]]) -> GatewayError:
    return validation_error(ErrorCode.CONFIG_VALIDATION_ERROR, message, issues)


def _check_key(config_type: Any, config_id: Any) -> None:
    issues = []
    if not is_config_type_name(config_type):
        reason = f"must be a config type name: {CONFIG_TYPE_RULE}"
        issues.append(config_issue("configType", config_type, reason))
    problem = id_problem(config_id)
    if problem is IdProblem.CHARACTERS:
        reason = "may contain only letters, digits, - and _"
        issues.append(config_issue("configId", config_id, reason))
    elif problem is not None:
        reason = f"must be a string of 1-{ID_MAX_LENGTH} characters"
        issues.append(config_issue("configId", config_id, reason))
    if issues:
        raise _invalid("Invalid config type or id", issues)


def config_not_found(
    config_type: str, config_id: str, version: int | None = None, field: str = "version"
) -> GatewayError:
    """``field`` names the request field that asked for ``version`` (``toVersion``...)."""
    details: dict[str, Any] = {
        **field_issue("configId", config_id, f"no {config_type} config has this id"),
        "configType": config_type,
        "configId": config_id,
    }
    what = f"Config {config_type}/{config_id}"
    if version is not None:
        details.update(
            field=field,
            value=version,
            version=version,
            reason="no such version is kept (it never existed or was pruned)",
        )
        what += f" at version {version}"
    return GatewayError(ErrorCode.CONFIG_NOT_FOUND, f"{what} not found", details)


def _check_version(
    config: GatewayConfig | None, config_type: str, config_id: str, expected: Any
) -> None:
    """``expected`` 0 means "must not exist yet"; any other number must be the current one."""
    if expected is None:
        return
    require_integer("version", expected)
    current = config.version if config is not None else 0
    if expected == current:
        return
    if config is None:
        raise config_not_found(config_type, config_id)
    raise GatewayError(
        ErrorCode.VERSION_CONFLICT,
        f"Config {config_type}/{config_id} was changed by someone else (now at version {current})",
        {
            **field_issue(
                "version", expected, f"the config is at version {current}; reload it and try again"
            ),
            "configType": config_type,
            "configId": config_id,
            "expectedVersion": expected,
            "currentVersion": current,
        },
    )


def _locked_config(config_type: str, config_id: str) -> GatewayConfig | None:
    return (
        GatewayConfig.objects.select_for_update()
        .filter(config_type=config_type, config_id=config_id)
        .first()
    )


def _locked_existing(
    config_type: str, config_id: str, expected_version: Any, authorize: Authorize | None
) -> GatewayConfig:
    """The config row, locked, for a change of an existing config (rollback, delete)."""
    config = _locked_config(config_type, config_id)
    if config is None:
        raise config_not_found(config_type, config_id)
    if authorize is not None:
        authorize(False)
    _check_version(config, config_type, config_id, expected_version)
    return config


def _stored_config(config_type: Any, config_id: Any, version: Any = None) -> GatewayConfig:
    """The config to read; ``version`` is the one asked for, named if it is not found."""
    _check_key(config_type, config_id)
    config = GatewayConfig.objects.filter(config_type=config_type, config_id=config_id).first()
    if config is None:
        raise config_not_found(config_type, config_id, version)
    return config


def _hold_config_topic() -> None:
    """Lock the ``config`` topic's sequence before any route's, as a save does.

    A save locks the ``config`` sequence (its notification) and then the ``routes`` one (its
    route changes); a delete must remove the routes before the config (PROTECT), so without
    this it would take them the other way round and could deadlock with a concurrent save.
    """
    sequence_row("config")
    TopicSequence.objects.select_for_update().get(topic="config")


def _author(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return str(user.get_username())[:AUTHOR_MAX_LENGTH]


def _without_id(config_id: str, document: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The document without its ``id``, and the problem with that id if there is one.

    Configs go out with their id inside the document (docs/protocol.md §7), so a document
    taken from a ``config_get`` or a notification may carry it back: the same id is no change
    and is not stored; another one is an error, since a config's id is its key and cannot change.
    """
    if not isinstance(document, dict) or "id" not in document:
        return document, []
    given = document["id"]
    rest = {key: value for key, value in document.items() if key != "id"}
    if given == config_id:
        return rest, []
    reason = (
        f"the document's id must be its configId {config_id!r} (or be left out); "
        "a config's id cannot change"
    )
    return rest, [config_issue("id", given, reason)]


def _validate(
    kind: ConfigType,
    config: GatewayConfig | None,
    document: Any,
    adopt_routes: bool,
    issues: list[dict[str, Any]] | None = None,
) -> None:
    """Every problem at once: ``issues`` found by the caller first, then the type's."""
    issues = list(issues or ())
    if not isinstance(document, dict):
        issues.append(config_issue(DOCUMENT_FIELD, document, "a config must be a JSON object"))
    elif unstorable := json_issues(document, ""):
        # What no config type may see: a validator could not walk it, the database and the
        # encoder could not take it.
        issues += unstorable
    else:
        issues += kind.validate(document)
        issues += kind.check_state(config, document, adopt_routes=adopt_routes)
    if issues:
        raise _invalid(f"{kind.name} config is invalid", issues)


def _store(
    kind: ConfigType,
    config: GatewayConfig | None,
    key: tuple[str, str],
    document: dict[str, Any],
    change: ConfigChange,
    adopt_routes: bool,
    actor: Actor,
) -> GatewayConfig:
    if config is None:
        config = GatewayConfig(config_type=key[0], config_id=key[1])
    config.document = document
    config.updated_by = change.author
    config._config_change = change  # read by delivery.model_signals
    config.actor = actor
    if config._state.adding:
        try:
            with transaction.atomic():
                config.save(force_insert=True)
        except IntegrityError:
            if not GatewayConfig.objects.filter(config_type=key[0], config_id=key[1]).exists():
                raise
            raise GatewayError(
                ErrorCode.VERSION_CONFLICT,
                f"Config {key[0]}/{key[1]} was created by someone else at the same time",
                {
                    **field_issue(
                        "configId", key[1], "created by another request at the same time; reload it"
                    ),
                    "configType": key[0],
                    "configId": key[1],
                    "expectedVersion": 0,
                },
            ) from None
    else:
        config.save()
    kind.apply(config, document, adopt_routes=adopt_routes)
    detail = f"version {config.version}"
    if change.restored_from is not None:
        detail += f", the document of version {change.restored_from.version}"
    record_change(actor, config, change.action, detail)
    return config


def validate_config(
    config_type: Any, config_id: Any, document: Any, *, adopt_routes: bool = False
) -> None:
    """The full validation of a save, stored state included, without changing anything."""
    _check_key(config_type, config_id)
    kind = get_config_type(config_type)
    document, id_issues = _without_id(config_id, document)
    with transaction.atomic():
        config = _locked_config(config_type, config_id)
        _validate(kind, config, document, adopt_routes, id_issues)


def save_config(
    config_type: Any,
    config_id: Any,
    document: Any,
    *,
    expected_version: Any = None,
    user: Any = None,
    source: str = ChangeSource.SHELL,
    adopt_routes: bool = False,
    authorize: Authorize | None = None,
) -> GatewayConfig:
    """Create or replace a config's document and apply it; all or nothing.

    A document equal to the stored one is no new version: the config type still re-applies
    it (a ``route_config`` puts back routes changed behind its back) and the config is
    returned as it is. The document may carry its own ``id`` (as configs are sent): it must
    be ``config_id`` and is not stored.
    """
    _check_key(config_type, config_id)
    document, id_issues = _without_id(config_id, document)
    with transaction.atomic():
        config = _locked_config(config_type, config_id)
        if authorize is not None:
            authorize(config is None)
        kind = get_config_type(config_type)
        _check_version(config, config_type, config_id, expected_version)
        _validate(kind, config, document, adopt_routes, id_issues)
        if config is not None and config.document == document:
            kind.apply(config, document, adopt_routes=adopt_routes)
            return config
        action = "created" if config is None else "updated"
        change = ConfigChange(action, source, _author(user))
        key = (config_type, config_id)
        return _store(kind, config, key, document, change, adopt_routes, Actor(user, source))


def rollback_config(
    config_type: Any,
    config_id: Any,
    to_version: Any,
    *,
    expected_version: Any = None,
    user: Any = None,
    source: str = ChangeSource.SHELL,
    authorize: Authorize | None = None,
) -> GatewayConfig:
    """Save a kept revision's document again, as a new version through the same checks."""
    _check_key(config_type, config_id)
    require_integer("toVersion", to_version)
    with transaction.atomic():
        config = _locked_existing(config_type, config_id, expected_version, authorize)
        revision = config.revisions.filter(version=to_version).first()
        if revision is None:
            raise config_not_found(config_type, config_id, to_version, field="toVersion")
        kind = get_config_type(config_type)
        _validate(kind, config, revision.document, adopt_routes=False)
        change = ConfigChange("rolled_back", source, _author(user), restored_from=revision)
        key = (config_type, config_id)
        actor = Actor(user, source)
        return _store(kind, config, key, revision.document, change, False, actor)


def delete_config(
    config_type: Any,
    config_id: Any,
    *,
    expected_version: Any = None,
    user: Any = None,
    source: str = ChangeSource.SHELL,
    authorize: Authorize | None = None,
) -> dict[str, Any]:
    """Delete a config, its history and (``route_config``) its routes; return it as it was."""
    _check_key(config_type, config_id)
    with transaction.atomic():
        config = _locked_existing(config_type, config_id, expected_version, authorize)
        last = config.to_message()
        config.actor = Actor(user, source)
        record_change(config.actor, config, "deleted", f"version {config.version}")
        kind = stored_config_type(config_type)
        _hold_config_topic()
        kind.remove(config)
        config.delete()
    return last


def get_config(config_type: Any, config_id: Any, version: Any = None) -> dict[str, Any]:
    """The config as it is, or as it was at a kept ``version``."""
    config = _stored_config(config_type, config_id, version)
    if version is None:
        return config.to_message()
    require_integer("version", version)
    revision = config.revisions.filter(version=version).first()
    if revision is None:
        raise config_not_found(config_type, config_id, version)
    revision.config = config
    return revision.to_message()


def list_revisions(config_type: Any, config_id: Any) -> list[dict[str, Any]]:
    """The kept revisions of a config, newest first, without their documents."""
    config = _stored_config(config_type, config_id)
    revisions = config.revisions.select_related("restored_from").order_by("-version")
    return [revision.to_summary() for revision in revisions]


def config_snapshot(config_type: str | None = None) -> list[dict[str, Any]]:
    """Every config (of one type, if given) as the wire carries it, for resynchronising."""
    configs = GatewayConfig.objects.order_by("config_type", "config_id")
    if config_type is not None:
        if not is_config_type_name(config_type):
            reason = f"must be a config type name: {CONFIG_TYPE_RULE}"
            raise _invalid("Invalid config type", [config_issue("configType", config_type, reason)])
        configs = configs.filter(config_type=config_type)
    return [config.to_message() for config in configs]
