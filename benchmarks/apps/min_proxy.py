"""The floor of the Python path: the least an ASGI reverse proxy on the gateway's stack does.

Every request goes to ``MIN_PROXY_UPSTREAM`` (``http://127.0.0.1:PORT``) with the gateway's
client (one pooled aiohttp session), hop-by-hop headers dropped both ways, bodies streamed. No
routes, no filters, no forwarded headers. Run on uvicorn: ``benchmarks.apps.min_proxy:app``.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
from yarl import URL

UPSTREAM = os.environ.get("MIN_PROXY_UPSTREAM", "http://127.0.0.1:8000")
HOP = {b"connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade", b"host"}
_session: aiohttp.ClientSession | None = None


def session() -> aiohttp.ClientSession:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=30),
        )
    return _session


async def _body(receive: Any) -> Any:
    while True:
        message = await receive()
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                if _session is not None:
                    await _session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["raw_path"].decode("latin-1")
    query = scope["query_string"].decode("latin-1")
    url = URL(UPSTREAM + path + (f"?{query}" if query else ""), encoded=True)
    headers = [
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k not in HOP
    ]
    has_body = any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
    async with session().request(
        scope["method"],
        url,
        headers=headers,
        data=_body(receive) if has_body else None,
        allow_redirects=False,
    ) as response:
        out = [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in HOP]
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
