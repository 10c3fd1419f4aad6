"""The GatewayConfig admin: service validation shown by path, history with diffs, rollback
buttons that are POST-only, CSRF-protected and permission-checked, and pushed changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.test import Client
from django.urls import reverse

from tigateway_channels.models import GatewayConfig, OutboxMessage, Route
from tigateway_channels.services import configs as config_service
from tigateway_channels.services.routes import create_route

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:tigateway_channels_gatewayconfig_changelist"
ADD = "admin:tigateway_channels_gatewayconfig_add"
CHANGE = "admin:tigateway_channels_gatewayconfig_change"
DELETE = "admin:tigateway_channels_gatewayconfig_delete"
REVISIONS = "admin:tigateway_channels_gatewayconfig_revisions"
ROLLBACK = "admin:tigateway_channels_gatewayconfig_rollback"


def route(route_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": route_id, "uri": f"http://{route_id}.internal", **fields}


def config_form(document: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "config_type": "route_config",
        "config_id": "users",
        "document": json.dumps(document),
    }
    data.update(overrides)
    return data


def save(config_id: str, document: dict[str, Any]) -> GatewayConfig:
    return config_service.save_config("route_config", config_id, document)


def config_messages() -> list[dict[str, Any]]:
    return [
        orjson.loads(m.frame) for m in OutboxMessage.objects.filter(topic="config").order_by("id")
    ]


@pytest.fixture
def staff_without_rollback(make_user: Callable[..., Any]) -> Client:
    user = make_user("editor", "view_gatewayconfig", "change_gatewayconfig")
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_changelist_filters_by_type_and_searches_by_id(admin_client: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"CONFIG_TYPES": {"flags": {"schema": {"type": "object"}}}}
    save("users", {"routes": []})
    save("orders", {"routes": []})
    config_service.save_config("flags", "users-flags", {})

    by_type = admin_client.get(reverse(CHANGELIST), {"config_type": "flags"})
    by_id = admin_client.get(reverse(CHANGELIST), {"q": "orders"})

    assert [c.config_id for c in by_type.context["cl"].result_list] == ["users-flags"]
    assert [c.config_id for c in by_id.context["cl"].result_list] == ["orders"]


def test_add_form_saves_through_the_service_and_pushes(admin_client: Any) -> None:
    response = admin_client.post(reverse(ADD), config_form({"routes": [route("users")]}))

    assert response.status_code == 302, response.context["adminform"].form.errors
    config = GatewayConfig.objects.get()
    revision = config.revisions.get()
    assert (revision.source, revision.author) == ("admin", "admin")
    assert Route.objects.get(pk="users").owner_config == config
    assert [m["data"]["action"] for m in config_messages()] == ["created"]


def test_add_form_shows_every_problem_with_its_path(admin_client: Any) -> None:
    document = {
        "routes": [route("ok"), route("bad", predicates=["Nope=/x"]), {"id": "no-uri"}],
        "globalFilters": ["StripPrefix=1", "Bogus=2"],
    }

    response = admin_client.post(reverse(ADD), config_form(document))

    errors = response.context["adminform"].form.errors
    assert response.status_code == 200
    assert list(errors) == ["document"]
    assert [e.split(":")[0] for e in errors["document"]] == [
        "routes[1].predicates[0]",
        "routes[2].uri",
        "globalFilters[1]",
    ]
    assert not GatewayConfig.objects.exists() and not Route.objects.exists()


def test_add_form_shows_ownership_conflicts_and_bad_json(admin_client: Any) -> None:
    save("first", {"routes": [route("shared")]})

    taken = admin_client.post(
        reverse(ADD), config_form({"routes": [route("shared")]}, config_id="second")
    )
    bad_json = admin_client.post(reverse(ADD), {**config_form({}), "document": "{not json"})

    taken_errors = taken.context["adminform"].form.errors["document"]
    assert "routes[0].id" in taken_errors[0] and "route_config/first" in taken_errors[0]
    assert list(bad_json.context["adminform"].form.errors) == ["document"]
    assert GatewayConfig.objects.count() == 1


def test_add_form_can_adopt_an_unowned_route(admin_client: Any) -> None:
    create_route(route("standalone"))
    document = {"routes": [route("standalone")]}

    refused = admin_client.post(reverse(ADD), config_form(document))
    adopted = admin_client.post(reverse(ADD), config_form(document, adopt_routes="on"))

    assert "adoptRoutes" in refused.context["adminform"].form.errors["document"][0]
    assert adopted.status_code == 302
    assert Route.objects.get(pk="standalone").owner_config is not None


def test_change_form_updates_and_refuses_a_stale_edit(admin_client: Any) -> None:
    config = save("users", {"routes": [route("users")]})
    url = reverse(CHANGE, args=[config.pk])
    page = admin_client.get(url)
    assert page.context["adminform"].form["expected_version"].value() == 1
    assert reverse(REVISIONS, args=[config.pk]) in page.content.decode()

    saved = admin_client.post(
        url, {"document": json.dumps({"routes": [route("users", order=4)]}), "expected_version": 1}
    )
    stale = admin_client.post(url, {"document": json.dumps({"routes": []}), "expected_version": 1})

    assert saved.status_code == 302
    assert Route.objects.get(pk="users").order == 4
    assert "Someone else changed this config" in str(stale.context["adminform"].form.errors)
    assert GatewayConfig.objects.get().version == 2


def test_revisions_page_lists_history_and_diffs_any_two_versions(admin_client: Any) -> None:
    save("users", {"routes": [route("users")]})
    save("users", {"routes": [route("users", order=7)]})
    config = save("users", {"routes": [route("users", order=7), route("orders")]})

    default = admin_client.get(reverse(REVISIONS, args=[config.pk]))
    chosen = admin_client.get(reverse(REVISIONS, args=[config.pk]), {"from": 1, "to": 3})

    assert [r.version for r in default.context["revisions"]] == [3, 2, 1]
    assert (default.context["old"].version, default.context["new"].version) == (2, 3)
    assert "+" in default.context["unified_diff"] and "orders" in default.context["unified_diff"]
    assert (chosen.context["old"].version, chosen.context["new"].version) == (1, 3)
    assert '"order": 7' in chosen.context["unified_diff"]
    html = chosen.content.decode()
    assert 'class="diff"' in html and "Roll back to version 1" in html


def test_rollback_button_rolls_back_as_a_new_version(admin_client: Any) -> None:
    save("users", {"routes": [route("users"), route("orders")]})
    config = save("users", {"routes": [route("users")]})

    response = admin_client.post(
        reverse(ROLLBACK, args=[config.pk]), {"to_version": 1, "expected_version": 2}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse(REVISIONS, args=[config.pk])
    config.refresh_from_db()
    assert config.version == 3
    assert sorted(Route.objects.values_list("pk", flat=True)) == ["orders", "users"]
    assert config.revisions.get(version=3).source == "admin"
    assert config_messages()[-1]["data"]["action"] == "rolled_back"


def test_rollback_reports_a_stale_page_instead_of_rolling_back(admin_client: Any) -> None:
    save("users", {"routes": []})
    config = save("users", {"routes": [route("users")]})

    response = admin_client.post(
        reverse(ROLLBACK, args=[config.pk]), {"to_version": 1, "expected_version": 1}, follow=True
    )

    assert "changed by someone else" in response.content.decode()
    assert GatewayConfig.objects.get().version == 2


def test_rollback_is_post_only_csrf_protected_and_needs_permission(
    admin_user: Any, staff_without_rollback: Client
) -> None:
    save("users", {"routes": []})
    config = save("users", {"routes": [route("users")]})
    url = reverse(ROLLBACK, args=[config.pk])
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(admin_user)

    as_get = csrf_client.get(url, {"to_version": 1})
    no_token = csrf_client.post(url, {"to_version": 1})
    no_permission = staff_without_rollback.post(url, {"to_version": 1})
    page = staff_without_rollback.get(reverse(REVISIONS, args=[config.pk]))

    assert as_get.status_code == 405
    assert no_token.status_code == 403
    assert no_permission.status_code == 403
    assert "Roll back to version" not in page.content.decode()
    assert GatewayConfig.objects.get().version == 2


def test_admin_delete_removes_the_config_and_its_routes(admin_client: Any) -> None:
    config = save("users", {"routes": [route("users"), route("orders")]})
    url = reverse(DELETE, args=[config.pk])

    confirm = admin_client.get(url)
    response = admin_client.post(url, {"post": "yes"})

    assert confirm.status_code == 200
    assert not confirm.context["protected"]
    assert "route: orders" in confirm.content.decode()
    assert response.status_code == 302
    assert not GatewayConfig.objects.exists() and not Route.objects.exists()
    assert config_messages()[-1]["data"]["action"] == "deleted"


def test_admin_bulk_delete_goes_config_by_config(admin_client: Any) -> None:
    first = save("first", {"routes": [route("a")]})
    second = save("second", {"routes": [route("b")]})

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not GatewayConfig.objects.exists() and not Route.objects.exists()


def test_revisions_diff_escapes_the_documents(admin_client: Any, settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"CONFIG_TYPES": {"notes": {"schema": {"type": "object"}}}}
    config_service.save_config("notes", "n", {"text": "plain"})
    config = config_service.save_config("notes", "n", {"text": "<script>alert(1)</script>"})

    html = admin_client.get(reverse(REVISIONS, args=[config.pk])).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_rollback_that_breaks_a_rule_shows_why_and_changes_nothing(admin_client: Any) -> None:
    save("users", {"routes": [route("users")]})
    config = save("users", {"routes": []})
    save("other", {"routes": [route("users")]})

    response = admin_client.post(
        reverse(ROLLBACK, args=[config.pk]), {"to_version": 1}, follow=True
    )

    assert "routes[0].id: route &#x27;users&#x27; is owned by config route_config/other" in (
        response.content.decode()
    )
    assert GatewayConfig.objects.get(config_id="users").version == 2
