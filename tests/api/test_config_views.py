"""The REST API of configs: URLs by type and id, the service's rules, dry-run validation,
revisions, rollback, permissions and the routes API's error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.http import Http404
from django.urls import reverse
from rest_framework.exceptions import NotFound
from rest_framework.test import APIClient

from tests.ws import token_for
from tigateway_channels.models import GatewayConfig, OutboxMessage, Route
from tigateway_channels.services import configs as config_service

pytestmark = pytest.mark.django_db

ALL_PERMISSIONS = (
    "view_gatewayconfig",
    "add_gatewayconfig",
    "change_gatewayconfig",
    "delete_gatewayconfig",
    "rollback_gatewayconfig",
)
CONFIG_KEYS = {"configType", "configId", "version", "createdAt", "updatedAt", "updatedBy", "config"}


def route(route_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": route_id, "uri": f"http://{route_id}.internal", **fields}


def detail(config_id: str, config_type: str = "route_config", view: str = "detail") -> str:
    return reverse(f"tigateway:config-{view}", args=[config_type, config_id])


def save(config_id: str, document: dict[str, Any]) -> GatewayConfig:
    return config_service.save_config("route_config", config_id, document)


@pytest.fixture
def api_as(make_user: Callable[..., Any]) -> Callable[..., APIClient]:
    def login(*codenames: str, username: str = "client") -> APIClient:
        client = APIClient()
        client.force_authenticate(make_user(username, *codenames))
        return client

    return login


@pytest.fixture
def api(api_as: Callable[..., APIClient]) -> APIClient:
    return api_as(*ALL_PERMISSIONS, username="config-admin")


def test_config_urls_are_type_then_id() -> None:
    assert reverse("tigateway:config-list") == "/api/tigateway/configs/"
    assert detail("users") == "/api/tigateway/configs/route_config/users/"
    assert detail("users", view="rollback") == "/api/tigateway/configs/route_config/users/rollback/"


def test_post_creates_and_put_replaces_with_etag_and_location(api: APIClient) -> None:
    created = api.post(
        reverse("tigateway:config-list"),
        {"configType": "route_config", "configId": "users", "config": {"routes": [route("users")]}},
        format="json",
    )
    replaced = api.put(
        detail("users"),
        {"config": {"routes": [route("users", order=2)]}},
        format="json",
        HTTP_IF_MATCH='"1"',
    )

    assert created.status_code == 201, created.json()
    assert set(created.json()) == CONFIG_KEYS
    assert created["Location"].endswith(detail("users"))
    assert created["ETag"] == '"1"'
    assert replaced.status_code == 200
    assert replaced.json()["version"] == 2 and replaced["ETag"] == '"2"'
    assert Route.objects.get(pk="users").order == 2
    revision = GatewayConfig.objects.get().revisions.get(version=2)
    assert (revision.source, revision.author) == ("rest", "config-admin")


def test_put_creates_a_missing_config_with_201(api: APIClient) -> None:
    response = api.put(detail("new"), {"config": {"routes": []}}, format="json")

    assert response.status_code == 201
    assert response.json()["version"] == 1


def test_get_returned_config_can_be_sent_back_with_put(api: APIClient) -> None:
    save("users", {"routes": [route("users")]})
    fetched = api.get(detail("users")).json()
    fetched["config"]["routes"][0]["order"] = 9

    response = api.put(detail("users"), fetched, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2


def test_post_of_an_existing_config_is_a_version_conflict(api: APIClient) -> None:
    save("users", {"routes": []})

    response = api.post(
        reverse("tigateway:config-list"),
        {"configType": "route_config", "id": "users", "config": {"routes": []}},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "VERSION_CONFLICT"


def test_list_and_retrieve_including_an_older_version(api: APIClient) -> None:
    save("b", {"routes": []})
    save("a", {"routes": [route("a")]})
    save("a", {"routes": []})

    listed = api.get(reverse("tigateway:config-list"), {"configType": "route_config"})
    current = api.get(detail("a"))
    old = api.get(detail("a"), {"version": 1})

    assert [c["configId"] for c in listed.json()] == ["a", "b"]
    assert current.json() == config_service.get_config("route_config", "a")
    assert current["ETag"] == '"2"'
    assert old.json()["config"] == {"id": "a", "routes": [route("a")]}


def test_missing_config_or_version_is_404_config_not_found(api: APIClient) -> None:
    save("a", {"routes": []})

    missing = api.get(detail("nope"))
    old = api.get(detail("a"), {"version": 5})

    assert missing.status_code == 404
    assert missing.json() == {
        "code": "CONFIG_NOT_FOUND",
        "message": "Config route_config/nope not found",
        "details": {
            "field": "configId",
            "value": "nope",
            "reason": "no route_config config has this id",
            "configType": "route_config",
            "configId": "nope",
        },
    }
    assert old.json()["details"]["version"] == 5


@pytest.mark.parametrize("raised", [Http404("No such page"), NotFound("No such page")])
def test_a_drf_404_of_the_configs_api_is_config_not_found(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, raised: Exception
) -> None:
    """A 404 that DRF itself answers (``Http404`` or ``NotFound`` raised in a view) names
    configs, not routes."""

    def not_found(*args: Any) -> Any:
        raise raised

    monkeypatch.setattr(config_service, "list_revisions", not_found)

    response = api.get(detail("users", view="revisions"))

    assert response.status_code == 404
    assert response.json() == {"code": "CONFIG_NOT_FOUND", "message": "No such page"}


def test_invalid_config_is_400_with_every_error_by_path(api: APIClient) -> None:
    document = {
        "routes": [route("ok"), route("bad", predicates=["Nope=/x"]), {"id": "no-uri"}],
        "globalFilters": ["Bogus=1"],
    }

    response = api.put(detail("users"), {"config": document}, format="json")

    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "CONFIG_VALIDATION_ERROR"
    assert body["errors"] == {
        "routes": [
            "routes[1].predicates[0]: " + body["details"]["errors"][0]["reason"],
            "routes[2].uri: uri is required",
        ],
        "globalFilters": ["globalFilters[0]: " + body["details"]["errors"][2]["reason"]],
    }
    assert not GatewayConfig.objects.exists() and not Route.objects.exists()


def test_malformed_body_is_400_in_the_same_shape(api: APIClient) -> None:
    no_config = api.put(detail("users"), {"version": 1}, format="json")
    other_id = api.put(detail("users"), {"id": "other", "config": {}}, format="json")
    no_key = api.post(reverse("tigateway:config-list"), {"config": {}}, format="json")

    assert no_config.status_code == 400
    assert no_config.json()["code"] == "CONFIG_VALIDATION_ERROR"
    assert list(no_config.json()["errors"]) == ["config"]
    assert list(other_id.json()["errors"]) == ["id"]
    assert set(no_key.json()["errors"]) == {"configType", "configId"}


def test_unknown_config_type_is_400(api: APIClient) -> None:
    response = api.put(detail("x", config_type="nope"), {"config": {}}, format="json")

    assert response.status_code == 400
    assert response.json()["details"]["field"] == "configType"


def test_stale_if_match_is_409_version_conflict(api: APIClient) -> None:
    save("users", {"routes": []})
    save("users", {"routes": [route("users")]})

    response = api.put(
        detail("users"), {"config": {"routes": []}}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 409
    assert response.json()["details"]["currentVersion"] == 2


def test_validate_is_a_dry_run(api: APIClient) -> None:
    save("first", {"routes": [route("shared")]})

    ok = api.post(
        detail("second", view="validate"), {"config": {"routes": [route("x")]}}, format="json"
    )
    taken = api.post(
        detail("second", view="validate"), {"config": {"routes": [route("shared")]}}, format="json"
    )

    assert ok.status_code == 200 and ok.json() == {"valid": True}
    assert taken.status_code == 400
    assert taken.json()["details"]["field"] == "routes[0].id"
    assert not GatewayConfig.objects.filter(config_id="second").exists()
    assert list(Route.objects.values_list("pk", flat=True)) == ["shared"]


def test_revisions_and_rollback(api: APIClient) -> None:
    save("users", {"routes": [route("users"), route("orders")]})
    save("users", {"routes": [route("users")]})

    rolled = api.post(
        detail("users", view="rollback"), {"toVersion": 1, "version": 2}, format="json"
    )
    revisions = api.get(detail("users", view="revisions"))

    assert rolled.status_code == 200
    assert rolled.json()["version"] == 3
    assert sorted(Route.objects.values_list("pk", flat=True)) == ["orders", "users"]
    assert [(r["version"], r["action"], r["restoredFrom"]) for r in revisions.json()] == [
        (3, "rolled_back", 1),
        (2, "updated", None),
        (1, "created", None),
    ]
    assert revisions.json()[0]["source"] == "rest"


def test_delete_removes_config_and_routes_and_pushes(api: APIClient) -> None:
    save("users", {"routes": [route("users")]})

    stale = api.delete(detail("users"), HTTP_IF_MATCH='"7"')
    response = api.delete(detail("users"), HTTP_IF_MATCH='"1"')

    assert stale.status_code == 409
    assert response.status_code == 204
    assert not GatewayConfig.objects.exists() and not Route.objects.exists()
    frames = [orjson.loads(m.frame) for m in OutboxMessage.objects.order_by("id")]
    assert [(f["type"], f["data"]["action"]) for f in frames][-2:] == [
        ("route_update", "deleted"),
        ("config_update", "deleted"),
    ]


@pytest.mark.parametrize(
    ("codenames", "method", "view", "body"),
    [
        ((), "get", "detail", None),
        (("view_gatewayconfig",), "put", "detail", {"config": {"routes": []}}),
        (("add_gatewayconfig",), "put", "detail", {"config": {"routes": []}}),
        (("change_gatewayconfig",), "post", "rollback", {"toVersion": 1}),
        (("change_gatewayconfig",), "delete", "detail", None),
        (("change_gatewayconfig",), "post", "list", None),
    ],
    ids=["read", "write", "change-needs-change", "rollback", "delete", "create"],
)
def test_each_action_needs_its_permission(
    api_as: Callable[..., APIClient],
    codenames: tuple[str, ...],
    method: str,
    view: str,
    body: Any,
) -> None:
    save("users", {"routes": [route("users")]})
    client = api_as(*codenames)
    url = reverse("tigateway:config-list") if view == "list" else detail("users", view=view)
    if view == "list":
        body = {"configType": "route_config", "configId": "new", "config": {}}

    response = getattr(client, method)(url, body, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert GatewayConfig.objects.get().version == 1
    assert Route.objects.filter(pk="users").exists()


def test_creating_by_put_needs_add_permission(api_as: Callable[..., APIClient]) -> None:
    client = api_as("change_gatewayconfig")

    response = client.put(detail("new"), {"config": {}}, format="json")

    assert response.status_code == 403
    assert response.json()["details"]["permission"].endswith("add_gatewayconfig")


def test_anonymous_is_401_and_jwt_works(make_user: Callable[..., Any]) -> None:
    save("users", {"routes": []})
    user = make_user("jwt-user", "view_gatewayconfig")

    anonymous = APIClient().get(detail("users"))
    with_token = APIClient().get(detail("users"), HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")

    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "UNAUTHORIZED"
    assert with_token.status_code == 200


def test_rest_config_has_the_websocket_shape_with_the_id_in_the_document(api: APIClient) -> None:
    save("users", {"routes": [route("users")]})

    body = api.get(detail("users")).json()

    assert body["configId"] == "users"
    assert body["config"] == {"id": "users", "routes": [route("users")]}
    assert body == config_service.get_config("route_config", "users")


def test_post_accepts_id_as_the_older_name_of_config_id(api: APIClient) -> None:
    created = api.post(
        reverse("tigateway:config-list"),
        {"configType": "route_config", "id": "users", "config": {"routes": []}},
        format="json",
    )
    differing = api.post(
        reverse("tigateway:config-list"),
        {"configType": "route_config", "id": "a", "configId": "b", "config": {}},
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert created.json()["configId"] == "users"
    assert differing.status_code == 400
    assert list(differing.json()["errors"]) == ["id"]


def test_put_with_another_id_inside_the_document_is_400_on_that_field(api: APIClient) -> None:
    save("users", {"routes": []})

    response = api.put(detail("users"), {"config": {"id": "orders", "routes": []}}, format="json")

    assert response.status_code == 400
    assert response.json()["details"]["field"] == "id"
    assert response.json()["errors"] == {"id": [response.json()["details"]["reason"]]}
    assert GatewayConfig.objects.get().version == 1


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ('{"routes": [{"id": "r", "uri": "http://a", "metadata": {"x": "\\u0000"}}]}', "routes"),
        ('{"routes": [{"id": "r", "uri": "http://a", "predicates": null}]}', "routes"),
        ('{"globalFilters": ["SetPath=/\\u0000"]}', "globalFilters"),
        ('{"routes": [], "\\ud800": 1}', "\ufffd"),
    ],
)
def test_a_document_the_database_cannot_store_is_400_on_its_path(
    api: APIClient, document: str, field: str
) -> None:
    response = api.put(detail("c"), f'{{"config": {document}}}', content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "CONFIG_VALIDATION_ERROR"
    assert field in response.json()["errors"]
    assert not GatewayConfig.objects.exists()


def test_a_config_type_with_nul_is_400_in_urls_and_in_the_list_filter(api: APIClient) -> None:
    in_url = api.get("/api/tigateway/configs/route%00config/c/")
    in_filter = api.get(reverse("tigateway:config-list"), {"configType": "route_config\x00"})

    for response in (in_url, in_filter):
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "CONFIG_VALIDATION_ERROR"
        assert response.json()["details"]["field"] == "configType"
