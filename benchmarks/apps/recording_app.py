"""The smallest gateway-shaped ASGI app, for ``benchmarks/recording.py``: every request is
answered at once (200, two bytes) and, with ``BENCH_RECORDING=1``, recorded exactly as the
gateway records it (``record_request``), with the process's reporter running.
"""

from __future__ import annotations

import os
import time
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django.setup()

from tigateway_channels.observability import runtime  # noqa: E402
from tigateway_channels.observability.recorder import record_request  # noqa: E402

RECORDING = os.environ.get("BENCH_RECORDING") == "1"
ROUTES = [f"route-{n}" for n in range(20)]
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
BODY = {"type": "http.response.body", "body": b"ok"}


async def application(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if RECORDING:
                    runtime.start(kind="gateway", node=f"bench-{os.getpid()}")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    arrived = time.perf_counter()
    path = scope["path"]
    route = ROUTES[len(path) % 20]
    await send(START)
    await send(BODY)
    if RECORDING:
        record_request(route, scope["method"], 200, (time.perf_counter() - arrived) * 1000.0)
