from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TigatewayChannelsConfig(AppConfig):
    name = "tigateway_channels"
    verbose_name = _("TiGateway")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tigateway_channels import checks  # noqa: F401  (registration)
        from tigateway_channels.delivery import model_signals  # noqa: F401  (registration)
        from tigateway_channels.delivery.rights_signals import connect_signals
        from tigateway_channels.observability.install import install

        connect_signals()
        install()
