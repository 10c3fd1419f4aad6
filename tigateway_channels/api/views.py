"""The REST API of routes: an HTTP adapter over the route service, like the WebSocket handlers."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import status
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response

from tigateway_channels.api.preconditions import expected_version, versioned_response
from tigateway_channels.api.serializers import RouteSerializer
from tigateway_channels.api.viewsets import GatewayViewSet
from tigateway_channels.models import ChangeSource, Route
from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.protocol.ids import ID_PATTERN
from tigateway_channels.services import routes as route_service


class RoutePermissions(DjangoModelPermissions):
    """DjangoModelPermissions, plus ``view_route`` to read (DRF lets any user read by default)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class RouteViewSet(GatewayViewSet):
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
    not_found_code = ErrorCode.ROUTE_NOT_FOUND

    permission_classes = [RoutePermissions]
    serializer_class = RouteSerializer
    queryset = Route.objects.all()
    lookup_value_regex = ID_PATTERN

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
        issues = [issue for issue in map(route_service.status_issue, wanted) if issue]
        if issues:
            raise GatewayError(
                ErrorCode.INVALID_MESSAGE_FORMAT,
                "Unknown route status in the status filter",
                issues[0],
            )
        return queryset.filter(status__in=wanted) if wanted else queryset

    def list(self, request: Request) -> Response:
        queryset = self.get_queryset()
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        return Response(self.get_serializer(queryset, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return versioned_response(self._route(pk).to_message())

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        route = route_service.create_route(
            serializer.validated_data, user=request.user, source=ChangeSource.REST
        )
        location = self.reverse_action("detail", args=[route.pk])
        return versioned_response(route.to_message(), status.HTTP_201_CREATED, Location=location)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        serializer = self.get_serializer(data=request.data, partial=partial, route_id=pk)
        serializer.is_valid(raise_exception=True)
        updates = dict(serializer.validated_data)
        version = expected_version(request, updates.pop("version", None))
        route = route_service.update_route(
            pk, updates, expected_version=version, user=request.user, source=ChangeSource.REST
        )
        return versioned_response(route.to_message())

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        route_service.delete_route(
            pk,
            expected_version=expected_version(request),
            user=request.user,
            source=ChangeSource.REST,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _route(self, pk: str) -> Route:
        try:
            return self.get_queryset().get(pk=pk)
        except Route.DoesNotExist:
            raise route_service.route_not_found(pk) from None
