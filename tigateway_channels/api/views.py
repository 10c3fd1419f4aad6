"""The REST API of routes: an HTTP adapter over the route service, like the WebSocket handlers."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import exceptions, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication

from tigateway_channels.api.serializers import RouteSerializer
from tigateway_channels.models import Route, RouteStatus
from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error
from tigateway_channels.services import routes as route_service
from tigateway_channels.services.errors import issues_by_field

HTTP_STATUS_BY_CODE = {
    ErrorCode.INVALID_MESSAGE_FORMAT: status.HTTP_400_BAD_REQUEST,
    ErrorCode.INVALID_ROUTE_CONFIG: status.HTTP_400_BAD_REQUEST,
    ErrorCode.CONFIG_VALIDATION_ERROR: status.HTTP_400_BAD_REQUEST,
    ErrorCode.UNAUTHORIZED: status.HTTP_401_UNAUTHORIZED,
    ErrorCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    ErrorCode.ROUTE_NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.CONFIG_NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.ROUTE_ALREADY_EXISTS: status.HTTP_409_CONFLICT,
    ErrorCode.VERSION_CONFLICT: status.HTTP_409_CONFLICT,
    ErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
}
CODE_BY_HTTP_STATUS = {
    status.HTTP_401_UNAUTHORIZED: ErrorCode.UNAUTHORIZED,
    status.HTTP_403_FORBIDDEN: ErrorCode.FORBIDDEN,
    status.HTTP_404_NOT_FOUND: ErrorCode.ROUTE_NOT_FOUND,
    status.HTTP_429_TOO_MANY_REQUESTS: ErrorCode.RATE_LIMITED,
}


class RoutePermissions(DjangoModelPermissions):
    """DjangoModelPermissions, plus ``view_route`` to read (DRF lets any user read by default)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


