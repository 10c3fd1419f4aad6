"""A stand-in for the gateway's data plane: a small ASGI app that serves requests and records
each one exactly as the gateway will, through ``observability.recorder.record_request``, and
logs like the gateway's access log. Run it with uvicorn (``--lifespan on``); ``TRAFFIC_NODE``
names it in the figures.

``GET /r/<route>?delay=<ms>&status=<code>`` waits ``delay`` ms and answers ``status``; the
response's ``x-recorded-latency-ms`` header carries the exact latency it recorded, so a client
can compute the true percentiles of what was recorded. ``GET /log?message=...&level=...`` logs
one record on ``tigateway_channels.gateway.access`` with ``routeId`` and ``operation`` in
``extra``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django.setup()

from tigateway_channels.observability import runtime  # noqa: E402
from tigateway_channels.observability.recorder import record_request  # noqa: E402

access_log = logging.getLogger("tigateway_channels.gateway.access")
RECORDING = os.environ.get("TRAFFIC_RECORDING", "1") == "1"


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if RECORDING:
                runtime.start(kind="gateway", node=os.environ.get("TRAFFIC_NODE"))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await asyncio.to_thread(runtime.stop)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    arrived = time.perf_counter()
    query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
    path = scope["path"]
    if path == "/log":
        level = getattr(logging, query.get("level", "INFO"))
        access_log.log(
            level,
            query.get("message", ""),
            extra={"routeId": query.get("route", ""), "operation": "access", "duration": 1},
        )
        await respond(send, 204, b"", [])
        return
    if not path.startswith("/r/"):
        await respond(send, 404, b"no route", [])
        return
    route = path[3:]
    await asyncio.sleep(float(query.get("delay", "0")) / 1000.0)
    status = int(query.get("status", "200"))
    latency_ms = (time.perf_counter() - arrived) * 1000.0
    if RECORDING:
        record_request(route, scope["method"], status, latency_ms)
    await respond(send, status, b"ok", [(b"x-recorded-latency-ms", repr(latency_ms).encode())])
