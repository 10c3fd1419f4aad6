"""A separate process committing route changes through the ORM at a steady rate.

Run as ``python -m tests.e2e.writer COUNT RATE [PAD_BYTES [ROUTE_PREFIX]]`` with the cluster's
environment.
It keeps committing whatever the channel layer does; it prints one line per commit.
"""

from __future__ import annotations

import os
import sys
import time

import django


def main() -> None:
    count, rate = int(sys.argv[1]), float(sys.argv[2])
    pad = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    prefix = sys.argv[4] if len(sys.argv) > 4 else "stream"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    django.setup()
    from tigateway_channels.models import Route

    started = time.monotonic()
    for n in range(count):
        route, _ = Route.objects.get_or_create(
            id=f"{prefix}-{n % 7}", defaults={"uri": "http://upstream:8080"}
        )
        route.order = n
        route.metadata = {"n": n, "pad": "x" * pad}
        route.save()
        print(f"committed {n}", flush=True)
        time.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))


if __name__ == "__main__":
    main()
