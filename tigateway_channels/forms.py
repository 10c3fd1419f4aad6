"""The admin's Route and GatewayConfig forms: parse the inputs, then let the services judge.

No route or config rule lives here: ``clean()`` calls ``clean_route_data`` or
``validate_config`` and puts each problem on the field it is about, so the admin shows exactly
the errors the REST and WebSocket APIs return.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tigateway_channels.models import GatewayConfig, Route
from tigateway_channels.protocol.errors import GatewayError
from tigateway_channels.services.config_types import config_types
from tigateway_channels.services.configs import validate_config
from tigateway_channels.services.errors import error_issues, issues_by_field
from tigateway_channels.services.routes import UPDATABLE_FIELDS, WRITABLE_FIELDS, clean_route_data

# What an empty JSON text area means: no predicates, no filters, no metadata.
EMPTY_JSON_VALUES = {"predicates": list, "filters": list, "metadata": dict}

PREDICATES_HELP = _(
    "A JSON list of predicates, each in either Spring Cloud Gateway form: the shortcut "
    'string "Path=/api/users/**" or the object '
    '{"name": "Path", "args": {"patterns": ["/api/users/**"]}}. '
    'Example: ["Path=/api/users/**", {"name": "Method", "args": {"methods": ["GET"]}}]'
)
FILTERS_HELP = _(
    "A JSON list of filters, each in either Spring Cloud Gateway form: the shortcut "
    'string "StripPrefix=1" or the object {"name": "StripPrefix", "args": {"parts": 1}}. '
    'Example: ["StripPrefix=1", {"name": "AddRequestHeader", '
    '"args": {"name": "X-Gateway", "value": "tigateway"}}]'
)
METADATA_HELP = _('A JSON object of free-form notes, e.g. {"owner": "team-users"}.')
URI_HELP = _(
    "Where matching requests go, in any Spring Cloud Gateway form: http(s)://host:port or "
    "ws(s)://host:port; lb://service-name, lb:ws://service-name or lb:wss://service-name for "
    "a service the gateway's registry resolves; forward:/path for the gateway itself. "
    "No user:password."
)


class RouteJSONField(forms.JSONField):
    """A JSON text area shown indented, so long predicate lists stay readable."""

    widget = forms.Textarea(attrs={"rows": 8, "cols": 80, "style": "font-family: monospace"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class VersionCheckedForm(forms.ModelForm):
    """A form of a versioned model that refuses to save over someone else's newer change.

    The hidden ``expected_version`` carries the version the editor saw; ``clean`` of a
    subclass calls ``check_version`` with it.
    """

    expected_version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # What the refusal calls the edited object ("this route").
    edited_name: str | Promise = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.adding:
            self.fields["expected_version"].initial = self.instance.version

    @property
    def adding(self) -> bool:
        return bool(self.instance._state.adding)

    def check_version(self, expected: int | None) -> None:
        if self.adding or expected is None:
            return
        current = (
            type(self.instance)
            ._default_manager.filter(pk=self.instance.pk)
            .values_list("version", flat=True)
            .first()
        )
        if current is not None and current != expected:
            self.add_error(
                None,
                _(
                    "Someone else changed this %(name)s while you were editing it (it is now at "
                    "version %(current)d, you started from %(expected)d). Reload the page to see "
                    "their change, then make yours again."
                )
                % {"name": self.edited_name, "current": current, "expected": expected},
            )


class RouteAdminForm(VersionCheckedForm):
    edited_name = _("route")

    class Meta:
        model = Route
        fields = ("id", "uri", "status", "order", "predicates", "filters", "metadata")
        field_classes = {name: RouteJSONField for name in EMPTY_JSON_VALUES}
        help_texts = {
            "uri": URI_HELP,
            "predicates": PREDICATES_HELP,
            "filters": FILTERS_HELP,
            "metadata": METADATA_HELP,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Whether id and uri are given is the service's rule; it says so in its own words.
        for name in ("id", "uri"):
            if name in self.fields:
                self.fields[name].required = False
        # Changes are judged against the stored route, as for every other field, not against
        # a hidden copy of the callable default that clients other than a browser never send.
        for name in EMPTY_JSON_VALUES:
            if name in self.fields:
                self.fields[name].show_hidden_initial = False
        self.route_data: dict[str, Any] = {}

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        names = [
            name
            for name in (WRITABLE_FIELDS if self.adding else UPDATABLE_FIELDS)
            if name in self.fields and name in cleaned
        ]
        data = {name: self._route_value(name, cleaned[name]) for name in names}
        unparsed = set(self.errors)  # already reported by the field; not "missing" as well
        self.check_version(cleaned.get("expected_version"))
        try:
            self.route_data = clean_route_data(data, partial=not self.adding)
        except GatewayError as error:
            for field, reasons in issues_by_field(error).items():
                if field in unparsed:
                    continue
                self.add_error(field if field in self.fields else None, reasons)
            return cleaned
        cleaned.update(self.route_data)
        return cleaned

    @staticmethod
    def _route_value(name: str, value: Any) -> Any:
        if value is None and name in EMPTY_JSON_VALUES:
            return EMPTY_JSON_VALUES[name]()
        return value

    def route_changes(self) -> dict[str, Any]:
        """What to hand to the service: every field on add, the changed ones on change."""
        if self.adding:
            return dict(self.route_data)
        return {name: value for name, value in self.route_data.items() if name in self.changed_data}


DOCUMENT_HELP = _(
    'The config document, a JSON object. A route_config holds "routes" (each a route as in '
    'the Route form; omitted fields take the route defaults) and "globalFilters". Example: '
    '{"routes": [{"id": "users", "uri": "http://users:8080", "predicates": '
    '["Path=/api/users/**"]}], "globalFilters": ["AddRequestHeader=X-Gateway,tigateway"]}'
)
ADOPT_HELP = _(
    "route_config only: let this config take over listed routes that already exist and belong "
    "to no config. A route owned by another config is never taken over."
)
# Where a config problem is shown: the key fields by name, everything else on the document.
FORM_FIELD_BY_ISSUE = {"configType": "config_type", "configId": "config_id"}


class GatewayConfigAdminForm(VersionCheckedForm):
    """Parses the JSON; the config service judges it, and every problem shows with its path."""

    edited_name = _("config")
    adopt_routes = forms.BooleanField(
        required=False, label=_("Adopt unowned routes"), help_text=ADOPT_HELP
    )

    class Meta:
        model = GatewayConfig
        fields = ("config_type", "config_id", "document")
        field_classes = {"document": RouteJSONField}
        help_texts = {"document": DOCUMENT_HELP}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "config_type" in self.fields:
            names = list(config_types())
            self.fields["config_type"] = forms.ChoiceField(
                choices=[(name, name) for name in names], initial=names[0]
            )
        if "document" in self.fields:
            self.fields["document"].show_hidden_initial = False

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        config_type = cleaned.get("config_type", self.instance.config_type)
        config_id = cleaned.get("config_id", self.instance.config_id)
        if not config_type or not config_id or "document" in self.errors:
            return cleaned
        if cleaned.get("document") is None:
            cleaned["document"] = {}
        self.check_version(cleaned.get("expected_version"))
        try:
            validate_config(
                config_type,
                config_id,
                cleaned["document"],
                adopt_routes=cleaned.get("adopt_routes", False),
            )
        except GatewayError as error:
            for issue in error_issues(error):
                self._add_issue(issue, error.message)
        return cleaned

    def _add_issue(self, issue: dict[str, Any], message: str) -> None:
        path = str(issue.get("field", ""))
        reason = str(issue.get("reason", message))
        field = FORM_FIELD_BY_ISSUE.get(path, "document")
        if field not in self.fields:
            self.add_error(None, reason)
        elif field == "document" and path not in ("", "config"):
            self.add_error(field, f"{path}: {reason}")
        else:
            self.add_error(field, reason)