def expected_version(request: Request, body_version: Any = None) -> Any:
    """The version the client last saw: ``If-Match: "<version>"`` or the body's ``version``."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return body_version
    tag = header.removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit()):
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "If-Match",
            header,
            'must be a version, e.g. "3"',
            "If-Match must carry a version",
        )
    if body_version is not None and body_version != int(tag):
        raise field_error(
            ErrorCode.INVALID_MESSAGE_FORMAT,
            "version",
            body_version,
            f"differs from If-Match {header}",
            "If-Match and version disagree",
        )
    return int(tag)


def route_response(route: Route, http_status: int = status.HTTP_200_OK, **headers: str) -> Response:
    return Response(
        route.to_message(), status=http_status, headers={"ETag": f'"{route.version}"', **headers}
    )


class GatewayErrorMixin:
    """Every failure of a view in the one error shape ``{"code", "message", ...}``.

    ``GatewayError`` from the services keeps its code; DRF's own 400/401/403/404 answers are
    reshaped, with serializer errors under ``errors``.
    """

    validation_code: ErrorCode = ErrorCode.INVALID_MESSAGE_FORMAT
    validation_message: str = "Request is invalid"

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, GatewayError):
            return gateway_error_response(exc)
        response = super().handle_exception(exc)  # type: ignore[misc]
        if isinstance(exc, exceptions.ValidationError):
            response.data = {
                "code": str(self.validation_code),
                "message": self.validation_message,
                "errors": response.data,
            }
        elif isinstance(response.data, dict) and "detail" in response.data:
            code = CODE_BY_HTTP_STATUS.get(response.status_code, ErrorCode.INVALID_MESSAGE_FORMAT)
            response.data = {"code": str(code), "message": str(response.data["detail"])}
        return response


class RouteViewSet(GatewayErrorMixin, viewsets.GenericViewSet):
    """Routes: list, retrieve, create, update (PUT all fields, PATCH some), delete.

    Input is a JSON object of route fields (``id``, ``uri``, ``predicates``, ``filters``,
    ``status``, ``order``, ``metadata``); output is the route as the WebSocket API sends it,
    with an ``ETag: "<version>"`` header. A route as GET returned it may be sent back:
    ``createdAt``/``updatedAt`` are ignored, and so is ``version`` on POST.

    Optimistic locking: send ``If-Match: "<version>"`` (PUT, PATCH, DELETE) or ``version`` in
    the body (PUT, PATCH); if the route has moved on, the answer is 409 ``VERSION_CONFLICT``
    with ``details.currentVersion``.

    List filter: ``?status=ACTIVE`` (repeatable or comma-separated); ordered by order, id;
    paginated only if the project sets ``DEFAULT_PAGINATION_CLASS``.

    Every error has one shape, ``{"code": <error code>, "message": <sentence>}`` plus:

    - ``errors``, on 400: problems keyed by field name, e.g.
      ``{"code": "INVALID_ROUTE_CONFIG", "message": "Route configuration is invalid",
      "errors": {"uri": ["..."], "predicates": ["predicates[0]: ..."]}}``;
    - ``details``, when the service gave them (the same ``details`` as the WebSocket error),
      e.g. 409 ``{"code": "VERSION_CONFLICT", ..., "details": {"currentVersion": 4, ...}}``.

    Codes: 400 INVALID_ROUTE_CONFIG / INVALID_MESSAGE_FORMAT, 401 UNAUTHORIZED, 403 FORBIDDEN,
    404 ROUTE_NOT_FOUND, 409 ROUTE_ALREADY_EXISTS / VERSION_CONFLICT.
    """

    validation_code = ErrorCode.INVALID_ROUTE_CONFIG
    validation_message = "Route configuration is invalid"

    # Set here, not left to the project: the API must authenticate the same way everywhere.
    # JWT first, so a request without credentials gets 401 with WWW-Authenticate: Bearer.
    authentication_classes = [JWTAuthentication, SessionAuthentication]
    permission_classes = [RoutePermissions]
    parser_classes = [JSONParser]
    serializer_class = RouteSerializer
    queryset = Route.objects.all()
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self) -> QuerySet[Route]:
        queryset = super().get_queryset().order_by("order", "id")
        if self.action != "list":
            return queryset
        wanted = [
            value.strip()
            for param in self.request.query_params.getlist("status")
            for value in param.split(",")
            if value.strip()
        ]
        unknown = [value for value in wanted if value not in RouteStatus.values]
        if unknown:
            raise field_error(
                ErrorCode.INVALID_MESSAGE_FORMAT,
                "status",
                unknown[0],
                f"status must be one of {', '.join(RouteStatus.values)}",
                "Unknown route status in the status filter",
            )
        return queryset.filter(status__in=wanted) if wanted else queryset

    def list(self, request: Request) -> Response:
        queryset = self.get_queryset()
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        return Response(self.get_serializer(queryset, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return route_response(self._route(pk))

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        route = route_service.create_route(serializer.validated_data)
        location = self.reverse_action("detail", args=[route.pk])
        return route_response(route, status.HTTP_201_CREATED, Location=location)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        serializer = self.get_serializer(data=request.data, partial=partial, route_id=pk)
        serializer.is_valid(raise_exception=True)
        updates = dict(serializer.validated_data)
        version = expected_version(request, updates.pop("version", None))
        route = route_service.update_route(pk, updates, expected_version=version)
        return route_response(route)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        route_service.delete_route(pk, expected_version=expected_version(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _route(self, pk: str) -> Route:
        try:
            return self.get_queryset().get(pk=pk)
        except Route.DoesNotExist:
            raise route_service.route_not_found(pk) from None


def gateway_error_response(error: GatewayError) -> Response:
    http_status = HTTP_STATUS_BY_CODE.get(error.code, status.HTTP_500_INTERNAL_SERVER_ERROR)
    body = error.as_data()
    if http_status == status.HTTP_400_BAD_REQUEST:
        body["errors"] = issues_by_field(error)
    return Response(body, status=http_status)
