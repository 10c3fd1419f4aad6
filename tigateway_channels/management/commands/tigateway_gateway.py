"""Run the gateway data plane: ``manage.py tigateway_gateway --workers N --port P``.

Serves ``tigateway_channels.gateway.asgi:application`` on uvicorn (the ``gateway`` extra:
``pip install "tigateway-channels[gateway]"``), N worker processes on one port; each worker
follows the routes and config topics and serves the live route table (docs/gateway.md).
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

APP = "tigateway_channels.gateway.asgi:application"


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket traffic by the live routes (uvicorn, N workers)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (127.0.0.1).")
        parser.add_argument("--port", type=int, default=8080, help="Port to bind (8080).")
        parser.add_argument("--workers", type=int, default=1, help="Worker processes (1).")
        parser.add_argument(
            "--forwarded-allow-ips",
            default=None,
            help=(
                "Comma-separated addresses (or '*') of the load balancers whose "
                "X-Forwarded-For/-Proto give the client's address and scheme (uvicorn's proxy "
                "headers). Default: none; the client is the TCP peer, as in Spring Cloud Gateway."
            ),
        )
        parser.add_argument("--log-level", default="warning", help="uvicorn's log level (warning).")
        parser.add_argument(
            "--access-log", action="store_true", help="Log every request (uvicorn's access log)."
        )
        parser.add_argument(
            "--timeout-graceful-shutdown",
            type=float,
            default=10.0,
            help="Seconds in-flight requests get on SIGTERM (10).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            import uvicorn
        except ImportError:
            raise CommandError(
                "The gateway runs on uvicorn: pip install 'tigateway-channels[gateway]'"
            ) from None
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        # Worker processes import the app afresh and need to find the same settings.
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings.SETTINGS_MODULE)
        self.stdout.write(
            f"tigateway gateway on http://{options['host']}:{options['port']} "
            f"({options['workers']} worker(s))"
        )
        uvicorn.run(
            APP,
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            lifespan="on",
            log_level=options["log_level"],
            access_log=options["access_log"],
            proxy_headers=options["forwarded_allow_ips"] is not None,
            forwarded_allow_ips=options["forwarded_allow_ips"],
            timeout_graceful_shutdown=options["timeout_graceful_shutdown"],
            server_header=False,
            # The upstream's Date passes through; a second one would be added otherwise.
            date_header=False,
        )
