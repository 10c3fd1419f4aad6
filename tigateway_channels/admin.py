"""Admin for routes (writes go through the route service) and the outbox (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tigateway_channels.forms import RouteAdminForm
from tigateway_channels.models import OutboxMessage, Route, RouteStatus
from tigateway_channels.services import routes as route_service


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    form = RouteAdminForm
    list_display = ("id", "uri", "status", "order", "version", "updated_at")
    list_filter = ("status",)
    # "predicates" matches the JSON text, so "users" finds a route with "Path=/api/users/**".
    search_fields = ("id", "uri", "predicates")
    ordering = ("order", "id")
    fields = (
        "id",
        "uri",
        "status",
        "order",
        "predicates",
        "filters",
        "metadata",
        "version",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("version", "created_at", "updated_at")
    actions = ("activate_routes", "deactivate_routes")

    def get_fields(self, request: HttpRequest, obj: Route | None = None) -> Any:
        fields = tuple(super().get_fields(request, obj))
        return (*fields, "expected_version") if obj is not None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Route | None = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return ("id", *readonly) if obj is not None else readonly

    def save_model(
        self, request: HttpRequest, obj: Route, form: RouteAdminForm, change: bool
    ) -> None:
        # The service saves (validated, versioned, pushed); obj then mirrors the saved row so
        # the admin's log entry and redirect see what was stored.
        changes = form.route_changes()
        if not change:
            saved = route_service.create_route(changes)
        elif changes:
            saved = route_service.update_route(
                obj.pk, changes, expected_version=form.cleaned_data.get("expected_version")
            )
        else:
            return
        for field in Route._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def delete_model(self, request: HttpRequest, obj: Route) -> None:
        route_service.delete_route(obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Route]) -> None:
        # Route by route, never QuerySet.delete(): each deletion must reach the signals.
        with transaction.atomic():
            for route in queryset.select_for_update():
                route.delete()

    @admin.action(description=_("Activate selected routes"), permissions=["change"])
    def activate_routes(self, request: HttpRequest, queryset: QuerySet[Route]) -> None:
        self._set_status(request, queryset, RouteStatus.ACTIVE)

    @admin.action(description=_("Deactivate selected routes"), permissions=["change"])
    def deactivate_routes(self, request: HttpRequest, queryset: QuerySet[Route]) -> None:
        self._set_status(request, queryset, RouteStatus.INACTIVE)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Route], status: str) -> None:
        route_ids = list(queryset.values_list("pk", flat=True))
        changed = route_service.set_route_status(route_ids, status)
        label = RouteStatus(status).label
        message = ngettext(
            "%(count)d route set to %(status)s.", "%(count)d routes set to %(status)s.", changed
        ) % {"count": changed, "status": label}
        unchanged = len(route_ids) - changed
        if unchanged:
            message += " " + ngettext(
                "%(count)d was already %(status)s.", "%(count)d were already %(status)s.", unchanged
            ) % {"count": unchanged, "status": label}
        self.message_user(request, message, messages.SUCCESS)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """What was published and when: for looking, never for editing."""

    list_display = ("topic", "offset", "created_at", "published_at")
    list_filter = ("topic",)
    ordering = ("-id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
