"""The Route admin: service validation on the right fields, saves and deletes that are pushed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models.signals import post_delete
from django.urls import reverse

from tigateway_channels.models import OutboxMessage, Route, RouteStatus
from tigateway_channels.services.routes import create_route, update_route

CHANGELIST = "admin:tigateway_channels_route_changelist"
ADD = "admin:tigateway_channels_route_add"
CHANGE = "admin:tigateway_channels_route_change"


def route_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "users",
        "uri": "http://users.internal:8080",
        "status": "ACTIVE",
        "order": "0",
        "predicates": json.dumps(["Path=/api/users/**"]),
        "filters": json.dumps([]),
        "metadata": json.dumps({}),
    }
    data.update(overrides)
    return data


def make_route(route_id: str, **fields: Any) -> Route:
    return create_route(
        {"id": route_id, "uri": f"http://{route_id}.internal", "predicates": [], **fields}
    )


def changelist_ids(response: Any) -> list[str]:
    return [route.id for route in response.context["cl"].result_list]


@pytest.fixture
def deleted_route_ids() -> Iterator[list[str]]:
    """Ids of routes whose post_delete signal fired, in order."""
    seen: list[str] = []

    def receiver(sender: Any, instance: Route, **kwargs: Any) -> None:
        seen.append(instance.id)

    post_delete.connect(receiver, sender=Route, weak=False)
    yield seen
    post_delete.disconnect(receiver, sender=Route)


def test_admin_changelist_searches_id_uri_and_predicates(admin_client: Any) -> None:
    make_route("users", predicates=["Path=/api/users/**"])
    make_route("orders", uri="http://billing.internal")
    make_route("health")

    by_id = admin_client.get(reverse(CHANGELIST), {"q": "users"})
    by_uri = admin_client.get(reverse(CHANGELIST), {"q": "billing"})
    by_predicate = admin_client.get(reverse(CHANGELIST), {"q": "/api/users"})

    assert changelist_ids(by_id) == ["users"]
    assert changelist_ids(by_uri) == ["orders"]
    assert changelist_ids(by_predicate) == ["users"]


def test_admin_changelist_filters_by_status_and_orders_by_order_then_id(admin_client: Any) -> None:
    make_route("b-route", order=1)
    make_route("a-route", order=1)
    make_route("first", order=-5)
    make_route("off", status="INACTIVE")

    everything = admin_client.get(reverse(CHANGELIST))
    inactive = admin_client.get(reverse(CHANGELIST), {"status__exact": "INACTIVE"})

    assert changelist_ids(everything) == ["first", "off", "a-route", "b-route"]
    assert changelist_ids(inactive) == ["off"]


def test_admin_form_shows_uri_error_on_uri_field(admin_client: Any) -> None:
    response = admin_client.post(reverse(ADD), route_form(uri="not a uri"))

    errors = response.context["adminform"].form.errors
    assert response.status_code == 200
    assert set(errors) == {"uri"}
    assert not Route.objects.exists()


def test_admin_form_shows_predicate_error_on_predicates_field(admin_client: Any) -> None:
    response = admin_client.post(
        reverse(ADD), route_form(predicates=json.dumps(["NoSuchPredicate=/x"]))
    )

    errors = response.context["adminform"].form.errors
    assert set(errors) == {"predicates"}
    assert errors["predicates"][0].startswith("predicates[0]")
    assert not Route.objects.exists()


def test_admin_json_help_text_examples_are_valid_routes(admin_client: Any) -> None:
    form = admin_client.get(reverse(ADD)).context["adminform"].form
    examples = {
        name: json.loads(str(form.fields[name].help_text).split("Example: ", 1)[1])
        for name in ("predicates", "filters")
    }

    response = admin_client.post(
        reverse(ADD), route_form(**{name: json.dumps(v) for name, v in examples.items()})
    )

    assert response.status_code == 302
    assert "Path=/api/users/**" in str(form.fields["predicates"].help_text)
    assert '{"name": "Path", "args": {"patterns"' in str(form.fields["predicates"].help_text)


def test_admin_form_shows_every_problem_on_its_own_field(admin_client: Any) -> None:
    response = admin_client.post(
        reverse(ADD),
        route_form(
            id="has spaces",
            uri="ftp://files.internal",
            predicates=json.dumps([{"name": "Path"}]),
            metadata=json.dumps(["not", "an", "object"]),
        ),
    )

    errors = response.context["adminform"].form.errors
    assert set(errors) == {"id", "uri", "predicates", "metadata"}
    assert not Route.objects.exists()


def test_admin_form_reports_invalid_json_once_on_its_field(admin_client: Any) -> None:
    response = admin_client.post(reverse(ADD), route_form(filters="[not json"))

    errors = response.context["adminform"].form.errors
    assert list(errors) == ["filters"]
    assert len(errors["filters"]) == 1


def test_admin_form_requires_id_and_uri_in_the_services_words(admin_client: Any) -> None:
    response = admin_client.post(reverse(ADD), route_form(id="", uri=""))

    errors = response.context["adminform"].form.errors
    assert set(errors) == {"id", "uri"}
    assert "id is required" in errors["id"][0]


def test_admin_add_rejects_an_existing_id_on_the_id_field(admin_client: Any) -> None:
    make_route("users")

    response = admin_client.post(reverse(ADD), route_form())

    assert set(response.context["adminform"].form.errors) == {"id"}
    assert Route.objects.get(pk="users").version == 1


def test_admin_add_creates_route_through_the_service(admin_client: Any) -> None:
    response = admin_client.post(
        reverse(ADD),
        route_form(filters=json.dumps(["StripPrefix=1"]), metadata=json.dumps({"team": "a"})),
    )

    assert response.status_code == 302
    route = Route.objects.get(pk="users")
    assert route.version == 1
    assert route.predicates == ["Path=/api/users/**"]
    assert route.filters == ["StripPrefix=1"]
    assert route.metadata == {"team": "a"}
    assert OutboxMessage.objects.filter(topic="routes").count() == 1


def test_admin_add_treats_empty_json_areas_as_empty(admin_client: Any) -> None:
    response = admin_client.post(reverse(ADD), route_form(predicates="", filters="", metadata=""))

    assert response.status_code == 302
    route = Route.objects.get(pk="users")
    assert (route.predicates, route.filters, route.metadata) == ([], [], {})


def test_admin_edit_bumps_version_and_keeps_id_read_only(admin_client: Any) -> None:
    make_route("users", predicates=["Path=/api/users/**"])
    url = reverse(CHANGE, args=["users"])

    form = admin_client.get(url).context["adminform"].form
    response = admin_client.post(
        url, route_form(id="renamed", uri="http://users-v2.internal", order="3")
    )

    assert "id" not in form.fields
    assert response.status_code == 302
    route = Route.objects.get(pk="users")
    assert (route.uri, route.order, route.version) == ("http://users-v2.internal", 3, 2)
    assert not Route.objects.filter(pk="renamed").exists()


def test_admin_edit_shows_errors_and_leaves_route_unchanged(admin_client: Any) -> None:
    make_route("users")

    response = admin_client.post(
        reverse(CHANGE, args=["users"]), route_form(uri="nope", order=str(2**40))
    )

    assert set(response.context["adminform"].form.errors) == {"uri", "order"}
    assert Route.objects.get(pk="users").version == 1


def test_admin_save_without_changes_does_not_bump_version(admin_client: Any) -> None:
    make_route("users", predicates=["Path=/api/users/**"])
    route = Route.objects.get(pk="users")

    response = admin_client.post(
        reverse(CHANGE, args=["users"]),
        route_form(uri=route.uri, predicates='[\n"Path=/api/users/**"]'),
    )

    assert response.status_code == 302
    assert Route.objects.get(pk="users").version == 1


def test_admin_activate_and_deactivate_actions_change_status_through_the_service(
    admin_client: Any,
) -> None:
    make_route("a")
    make_route("b", status="PENDING")
    make_route("c", status="INACTIVE")
    url = reverse(CHANGELIST)

    deactivated = admin_client.post(
        url, {"action": "deactivate_routes", "_selected_action": ["a", "b", "c"]}, follow=True
    )
    activated = admin_client.post(
        url, {"action": "activate_routes", "_selected_action": ["a"]}, follow=True
    )

    deactivated_messages = [str(m) for m in deactivated.context["messages"]]
    activated_messages = [str(m) for m in activated.context["messages"]]
    assert deactivated_messages == ["2 routes set to Inactive. 1 was already Inactive."]
    assert activated_messages == ["1 route set to Active."]
    statuses = dict(Route.objects.values_list("id", "status"))
    assert statuses == {"a": RouteStatus.ACTIVE, "b": RouteStatus.INACTIVE, "c": "INACTIVE"}
    assert Route.objects.get(pk="a").version == 3


def test_admin_status_actions_need_change_permission(client: Any, make_user: Any) -> None:
    viewer = make_user("staff-viewer", "view_route")
    viewer.is_staff = True
    viewer.save()
    make_route("a")
    client.force_login(viewer)

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert b"activate_routes" not in response.content
    assert b"deactivate_routes" not in response.content


def test_admin_bulk_delete_deletes_route_by_route(
    admin_client: Any, deleted_route_ids: list[str]
) -> None:
    for route_id in ("a", "b", "c"):
        make_route(route_id)

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": ["a", "b"], "post": "yes"},
    )

    assert response.status_code == 302
    assert sorted(deleted_route_ids) == ["a", "b"]
    assert list(Route.objects.values_list("id", flat=True)) == ["c"]
    assert OutboxMessage.objects.filter(topic="routes").count() == 3 + 2


def test_admin_single_delete_fires_the_delete_signal(
    admin_client: Any, deleted_route_ids: list[str]
) -> None:
    make_route("a")

    response = admin_client.post(
        reverse("admin:tigateway_channels_route_delete", args=["a"]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert deleted_route_ids == ["a"]
    assert not Route.objects.exists()


def test_admin_outbox_is_listed_read_only(admin_client: Any) -> None:
    make_route("a")
    message = OutboxMessage.objects.get()

    changelist = admin_client.get(reverse("admin:tigateway_channels_outboxmessage_changelist"))
    add = admin_client.get(reverse("admin:tigateway_channels_outboxmessage_add"))
    detail = admin_client.get(
        reverse("admin:tigateway_channels_outboxmessage_change", args=[message.pk])
    )

    assert changelist.status_code == 200
    assert list(changelist.context["cl"].result_list) == [message]
    assert add.status_code == 403
    assert detail.status_code == 200
    assert not detail.context["has_change_permission"]
    assert not detail.context["has_delete_permission"]


def test_admin_edit_over_someone_elses_newer_change_is_refused(admin_client: Any) -> None:
    make_route("users")
    url = reverse(CHANGE, args=["users"])
    seen_version = admin_client.get(url).context["adminform"].form["expected_version"].value()
    assert seen_version == 1
    update_route("users", {"order": 7})  # someone else, meanwhile

    response = admin_client.post(url, route_form(order="3", expected_version=str(seen_version)))

    assert response.status_code == 200
    assert "Someone else changed this route" in str(response.context["adminform"].form.errors)
    route = Route.objects.get(pk="users")
    assert (route.order, route.version) == (7, 2)
