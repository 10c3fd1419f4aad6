"""Publish overdue outbox messages and prune history, outside the web workers.

Every worker already runs a relay; this command is for deployments where changes are made by
processes without sockets (cron jobs, Celery workers) and no web worker might be running, and
for operators who want to flush pending messages by hand (``--once``).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery import relay


class Command(BaseCommand):
    help = "Publish committed topic messages that were not published, and prune history."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="One round, then exit.")
        parser.add_argument(
            "--grace",
            type=float,
            default=None,
            help="Seconds a message may stay unpublished first (default RELAY_GRACE_SECONDS).",
        )

    def handle(self, *args: Any, once: bool, grace: float | None, **options: Any) -> None:
        rounds = relay.RelayRounds()
        while True:
            done = rounds.run(grace_seconds=grace)
            if done.pruned:
                self.stdout.write(f"pruned {done.pruned} message(s) from history")
            if done.published or once:
                self.stdout.write(
                    f"published {done.published}; {relay.pending_count()} still unpublished"
                )
            if once:
                return
            time.sleep(tigw_settings.RELAY_INTERVAL_SECONDS)
