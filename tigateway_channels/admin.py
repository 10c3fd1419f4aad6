"""Admin for routes and gateway configs (writes go through the services) and the outbox."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from tigateway_channels.forms import GatewayConfigAdminForm, RouteAdminForm
from tigateway_channels.models import (
    ChangeSource,
    GatewayConfig,
    GatewayConfigRevision,
    OutboxMessage,
    Route,
    RouteStatus,
)
from tigateway_channels.protocol.errors import GatewayError
from tigateway_channels.services import config_revisions
from tigateway_channels.services import configs as config_service
from tigateway_channels.services import routes as route_service
from tigateway_channels.services.audit import Actor
from tigateway_channels.services.errors import error_issues
from tigateway_channels.services.permissions import ROLLBACK_CONFIG


def mirror_saved(obj: Model, saved: Model) -> None:
    """Make the admin's instance the row a service saved (validated, versioned, pushed), so
    the admin's log entry and redirect see what was stored."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


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
        changes = form.route_changes()
        user, source = request.user, ChangeSource.ADMIN
        if not change:
            saved = route_service.create_route(changes, user=user, source=source)
        elif changes:
            version = form.cleaned_data.get("expected_version")
            saved = route_service.update_route(
                obj.pk, changes, expected_version=version, user=user, source=source
            )
        else:
            return
        mirror_saved(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Route) -> None:
        route_service.delete_route(obj.pk, user=request.user, source=ChangeSource.ADMIN)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Route]) -> None:
        # Route by route, never QuerySet.delete(): each deletion must reach the signals.
        with transaction.atomic():
            for route in queryset.select_for_update():
                route.actor = Actor(request.user, ChangeSource.ADMIN)
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


@admin.register(GatewayConfig)
class GatewayConfigAdmin(admin.ModelAdmin):
    """Configs: saved, rolled back and deleted through the config service, so pushed live."""

    form = GatewayConfigAdminForm
    change_form_template = "admin/tigateway_channels/gatewayconfig/change_form.html"
    list_display = ("config_type", "config_id", "version", "updated_by", "updated_at")
    list_filter = ("config_type",)
    search_fields = ("config_id",)
    ordering = ("config_type", "config_id")
    readonly_fields = ("version", "updated_by", "created_at", "updated_at")

    def get_fields(self, request: HttpRequest, obj: GatewayConfig | None = None) -> Any:
        fields = ["config_type", "config_id", "document", "adopt_routes"]
        if obj is not None:
            fields += ["version", "updated_by", "created_at", "updated_at", "expected_version"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: GatewayConfig | None = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return ("config_type", "config_id", *readonly) if obj is not None else readonly

    def save_model(
        self, request: HttpRequest, obj: GatewayConfig, form: GatewayConfigAdminForm, change: bool
    ) -> None:
        saved = config_service.save_config(
            obj.config_type,
            obj.config_id,
            form.cleaned_data["document"],
            expected_version=form.cleaned_data.get("expected_version") if change else 0,
            user=request.user,
            source=ChangeSource.ADMIN,
            adopt_routes=form.cleaned_data.get("adopt_routes", False),
        )
        mirror_saved(obj, saved)

    def delete_model(self, request: HttpRequest, obj: GatewayConfig) -> None:
        config_service.delete_config(
            obj.config_type, obj.config_id, user=request.user, source=ChangeSource.ADMIN
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[GatewayConfig]) -> None:
        with transaction.atomic():
            for config in queryset:
                config_service.delete_config(
                    config.config_type,
                    config.config_id,
                    user=request.user,
                    source=ChangeSource.ADMIN,
                )

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # Owned routes are PROTECTed against a raw delete; the service deletes them (each one
        # pushed) before the config, so the confirmation page lists them as deleted too.
        deleted, counts, perms_needed, _protected = super().get_deleted_objects(objs, request)
        owned = Route.objects.filter(owner_config__in=[obj.pk for obj in objs]).order_by("pk")
        route_ids = list(owned.values_list("pk", flat=True))
        if route_ids:
            deleted = [*deleted, *(f"{Route._meta.verbose_name}: {pk}" for pk in route_ids)]
            counts[str(Route._meta.verbose_name_plural)] = len(route_ids)
        return deleted, counts, perms_needed, []

    def has_rollback_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ROLLBACK_CONFIG)

    def _url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def get_urls(self) -> list[URLPattern]:
        # Revisions are shown on their config's page; GatewayConfigRevision has no admin.
        return [
            path(
                "<path:object_id>/revisions/",
                self.admin_site.admin_view(self.revisions_view),
                name=self._url_name("revisions"),
            ),
            path(
                "<path:object_id>/rollback/",
                self.admin_site.admin_view(require_POST(self.rollback_view)),
                name=self._url_name("rollback"),
            ),
            *super().get_urls(),
        ]

    def _config(self, request: HttpRequest, object_id: str) -> GatewayConfig:
        config = self.get_object(request, object_id)
        if config is None:
            raise Http404(f"No gateway config with id {object_id!r}")
        return config

    def revisions_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The kept revisions, a diff between any two, and a rollback button per revision."""
        config = self._config(request, object_id)
        if not self.has_view_or_change_permission(request, config):
            raise PermissionDenied
        revisions = list(config.revisions.select_related("restored_from").order_by("-version"))
        # Looked up by a query value, which may be missing (None): then the default applies.
        by_version: dict[int | None, GatewayConfigRevision] = {
            revision.version: revision for revision in revisions
        }
        newest = revisions[0] if revisions else None
        older = revisions[1] if len(revisions) > 1 else newest
        new = by_version.get(_int(request.GET.get("to")), newest)
        old = by_version.get(_int(request.GET.get("from")), older)
        diff = ""
        if old is not None and new is not None:
            diff = mark_safe(config_revisions.html_diff(old, new))  # difflib escapes the text
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Revisions of %(config)s") % {"config": config},
            "original": config,
            "revisions": revisions,
            "old": old,
            "new": new,
            "diff": diff,
            "unified_diff": config_revisions.unified_diff(old, new) if old and new else "",
            "can_rollback": self.has_rollback_permission(request),
        }
        return TemplateResponse(
            request, "admin/tigateway_channels/gatewayconfig/revisions.html", context
        )

    def rollback_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        config = self._config(request, object_id)
        if not self.has_rollback_permission(request):
            raise PermissionDenied
        to_version = _int(request.POST.get("to_version"))
        try:
            saved = config_service.rollback_config(
                config.config_type,
                config.config_id,
                to_version,
                expected_version=_int(request.POST.get("expected_version")),
                user=request.user,
                source=ChangeSource.ADMIN,
            )
        except GatewayError as error:
            issues = error_issues(error)
            reasons = [f"{i['field']}: {i['reason']}" for i in issues if "reason" in i]
            self.message_user(request, " ".join([error.message, *reasons]), messages.ERROR)
        else:
            self.message_user(
                request,
                format_html(
                    "Rolled back {} to version {}; it is now version {}.",
                    config,
                    to_version,
                    saved.version,
                ),
                messages.SUCCESS,
            )
        url = reverse(
            f"admin:{self._url_name('revisions')}",
            args=[config.pk],
            current_app=self.admin_site.name,
        )
        return HttpResponseRedirect(url)


def _int(value: Any) -> int | None:
    """A form or query value as an int, or None when absent or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
