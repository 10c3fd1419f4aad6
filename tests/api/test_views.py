"""The REST API of routes: permissions, JWT, the service's rules and the one error shape."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404
from django.urls import reverse
from rest_framework.test import APIClient

from tigateway_channels.models import OutboxMessage, Route
from tigateway_channels.services import routes as route_service
from tigateway_channels.services.routes import create_route, update_route

MESSAGE_KEYS = {
    "id",
    "uri",
    "predicates",
    "filters",
    "status",
    "order",
    "metadata",
    "version",
    "createdAt",
    "updatedAt",
}


def list_url() -> str:
    return reverse("tigateway:route-list")


def detail_url(route_id: str) -> str:
    return reverse("tigateway:route-detail", args=[route_id])


def make_route(route_id: str, **fields: Any) -> Route:
    return create_route({"id": route_id, "uri": f"http://{route_id}.internal", **fields})


def full_route(**overrides: Any) -> dict[str, Any]:
    route: dict[str, Any] = {
        "uri": "http://users.internal:8080",
        "predicates": ["Path=/api/users/**", {"name": "Method", "args": {"methods": ["GET"]}}],
        "filters": ["StripPrefix=1"],
        "status": "ACTIVE",
        "order": 10,
        "metadata": {"team": "users"},
    }
    route.update(overrides)
    return route


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def operator_api(api: APIClient, operator: Any) -> APIClient:
    api.force_login(operator)
    return api


def test_route_urls_live_under_the_tigateway_namespace() -> None:
    assert list_url() == "/api/tigateway/routes/"
    assert detail_url("users_v-2") == "/api/tigateway/routes/users_v-2/"


def test_list_returns_route_messages_ordered_by_order_then_id(operator_api: APIClient) -> None:
    make_route("b", order=1)
    make_route("a", order=1)
    make_route("first", order=-1)

    response = operator_api.get(list_url())

    assert response.status_code == 200
    assert [route["id"] for route in response.json()] == ["first", "a", "b"]
    assert response.json()[0] == Route.objects.get(pk="first").to_message()


def test_list_filters_by_repeated_or_comma_separated_status(operator_api: APIClient) -> None:
    make_route("on")
    make_route("off", status="INACTIVE")
    make_route("wait", status="PENDING")

    repeated = operator_api.get(list_url() + "?status=ACTIVE&status=PENDING")
    comma = operator_api.get(list_url(), {"status": "INACTIVE,PENDING"})
    single = operator_api.get(list_url(), {"status": "INACTIVE"})

    assert [route["id"] for route in repeated.json()] == ["on", "wait"]
    assert [route["id"] for route in comma.json()] == ["off", "wait"]
    assert [route["id"] for route in single.json()] == ["off"]


def test_list_rejects_an_unknown_status_filter(operator_api: APIClient) -> None:
    response = operator_api.get(list_url(), {"status": "ACTIVE,SLEEPING"})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_MESSAGE_FORMAT"
    assert list(response.json()["errors"]) == ["status"]


def test_retrieve_returns_to_message_with_version_etag(operator_api: APIClient) -> None:
    route = make_route("users", metadata={"team": "users"})

    response = operator_api.get(detail_url("users"))

    assert response.status_code == 200
    assert response.json() == route.to_message()
    assert set(response.json()) == MESSAGE_KEYS
    assert response["ETag"] == '"1"'


def test_retrieve_missing_route_is_404_route_not_found(operator_api: APIClient) -> None:
    response = operator_api.get(detail_url("ghost"))

    assert response.status_code == 404
    assert response.json()["code"] == "ROUTE_NOT_FOUND"


def test_create_goes_through_the_service_and_answers_201(operator_api: APIClient) -> None:
    response = operator_api.post(list_url(), {"id": "users", **full_route()}, format="json")

    assert response.status_code == 201
    route = Route.objects.get(pk="users")
    assert response.json() == route.to_message()
    assert route.version == 1
    assert response["Location"].endswith(detail_url("users"))
    assert OutboxMessage.objects.filter(topic="routes").count() == 1


def test_create_with_only_id_and_uri_uses_the_defaults(operator_api: APIClient) -> None:
    response = operator_api.post(
        list_url(), {"id": "min", "uri": "https://min.internal"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["predicates"], body["filters"], body["status"], body["order"]) == (
        [],
        [],
        "ACTIVE",
        0,
    )


def test_create_invalid_route_is_400_with_errors_by_field(operator_api: APIClient) -> None:
    response = operator_api.post(
        list_url(),
        {"id": "users", **full_route(uri="not a uri", predicates=["NoSuchPredicate=/x"])},
        format="json",
    )

    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "INVALID_ROUTE_CONFIG"
    assert set(body["errors"]) == {"uri", "predicates"}
    assert all(isinstance(reason, str) for reason in body["errors"]["predicates"])
    assert body["errors"]["predicates"][0].startswith("predicates[0]")
    assert not Route.objects.exists()


def test_create_reports_missing_and_unknown_fields(operator_api: APIClient) -> None:
    response = operator_api.post(list_url(), {"upstream": "http://x"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"id", "uri", "upstream"}


def test_create_rejects_a_body_that_is_not_an_object(operator_api: APIClient) -> None:
    response = operator_api.post(list_url(), ["users"], format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_ROUTE_CONFIG"


def test_create_duplicate_id_is_409_route_already_exists(operator_api: APIClient) -> None:
    make_route("users")

    response = operator_api.post(list_url(), {"id": "users", **full_route()}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "ROUTE_ALREADY_EXISTS"
    assert Route.objects.get(pk="users").version == 1


def test_create_accepts_json_only(operator_api: APIClient) -> None:
    response = operator_api.post(list_url(), {"id": "users", "uri": "http://users.internal"})

    assert response.status_code == 415


def test_patch_changes_given_fields_and_bumps_version(operator_api: APIClient) -> None:
    make_route("users", order=1)

    response = operator_api.patch(detail_url("users"), {"order": 7}, format="json")

    assert response.status_code == 200
    assert (response.json()["order"], response.json()["version"]) == (7, 2)
    assert response["ETag"] == '"2"'
    assert Route.objects.get(pk="users").uri == "http://users.internal"


def test_patch_invalid_field_is_400_and_changes_nothing(operator_api: APIClient) -> None:
    make_route("users")

    response = operator_api.patch(detail_url("users"), {"status": "SLEEPING"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["status"]
    assert Route.objects.get(pk="users").version == 1


def test_patch_cannot_change_the_id(operator_api: APIClient) -> None:
    make_route("users")

    renamed = operator_api.patch(detail_url("users"), {"id": "other"}, format="json")
    same = operator_api.patch(detail_url("users"), {"id": "users", "order": 2}, format="json")

    assert renamed.status_code == 400
    assert list(renamed.json()["errors"]) == ["id"]
    assert same.status_code == 200


def test_patch_missing_route_is_404(operator_api: APIClient) -> None:
    response = operator_api.patch(detail_url("ghost"), {"order": 1}, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "ROUTE_NOT_FOUND"


def test_put_replaces_every_writable_field(operator_api: APIClient) -> None:
    make_route("users", metadata={"old": True}, order=3)

    response = operator_api.put(detail_url("users"), full_route(), format="json")

    assert response.status_code == 200
    route = Route.objects.get(pk="users")
    assert route.to_message() == response.json()
    assert (route.metadata, route.order, route.version) == ({"team": "users"}, 10, 2)


def test_put_requires_every_writable_field(operator_api: APIClient) -> None:
    make_route("users")

    response = operator_api.put(
        detail_url("users"), {"uri": "http://x.internal", "order": 1}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"predicates", "filters", "status", "metadata"}
    assert Route.objects.get(pk="users").version == 1


def test_put_accepts_a_representation_fetched_with_get(operator_api: APIClient) -> None:
    make_route("users")
    route = operator_api.get(detail_url("users")).json()
    route["order"] = 5

    response = operator_api.put(detail_url("users"), route, format="json")

    assert response.status_code == 200
    assert (response.json()["order"], response.json()["version"]) == (5, 2)


def test_stale_if_match_is_409_with_current_version(operator_api: APIClient) -> None:
    make_route("users")
    update_route("users", {"order": 2})

    response = operator_api.patch(
        detail_url("users"), {"order": 3}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 409
    assert response.json()["code"] == "VERSION_CONFLICT"
    assert response.json()["details"]["currentVersion"] == 2
    assert Route.objects.get(pk="users").order == 2


def test_stale_body_version_is_409_and_current_one_succeeds(operator_api: APIClient) -> None:
    make_route("users")
    update_route("users", {"order": 2})

    stale = operator_api.put(detail_url("users"), full_route(version=1), format="json")
    current = operator_api.put(detail_url("users"), full_route(version=2), format="json")

    assert stale.status_code == 409
    assert stale.json()["details"]["currentVersion"] == 2
    assert current.status_code == 200
    assert current.json()["version"] == 3


def test_malformed_if_match_is_400(operator_api: APIClient) -> None:
    make_route("users")

    response = operator_api.patch(
        detail_url("users"), {"order": 3}, format="json", HTTP_IF_MATCH="yesterday"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["If-Match"]


def test_delete_answers_204_and_removes_the_route(operator_api: APIClient) -> None:
    make_route("users")

    response = operator_api.delete(detail_url("users"))

    assert response.status_code == 204
    assert not Route.objects.exists()
    assert OutboxMessage.objects.filter(topic="routes").count() == 2


def test_delete_with_stale_if_match_is_409(operator_api: APIClient) -> None:
    make_route("users")
    update_route("users", {"order": 2})

    stale = operator_api.delete(detail_url("users"), HTTP_IF_MATCH='"1"')
    current = operator_api.delete(detail_url("users"), HTTP_IF_MATCH='"2"')

    assert stale.status_code == 409
    assert current.status_code == 204


def test_delete_missing_route_is_404(operator_api: APIClient) -> None:
    response = operator_api.delete(detail_url("ghost"))

    assert response.status_code == 404
    assert response.json()["code"] == "ROUTE_NOT_FOUND"


def test_a_drf_404_of_the_routes_api_is_route_not_found(
    operator_api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_found(*args: Any, **kwargs: Any) -> Any:
        raise Http404("No such page")

    monkeypatch.setattr(route_service, "delete_route", not_found)

    response = operator_api.delete(detail_url("ghost"))

    assert response.status_code == 404
    assert response.json() == {"code": "ROUTE_NOT_FOUND", "message": "No such page"}


def test_anonymous_request_is_401_unauthorized(api: APIClient, db: Any) -> None:
    make_route("users")

    read = api.get(list_url())
    write = api.post(list_url(), {"id": "x", "uri": "http://x.internal"}, format="json")

    assert (read.status_code, write.status_code) == (401, 401)
    assert read.json()["code"] == "UNAUTHORIZED"
    assert read["WWW-Authenticate"].startswith("Bearer")


def test_user_without_permissions_is_403_on_read_and_write(api: APIClient, nobody: Any) -> None:
    make_route("users")
    api.force_login(nobody)

    responses = [
        api.get(list_url()),
        api.get(detail_url("users")),
        api.post(list_url(), {"id": "x", "uri": "http://x.internal"}, format="json"),
        api.patch(detail_url("users"), {"order": 1}, format="json"),
        api.delete(detail_url("users")),
    ]

    assert [response.status_code for response in responses] == [403] * 5
    assert {response.json()["code"] for response in responses} == {"FORBIDDEN"}
    assert Route.objects.get(pk="users").version == 1


def test_viewer_may_read_but_not_write(api: APIClient, viewer: Any) -> None:
    make_route("users")
    api.force_login(viewer)

    read = api.get(detail_url("users"))
    write = api.patch(detail_url("users"), {"order": 1}, format="json")

    assert (read.status_code, write.status_code) == (200, 403)


def test_jwt_bearer_token_authenticates(api: APIClient, operator: Any) -> None:
    token = api.post(
        "/api/token/", {"username": "operator", "password": "pw-123456"}, format="json"
    )
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")

    created = api.post(list_url(), {"id": "jwt", "uri": "http://jwt.internal"}, format="json")
    listed = api.get(list_url())

    assert token.status_code == 200
    assert created.status_code == 201
    assert [route["id"] for route in listed.json()] == ["jwt"]


def test_invalid_jwt_is_401(api: APIClient) -> None:
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = api.get(list_url())

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


# Bodies as raw JSON text: what a client in any language may send (DRF parses them with
# Python's json, which, unlike orjson, takes lone surrogates and integers of any size).
UNSTORABLE_BODIES = [
    ('{"id": "r", "uri": "http://a", "predicates": null}', "predicates"),
    ('{"id": "r", "uri": "http://a", "filters": null}', "filters"),
    ('{"id": "r", "uri": "http://a", "metadata": {"a": ["x\\u0000"]}}', "metadata"),
    ('{"id": "r", "uri": "http://a", "metadata": {"k\\u0000": 1}}', "metadata"),
    ('{"id": "r", "uri": "http://a", "metadata": {"a": "\\ud800"}}', "metadata"),
    ('{"id": "r", "uri": "http://a", "metadata": {"a": 1180591620717411303424}}', "metadata"),
    ('{"id": "r", "uri": "http://a", "filters": ["SetPath=/\\u0000"]}', "filters"),
    ('{"id": "r", "uri": "http://a", "\\ud800": 1}', "\ufffd"),
]


@pytest.mark.parametrize(("body", "field"), UNSTORABLE_BODIES)
def test_input_the_database_cannot_store_is_400_on_its_field(
    operator_api: APIClient, body: str, field: str
) -> None:
    response = operator_api.post(list_url(), body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "INVALID_ROUTE_CONFIG"
    assert field in response.json()["errors"]
    assert not Route.objects.exists()


def test_an_update_the_database_cannot_store_is_400_and_changes_nothing(
    operator_api: APIClient,
) -> None:
    make_route("users", metadata={"team": "users"})

    response = operator_api.patch(
        detail_url("users"), '{"metadata": {"team": "a\\u0000b"}}', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["errors"]["metadata"][0].startswith("metadata.team: ")
    assert Route.objects.get(pk="users").metadata == {"team": "users"}
