"""A small upstream server for the gateway's tests and benchmark (a raw ASGI app, no Django).

Run as ``python -m uvicorn tests.e2e.gateway_upstream:app --port P`` with ``UPSTREAM_NAME``
set, so a test can tell which instance served a request. Routes by the path it receives:

- ``/__ok``: ``ok`` (the benchmark's request);
- ``/__status/<code>``: that status, with the attempt count of ``?key=`` in ``X-Attempt``;
- ``/__flaky?key=K&fail=N``: 500 for the first N requests of key K, then 200;
- ``/__sleep?s=S``: waits S seconds before answering;
- ``/__bytes?n=N``: a streamed body of N bytes (64 KiB chunks);
- ``/__set-cookie``: a response with two Set-Cookie headers and hop-by-hop headers;
- anything else: a JSON echo of method, raw path, query, headers, body size and server name,
  reading the body as a stream (an upload is counted, never held);
- WebSocket, any path: echoes text and bytes; ``close:<code>`` closes with that code; the
  first message is ``hello <name> <path> <subprotocol>``.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
from typing import Any
from urllib.parse import parse_qs

NAME = os.environ.get("UPSTREAM_NAME", "upstream")
_attempts: collections.Counter[str] = collections.Counter()
_CHUNK = b"x" * 65536


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await _websocket(scope, receive, send)
        return
    path = scope["path"]
    query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if path == "/__ok":
        await _answer(send, 200, b"ok", b"text/plain")
        return
    if path.startswith("/__status/"):
        key = query.get("key", "")
        _attempts[key] += 1
        await _drain(receive)
        headers = [(b"x-attempt", str(_attempts[key]).encode())]
        await _answer(send, int(path.rsplit("/", 1)[1]), NAME.encode(), b"text/plain", headers)
        return
    if path == "/__flaky":
        key = query.get("key", "")
        _attempts[key] += 1
        await _drain(receive)
        status = 500 if _attempts[key] <= int(query.get("fail", "1")) else 200
        headers = [(b"x-attempt", str(_attempts[key]).encode())]
        await _answer(send, status, NAME.encode(), b"text/plain", headers)
        return
    if path == "/__sleep":
        await asyncio.sleep(float(query.get("s", "1")))
        await _answer(send, 200, b"slept", b"text/plain")
        return
    if path == "/__bytes":
        await _stream_bytes(send, int(query.get("n", "0")))
        return
    if path == "/__set-cookie":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"set-cookie", b"a=1; Path=/"),
                    (b"set-cookie", b"b=2; Path=/"),
                    (b"keep-alive", b"timeout=5"),
                    (b"connection", b"x-private"),
                    (b"x-private", b"hop"),
                    (b"content-length", b"2"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})
        return
    size, digest = 0, hashlib.sha256()
    while True:
        message = await receive()
        body = message.get("body", b"")
        size += len(body)
        digest.update(body)
        if not message.get("more_body"):
            break
    echo = {
        "server": NAME,
        "method": scope["method"],
        "path": scope.get("raw_path", path.encode()).decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "bodySize": size,
        "bodySha256": digest.hexdigest(),
    }
    await _answer(send, 200, json.dumps(echo).encode(), b"application/json")


async def _drain(receive: Any) -> None:
    while (await receive()).get("more_body"):
        pass


async def _answer(
    send: Any, status: int, body: bytes, content_type: bytes, extra: list[Any] | None = None
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-upstream", NAME.encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _stream_bytes(send: Any, size: int) -> None:
    headers = [(b"content-type", b"application/octet-stream"), (b"x-upstream", NAME.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    left = size
    while left > 0:
        chunk = _CHUNK[: min(left, len(_CHUNK))]
        left -= len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
    if size == 0:
        await send({"type": "http.response.body", "body": b""})


async def _websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    offered = scope.get("subprotocols") or []
    chosen = offered[0] if offered else None
    await send({"type": "websocket.accept", "subprotocol": chosen})
    await send({"type": "websocket.send", "text": f"hello {NAME} {scope['path']} {chosen or '-'}"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            code = int(text.split(":", 1)[1])
            await send({"type": "websocket.close", "code": code, "reason": "asked"})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
