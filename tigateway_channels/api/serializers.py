"""The route as the REST API reads and writes it.

Reading is ``Route.to_message()``, the shape the WebSocket API sends. Writing checks only what
belongs to HTTP (a JSON object; PUT carries every field) and hands the body to the route
service's ``clean_route_data``, so a route rule is written once, in the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings

from tigateway_channels.models import Route, RouteStatus
from tigateway_channels.protocol.errors import GatewayError
from tigateway_channels.protocol.ids import CONFIG_TYPE_MAX_LENGTH, ID_MAX_LENGTH
from tigateway_channels.services.errors import issues_by_field
from tigateway_channels.services.routes import (
    UPDATABLE_FIELDS,
    clean_route_data,
    writable_route_fields,
)


class RouteSerializer(serializers.Serializer):
    """Route in, route out; the declared fields describe the API (browsable API, schema)."""

    id = serializers.CharField(help_text="Letters, digits, - and _; cannot change.")
    uri = serializers.CharField(
        help_text="http(s)://host, ws(s)://host, lb://service, lb:ws(s)://service or forward:/path."
    )
    predicates = serializers.JSONField(
        required=False, help_text='e.g. ["Path=/api/users/**"] or [{"name": "Path", ...}]'
    )
    filters = serializers.JSONField(required=False, help_text='e.g. ["StripPrefix=1"]')
    status = serializers.ChoiceField(choices=RouteStatus.choices, required=False)
    order = serializers.IntegerField(required=False)
    metadata = serializers.JSONField(required=False)
    version = serializers.IntegerField(
        required=False, help_text="On PUT/PATCH: the version you last saw (optimistic locking)."
    )
    createdAt = serializers.CharField(read_only=True)  # the wire names
    updatedAt = serializers.CharField(read_only=True)

    def __init__(self, *args: Any, route_id: str | None = None, **kwargs: Any) -> None:
        """``route_id`` is the route being updated; without it the data creates a route."""
        super().__init__(*args, **kwargs)
        self.route_id = route_id

    def to_representation(self, instance: Route) -> dict[str, Any]:
        return instance.to_message()

    def run_validation(self, data: Any = empty) -> dict[str, Any]:
        # Straight to to_internal_value: the declared fields document, the service validates.
        return self.to_internal_value(data)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """The cleaned route (create), or the cleaned updates plus ``version`` (update)."""
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["Expected a JSON object of route fields."]},
                code="INVALID_ROUTE_CONFIG",
            )
        # A route as GET returned it may come back: the service says what is ignored.
        body, version = writable_route_fields(data, self.route_id)
        if self.route_id is None:
            return self._clean(body, partial=False, errors={})
        errors: dict[str, list[str]] = {}
        if not self.partial:
            for name in UPDATABLE_FIELDS:
                if name not in body:
                    errors[name] = [f"{name} is required by PUT; use PATCH to change some fields"]
        cleaned = self._clean(body, partial=True, errors=errors)
        return {**cleaned, "version": version} if version is not None else cleaned

    @staticmethod
    def _clean(body: dict[str, Any], *, partial: bool, errors: dict[str, list[str]]) -> Any:
        try:
            cleaned = clean_route_data(body, partial=partial)
        except GatewayError as error:
            for field, reasons in issues_by_field(error).items():
                errors.setdefault(field, []).extend(reasons)
        if errors:
            raise serializers.ValidationError(errors, code="INVALID_ROUTE_CONFIG")
        return cleaned


class ConfigWriteSerializer(serializers.Serializer):
    """The body of a config create (POST) or replace (PUT): HTTP shape only.

    What a valid document is belongs to the config service. The body may be a config as GET
    returned it: ``createdAt``, ``updatedAt`` and ``updatedBy`` are ignored, ``version`` is
    the version you last saw (optimistic locking), and the document's own ``id`` is checked
    by the service against the config id.
    """

    configType = serializers.CharField(
        required=False,
        max_length=CONFIG_TYPE_MAX_LENGTH,
        help_text="Required on POST, e.g. route_config.",
    )
    configId = serializers.CharField(
        required=False,
        max_length=ID_MAX_LENGTH,
        help_text="Required on POST (or its older name, id).",
    )
    id = serializers.CharField(
        required=False,
        max_length=ID_MAX_LENGTH,
        help_text="The older name of configId, still accepted.",
    )
    config = serializers.JSONField(help_text='The document, e.g. {"routes": [...]}.')
    version = serializers.IntegerField(
        required=False, min_value=0, help_text="The version you last saw; 0: must not exist yet."
    )
    adoptRoutes = serializers.BooleanField(
        required=False,
        default=False,
        help_text="route_config: take over listed routes that exist and belong to no config.",
    )

    def __init__(self, *args: Any, key: tuple[str, str] | None = None, **kwargs: Any) -> None:
        """``key`` is the (configType, configId) of the URL on PUT; else the body names it."""
        super().__init__(*args, **kwargs)
        self.key = key

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        spelled = {"configType": "configType", "configId": "configId"}
        if "id" in attrs:
            older = attrs.pop("id")
            if attrs.get("configId", older) != older:
                raise serializers.ValidationError({"id": ["id and configId differ"]})
            if "configId" not in attrs:
                attrs["configId"], spelled["configId"] = older, "id"
        from_url = dict(zip(spelled, self.key, strict=True)) if self.key else {}
        for name, shown in spelled.items():
            given = attrs.get(name)
            if not from_url and not given:
                errors[shown] = [f"{shown} is required"]
            elif from_url and given not in (None, from_url[name]):
                errors[shown] = [f"{shown} is given by the URL and cannot change"]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ConfigRollbackSerializer(serializers.Serializer):
    toVersion = serializers.IntegerField(min_value=1, help_text="The kept version to restore.")
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you last saw (optimistic locking)."
    )
