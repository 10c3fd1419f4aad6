"""Wiring done once at app start (``apps.py``): the workers' observability job, the system
events' signal receivers and the observability system checks. No thread starts here."""

from __future__ import annotations

from tigateway_channels.delivery.lifecycle import add_background_job
from tigateway_channels.observability import checks, events
from tigateway_channels.observability.stream import run_worker_observability

# Imported for their registrations: system checks, and the events' signal receivers.
REGISTERED = (checks, events)


def install() -> None:
    add_background_job("tigateway-observability", run_worker_observability)
