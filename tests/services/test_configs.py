"""The config service: validation of a whole route_config at once, apply, ownership, history,
retention, rollback, optimistic locking, the type registry and the pushed notifications."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.core.checks import run_checks
from django.core.exceptions import ValidationError

from tigateway_channels.models import (
    GatewayConfig,
    GatewayConfigRevision,
    OutboxMessage,
    Route,
)
from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.services import configs as config_service
from tigateway_channels.services.routes import create_route, update_route

pytestmark = pytest.mark.django_db

RATE_LIMIT_SCHEMA = {
    "type": "object",
    "properties": {
        "limits": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "rate": {"type": "integer"}},
                "required": ["path", "rate"],
            },
        }
    },
    "required": ["limits"],
    "additionalProperties": False,
}


def check_feature_flags(document: dict[str, Any]) -> list[Any]:
    """A callable validator, registered by dotted path in the tests below."""
    problems: list[Any] = []
    for name, value in document.items():
        if not isinstance(value, bool):
            problems.append({"field": name, "value": value, "reason": "a flag is true or false"})
    if "kill-switch" in document and len(document) > 1:
        raise ValidationError("kill-switch must be the only flag")
    return problems


def route(route_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": route_id,
        "uri": f"http://{route_id}.internal:8080",
        "predicates": [f"Path=/api/{route_id}/**"],
        **fields,
    }


def save(config_id: str, document: Any, **kwargs: Any) -> GatewayConfig:
    return config_service.save_config("route_config", config_id, document, **kwargs)


def failure(call: Any, *args: Any, **kwargs: Any) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        call(*args, **kwargs)
    return caught.value


def topic_messages(topic: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(message.frame)
        for message in OutboxMessage.objects.filter(topic=topic).order_by("offset")
    ]


def route_ids() -> list[str]:
    return sorted(Route.objects.values_list("pk", flat=True))


def test_route_config_creates_owned_routes_with_route_defaults() -> None:
    config = save("users", {"routes": [route("users"), route("orders", order=5)]})

    users, orders = Route.objects.get(pk="users"), Route.objects.get(pk="orders")
    assert config.version == 1
    assert users.owner_config == config and orders.owner_config == config
    assert (users.status, users.order, users.filters, users.metadata) == ("ACTIVE", 0, [], {})
    assert orders.order == 5
    assert users.predicates == ["Path=/api/users/**"]


def test_one_bad_route_among_ten_changes_nothing_and_reports_its_path() -> None:
    save("fleet", {"routes": [route(f"r{i}") for i in range(10)]})
    before = {r.pk: r.version for r in Route.objects.all()}
    routes = [route(f"r{i}", order=i) for i in range(10)]
    routes[7]["predicates"] = ["Path=/ok/**", "NoSuchPredicate=/x"]

    error = failure(save, "fleet", {"routes": routes})

    assert error.code == ErrorCode.CONFIG_VALIDATION_ERROR
    assert error.details["field"] == "routes[7].predicates[1]"
    assert {r.pk: r.version for r in Route.objects.all()} == before
    assert GatewayConfig.objects.get(config_id="fleet").version == 1


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    document = {
        "routes": [
            route("good"),
            {"id": "no-uri"},
            route("bad-predicate", predicates=["Path"]),
            route("good"),
        ],
        "globalFilters": [
            {"name": "AddRequestHeader", "args": {"name": "X-Gateway", "value": "TiGateway"}},
            "NoSuchFilter=1",
        ],
        "extra": True,
    }

    error = failure(save, "many", document)

    fields = [issue["field"] for issue in error.details["errors"]]
    assert fields == [
        "extra",
        "routes[1].uri",
        "routes[2].predicates[0]",
        "routes[3].id",
        "globalFilters[1]",
    ]
    assert error.details["field"] == "extra"
    assert not GatewayConfig.objects.exists() and not Route.objects.exists()


def test_update_changes_listed_routes_and_removes_unlisted_ones() -> None:
    save("users", {"routes": [route("users"), route("legacy")]})

    config = save("users", {"routes": [route("users", order=3), route("new")]}, expected_version=1)

    assert config.version == 2
    assert route_ids() == ["new", "users"]
    assert Route.objects.get(pk="users").order == 3
    assert Route.objects.get(pk="users").version == 2
    actions = [(m["data"]["action"], m["data"]["route"]["id"]) for m in topic_messages("routes")]
    assert actions[2:] == [("deleted", "legacy"), ("updated", "users"), ("created", "new")]


def test_unchanged_route_is_not_saved_again() -> None:
    save("users", {"routes": [route("users"), route("orders")]})
    save("users", {"routes": [route("users"), route("orders", order=1)]})

    assert Route.objects.get(pk="users").version == 1
    assert Route.objects.get(pk="orders").version == 2


def test_route_owned_by_another_config_cannot_be_taken_over() -> None:
    save("first", {"routes": [route("shared")]})

    error = failure(save, "second", {"routes": [route("mine"), route("shared")]})

    assert error.code == ErrorCode.CONFIG_VALIDATION_ERROR
    assert error.details["field"] == "routes[1].id"
    assert "owned by config route_config/first" in error.details["reason"]
    assert Route.objects.get(pk="shared").owner_config.config_id == "first"
    assert not GatewayConfig.objects.filter(config_id="second").exists()
    assert route_ids() == ["shared"]


def test_existing_unowned_route_is_an_error_unless_adopted() -> None:
    create_route(route("standalone"))

    error = failure(save, "users", {"routes": [route("standalone")]})
    assert error.details["field"] == "routes[0].id"
    assert "adoptRoutes" in error.details["reason"]

    config = save("users", {"routes": [route("standalone", order=2)]}, adopt_routes=True)
    adopted = Route.objects.get(pk="standalone")
    assert adopted.owner_config == config
    assert (adopted.order, adopted.version) == (2, 2)


def test_adopting_never_takes_a_route_owned_by_another_config() -> None:
    save("first", {"routes": [route("shared")]})

    error = failure(save, "second", {"routes": [route("shared")]}, adopt_routes=True)

    assert "owned by config route_config/first" in error.details["reason"]


def test_deleting_a_config_deletes_its_routes_and_pushes_each() -> None:
    save("users", {"routes": [route("users"), route("orders")]})
    create_route(route("standalone"))

    last = config_service.delete_config("route_config", "users")

    assert last["version"] == 1
    assert route_ids() == ["standalone"]
    assert not GatewayConfigRevision.objects.exists()
    deleted = [m["data"]["route"]["id"] for m in topic_messages("routes")][-2:]
    assert sorted(deleted) == ["orders", "users"]
    assert topic_messages("config")[-1]["data"]["action"] == "deleted"


def test_a_config_that_owns_routes_cannot_be_deleted_behind_the_services_back() -> None:
    from django.db.models import ProtectedError

    config = save("users", {"routes": [route("users")]})

    with pytest.raises(ProtectedError):
        config.delete()


def test_rollback_restores_the_document_and_routes_as_a_new_revision() -> None:
    save("users", {"routes": [route("users"), route("orders")]})
    save("users", {"routes": [route("users", uri="http://users-v2.internal")]})

    config = config_service.rollback_config("route_config", "users", 1, expected_version=2)

    assert config.version == 3
    assert route_ids() == ["orders", "users"]
    assert Route.objects.get(pk="users").uri == "http://users.internal:8080"
    latest = config.revisions.get(version=3)
    assert latest.action == "rolled_back"
    assert latest.restored_from.version == 1
    assert latest.summary.startswith("rolled back to version 1")
    assert [r.version for r in config.revisions.all()] == [3, 2, 1]
    assert topic_messages("config")[-1]["data"]["action"] == "rolled_back"


def test_rollback_is_validated_like_any_change() -> None:
    save("users", {"routes": [route("users")]})
    save("users", {"routes": []})
    save("other", {"routes": [route("users")]})

    error = failure(config_service.rollback_config, "route_config", "users", 1)

    assert error.code == ErrorCode.CONFIG_VALIDATION_ERROR
    assert "owned by config route_config/other" in error.details["reason"]
    assert GatewayConfig.objects.get(config_id="users").version == 2


def test_rollback_to_a_missing_version_is_config_not_found() -> None:
    save("users", {"routes": []})

    error = failure(config_service.rollback_config, "route_config", "users", 7)

    assert error.code == ErrorCode.CONFIG_NOT_FOUND
    assert error.details["version"] == 7


def test_stale_expected_version_is_a_version_conflict_and_changes_nothing() -> None:
    save("users", {"routes": [route("users")]})
    save("users", {"routes": [route("users", order=1)]})

    error = failure(save, "users", {"routes": []}, expected_version=1)

    assert error.code == ErrorCode.VERSION_CONFLICT
    assert error.details == {
        "field": "version",
        "value": 1,
        "reason": "the config is at version 2; reload it and try again",
        "configType": "route_config",
        "configId": "users",
        "expectedVersion": 1,
        "currentVersion": 2,
    }
    assert route_ids() == ["users"]


def test_expected_version_zero_creates_only() -> None:
    save("users", {"routes": []}, expected_version=0)

    error = failure(save, "users", {"routes": [route("x")]}, expected_version=0)

    assert error.code == ErrorCode.VERSION_CONFLICT


def test_identical_document_is_not_a_new_version_but_repairs_drifted_routes() -> None:
    document = {"routes": [route("users")]}
    save("users", document)
    update_route("users", {"order": 42})

    config = save("users", document)

    assert config.version == 1
    assert Route.objects.get(pk="users").order == 0


def test_unknown_config_type_is_a_validation_error() -> None:
    error = failure(config_service.save_config, "no_such_type", "x", {})

    assert error.code == ErrorCode.CONFIG_VALIDATION_ERROR
    assert error.details["field"] == "configType"
    assert "route_config" in error.details["reason"]


def test_invalid_config_id_and_non_object_document_are_validation_errors() -> None:
    assert failure(save, "has spaces", {}).details["field"] == "configId"
    assert failure(save, "users", ["not", "an", "object"]).details["field"] == "config"


def test_schema_config_type_validates_stores_and_keeps_history(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"CONFIG_TYPES": {"rate_limits": {"schema": RATE_LIMIT_SCHEMA}}}
    bad = {"limits": [{"path": "/a", "rate": "fast"}, {"rate": 3}], "x": 1}

    error = failure(config_service.save_config, "rate_limits", "default", bad)
    good = config_service.save_config(
        "rate_limits", "default", {"limits": [{"path": "/a", "rate": 5}]}
    )
    config_service.save_config("rate_limits", "default", {"limits": []})
    rolled = config_service.rollback_config("rate_limits", "default", 1)

    fields = {issue["field"] for issue in error.details["errors"]}
    assert fields == {"config", "limits[0].rate", "limits[1]"}
    assert good.version == 1
    assert rolled.version == 3 and rolled.document == {"limits": [{"path": "/a", "rate": 5}]}
    assert not Route.objects.exists()


def test_callable_config_type_reports_its_problems(settings: Any) -> None:
    validator = f"{__name__}.check_feature_flags"
    settings.TIGATEWAY_CHANNELS = {"CONFIG_TYPES": {"flags": {"validator": validator}}}

    listed = failure(config_service.save_config, "flags", "web", {"beta": "yes", "dark": 1})
    raised = failure(config_service.save_config, "flags", "web", {"kill-switch": True, "b": True})
    config = config_service.save_config("flags", "web", {"beta": True})

    assert [i["field"] for i in listed.details["errors"]] == ["beta", "dark"]
    assert raised.details["reason"] == "kill-switch must be the only flag"
    assert config.to_message()["config"] == {"id": "web", "beta": True}


def test_bad_config_types_setting_is_a_system_check_error(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {
        "CONFIG_TYPES": {
            "route_config": {"schema": {}},
            "broken": {"schema": {"type": 12}},
            "missing": {"validator": "no.such.module.check"},
            "both": {"schema": {}, "validator": "x"},
        },
        "CONFIG_REVISIONS_KEPT": 0,
    }

    messages = [m for m in run_checks() if m.id and m.id.startswith("tigateway_channels")]

    assert [m.id for m in messages].count("tigateway_channels.E014") == 4
    assert "tigateway_channels.E012" in [m.id for m in messages]


def test_retention_keeps_the_latest_and_any_revision_a_kept_rollback_restored(
    settings: Any,
) -> None:
    settings.TIGATEWAY_CHANNELS = {"CONFIG_REVISIONS_KEPT": 3}
    for order in range(5):  # versions 1-5
        save("users", {"routes": [route("users", order=order)]})
    config_service.rollback_config("route_config", "users", 4)  # 6 restores 4
    for order in range(10, 12):  # 7, 8
        save("users", {"routes": [route("users", order=order)]})

    kept = list(GatewayConfigRevision.objects.order_by("version").values_list("version", flat=True))
    assert kept == [4, 6, 7, 8]  # 6 is within the last three and still points at 4

    save("users", {"routes": [route("users", order=99)]})  # 9: 6 drops out, so 4 may go
    kept = list(GatewayConfigRevision.objects.order_by("version").values_list("version", flat=True))
    assert kept == [7, 8, 9]


def test_retention_of_one_keeps_only_the_latest(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"CONFIG_REVISIONS_KEPT": 1}
    for order in range(3):
        save("users", {"routes": [route("users", order=order)]})

    assert list(GatewayConfigRevision.objects.values_list("version", flat=True)) == [3]
    assert failure(config_service.get_config, "route_config", "users", 1).details["version"] == 1


def test_revisions_record_author_source_and_summary(make_user: Any) -> None:
    alice = make_user("alice")
    save("users", {"routes": [route("users"), route("legacy")]}, user=alice, source="admin")
    save("users", {"routes": [route("users", order=1), route("new")]}, user=alice, source="rest")

    revisions = config_service.list_revisions("route_config", "users")

    assert [(r["version"], r["author"], r["source"]) for r in revisions] == [
        (2, "alice", "rest"),
        (1, "alice", "admin"),
    ]
    assert revisions[1]["summary"] == "created with 2 route(s)"
    assert revisions[0]["summary"] == (
        "added route(s) new; changed route(s) users; removed route(s) legacy"
    )
    assert GatewayConfig.objects.get().updated_by == "alice"


def test_get_config_returns_the_current_or_a_kept_version() -> None:
    save("users", {"routes": [route("users")]})
    save("users", {"routes": []})

    current = config_service.get_config("route_config", "users")
    first = config_service.get_config("route_config", "users", 1)

    assert current["version"] == 2 and current["config"] == {"id": "users", "routes": []}
    assert first["version"] == 1
    assert first["config"] == {"id": "users", "routes": [route("users")]}
    assert (
        set(first)
        == set(current)
        == {
            "configType",
            "configId",
            "version",
            "createdAt",
            "updatedAt",
            "updatedBy",
            "config",
        }
    )


def test_missing_config_is_config_not_found_with_its_key() -> None:
    error = failure(config_service.get_config, "route_config", "nope")

    assert error.code == ErrorCode.CONFIG_NOT_FOUND
    assert error.details == {
        "field": "configId",
        "value": "nope",
        "reason": "no route_config config has this id",
        "configType": "route_config",
        "configId": "nope",
    }


def test_every_change_records_a_config_update_with_filter_attributes() -> None:
    save("users", {"routes": []})
    save("users", {"routes": [route("users")]})
    config_service.rollback_config("route_config", "users", 1)
    config_service.delete_config("route_config", "users")

    messages = topic_messages("config")
    assert [m["data"]["action"] for m in messages] == [
        "created",
        "updated",
        "rolled_back",
        "deleted",
    ]
    assert all(m["type"] == "config_update" for m in messages)
    assert messages[2]["data"]["version"] == 3
    assert messages[0]["data"]["configType"] == "route_config"
    outbox = OutboxMessage.objects.filter(topic="config").first()
    assert outbox.attrs == {"configType": ["route_config"], "configId": ["users"]}


def test_plain_orm_save_is_recorded_as_a_shell_revision_and_pushed() -> None:
    config = save("users", {"routes": []})
    config.document = {"routes": [], "globalFilters": []}
    config.save()

    revision = config.revisions.get(version=2)
    assert (revision.source, revision.action) == ("shell", "updated")
    assert topic_messages("config")[-1]["data"]["version"] == 2


def test_dry_run_validation_changes_nothing() -> None:
    save("first", {"routes": [route("shared")]})

    config_service.validate_config("route_config", "second", {"routes": [route("x")]})
    error = failure(
        config_service.validate_config, "route_config", "second", {"routes": [route("shared")]}
    )

    assert error.code == ErrorCode.CONFIG_VALIDATION_ERROR
    assert not GatewayConfig.objects.filter(config_id="second").exists()
    assert route_ids() == ["shared"]


def test_config_snapshot_lists_every_config_or_one_type(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"CONFIG_TYPES": {"flags": {"schema": {"type": "object"}}}}
    save("b", {"routes": []})
    save("a", {"routes": []})
    config_service.save_config("flags", "web", {"beta": True})

    everything = config_service.config_snapshot()
    routes_only = config_service.config_snapshot("route_config")

    assert [(c["configType"], c["configId"]) for c in everything] == [
        ("flags", "web"),
        ("route_config", "a"),
        ("route_config", "b"),
    ]
    assert [c["configId"] for c in routes_only] == ["a", "b"]
