"""Test helpers for talking to the WebSocket API in-process (Channels' communicator)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import orjson
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from tigateway_channels.routing import websocket_application

application = websocket_application()


def token_for(user: Any, lifetime: Any = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


@sync_to_async
def session_cookie_for(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


class Socket:
    """A communicator with JSON helpers and a small id counter."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.comm = communicator
        self.counter = 0

    async def send(self, message: Any) -> None:
        if isinstance(message, str):
            await self.comm.send_to(text_data=message)
        else:
            await self.comm.send_to(text_data=orjson.dumps(message).decode())

    async def receive(self, timeout: float = 3.0) -> dict[str, Any]:
        return orjson.loads(await self.comm.receive_from(timeout))

    async def request(self, message_type: str, data: Any = None, **extra: Any) -> dict[str, Any]:
        """Send a request with a fresh id and return its one reply (skipping topic messages)."""
        self.counter += 1
        request_id = f"req-{self.counter}"
        message = {"type": message_type, "id": request_id, **extra}
        if data is not None:
            message["data"] = data
        await self.send(message)
        while True:
            reply = await self.receive()
            if reply["data"].get("requestId") == request_id:
                return reply

    async def receive_topic(self, timeout: float = 3.0) -> dict[str, Any]:
        while True:
            message = await self.receive(timeout)
            if "topic" in message["metadata"]:
                return message

    async def nothing_more(self, timeout: float = 0.3) -> bool:
        return await self.comm.receive_nothing(timeout)

    async def closed_with(self, timeout: float = 3.0) -> int | None:
        """Read until the close; return its code."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            output = await self.comm.receive_output(max(left, 0.01))
            if output["type"] == "websocket.close":
                return output.get("code")

    async def close(self) -> None:
        await self.comm.disconnect()


async def connect(
    *,
    token: str | None = None,
    cookie: bytes | None = None,
    origin: str | None = None,
    query_pairs: list[tuple[str, str]] | None = None,
    **params: str,
) -> tuple[Socket, dict[str, Any]]:
    """Open a socket; return it and the first server message (connect ack or error).

    ``query_pairs`` adds query parameters that may repeat, in order.
    """
    query: list[tuple[str, str]] = list(params.items()) + list(query_pairs or ())
    if token is not None:
        query.append(("token", token))
    headers: list[tuple[bytes, bytes]] = []
    if cookie is not None:
        headers.append((b"cookie", cookie))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    path = "/ws/tigateway" + (f"?{urlencode(query)}" if query else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected, "the server refused the handshake"
    socket = Socket(communicator)
    first = await socket.receive()
    return socket, first


async def open_socket(user: Any, topics: list[str] | None = None) -> Socket:
    """A socket authenticated as ``user`` past its connect ack, subscribed to ``topics``."""
    socket, first = await connect(token=token_for(user))
    assert first["type"] == "ack", first
    if topics:
        reply = await socket.request("subscribe", {"topics": topics})
        assert reply["type"] == "ack", reply
    return socket
