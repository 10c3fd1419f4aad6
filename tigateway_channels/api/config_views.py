"""The REST API of gateway configs: an HTTP adapter over the config service.

A config is addressed by its type and id: ``/api/tigateway/configs/<configType>/<configId>/``.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from tigateway_channels.api.preconditions import (
    expected_version,
    version_param,
    versioned_response,
)
from tigateway_channels.api.serializers import ConfigRollbackSerializer, ConfigWriteSerializer
from tigateway_channels.api.viewsets import GatewayViewSet
from tigateway_channels.models import ChangeSource, GatewayConfig
from tigateway_channels.protocol.errors import ErrorCode
from tigateway_channels.services import configs as config_service
from tigateway_channels.services.permissions import (
    ADD_CONFIG,
    CHANGE_CONFIG,
    DELETE_CONFIG,
    ROLLBACK_CONFIG,
    VIEW_CONFIG,
    config_write_authorizer,
)


class ConfigPermissions(BasePermission):
    """Django permissions on GatewayConfig, by action.

    PUT creates or changes, which only the locked row can tell: here it needs one of add or
    change, and the service then checks the one that applies.
    """

    required = {
        "list": (VIEW_CONFIG,),
        "retrieve": (VIEW_CONFIG,),
        "revisions": (VIEW_CONFIG,),
        "validate": (VIEW_CONFIG,),
        "create": (ADD_CONFIG,),
        "destroy": (DELETE_CONFIG,),
        "rollback": (ROLLBACK_CONFIG,),
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if view.action == "update":
            return user.has_perm(ADD_CONFIG) or user.has_perm(CHANGE_CONFIG)
        needed = self.required.get(view.action)
        return needed is not None and user.has_perms(needed)


class ConfigViewSet(GatewayViewSet):
    """Gateway configs: list, retrieve, create (POST), create or replace (PUT), delete,
    validate (dry run), revisions and rollback.

    - ``GET configs/?configType=route_config``: every config (of that type), as the WebSocket
      API sends them: ``{"configType", "configId", "version", "createdAt", "updatedAt",
      "updatedBy", "config": {"id", ...the document}}``.
    - ``POST configs/`` ``{"configType", "configId", "config", "adoptRoutes"?}``: create; 409
      ``VERSION_CONFLICT`` if it exists (``id`` is accepted as the older name of ``configId``).
    - ``GET configs/<type>/<id>/`` (``?version=N`` for a kept older version), with
      ``ETag: "<version>"``.
    - ``PUT configs/<type>/<id>/`` ``{"config", "version"?, "adoptRoutes"?}``: create (201)
      or replace (200) the document; expected version from ``If-Match`` or ``version``.
    - ``DELETE configs/<type>/<id>/``: delete it (and, for a route_config, its routes).
    - ``POST configs/<type>/<id>/validate/`` ``{"config", "adoptRoutes"?}``: the full
      validation of a PUT, changing nothing: 200 ``{"valid": true}`` or the 400 error.
    - ``GET configs/<type>/<id>/revisions/``: the kept revisions, newest first.
    - ``POST configs/<type>/<id>/rollback/`` ``{"toVersion", "version"?}``: a new version
      with that revision's document.

    Errors have the routes API's shape, ``{"code", "message", "errors"?, "details"?}``: 400
    ``CONFIG_VALIDATION_ERROR`` (``errors`` by top-level field, each problem prefixed with its
    path, e.g. ``{"routes": ["routes[2].predicates[0]: ..."]}``; ``details.errors`` lists
    them all), 401, 403, 404 ``CONFIG_NOT_FOUND``, 409 ``VERSION_CONFLICT``.
    """

    validation_code = ErrorCode.CONFIG_VALIDATION_ERROR
    validation_message = "Config request is invalid"
    not_found_code = ErrorCode.CONFIG_NOT_FOUND

    permission_classes = [ConfigPermissions]
    serializer_class = ConfigWriteSerializer
    queryset = GatewayConfig.objects.all()

    def list(self, request: Request) -> Response:
        config_type = request.query_params.get("configType") or None
        return Response(config_service.config_snapshot(config_type))

    def retrieve(self, request: Request, config_type: str, config_id: str) -> Response:
        version = version_param(request)
        return versioned_response(config_service.get_config(config_type, config_id, version))

    def create(self, request: Request) -> Response:
        serializer = ConfigWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        config = config_service.save_config(
            body["configType"],
            body["configId"],
            body["config"],
            expected_version=0,
            user=request.user,
            source=ChangeSource.REST,
            adopt_routes=body["adoptRoutes"],
        ).to_message()
        location = reverse(
            "tigateway:config-detail",
            args=[config["configType"], config["configId"]],
            request=request,
        )
        return versioned_response(config, status.HTTP_201_CREATED, Location=location)

    def update(self, request: Request, config_type: str, config_id: str) -> Response:
        serializer = ConfigWriteSerializer(data=request.data, key=(config_type, config_id))
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        created: list[bool] = []
        authorize = config_write_authorizer(request.user)

        def authorize_and_note(creating: bool) -> None:
            authorize(creating)
            created.append(creating)

        config = config_service.save_config(
            config_type,
            config_id,
            body["config"],
            expected_version=expected_version(request, body.get("version")),
            user=request.user,
            source=ChangeSource.REST,
            adopt_routes=body["adoptRoutes"],
            authorize=authorize_and_note,
        ).to_message()
        http_status = status.HTTP_201_CREATED if created == [True] else status.HTTP_200_OK
        return versioned_response(config, http_status)

    def destroy(self, request: Request, config_type: str, config_id: str) -> Response:
        config_service.delete_config(
            config_type,
            config_id,
            expected_version=expected_version(request),
            user=request.user,
            source=ChangeSource.REST,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def validate(self, request: Request, config_type: str, config_id: str) -> Response:
        serializer = ConfigWriteSerializer(data=request.data, key=(config_type, config_id))
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        config_service.validate_config(
            config_type, config_id, body["config"], adopt_routes=body["adoptRoutes"]
        )
        return Response({"valid": True})

    def revisions(self, request: Request, config_type: str, config_id: str) -> Response:
        return Response(config_service.list_revisions(config_type, config_id))

    def rollback(self, request: Request, config_type: str, config_id: str) -> Response:
        serializer = ConfigRollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        config = config_service.rollback_config(
            config_type,
            config_id,
            body["toVersion"],
            expected_version=expected_version(request, body.get("version")),
            user=request.user,
            source=ChangeSource.REST,
        )
        return versioned_response(config.to_message())
