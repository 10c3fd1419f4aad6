"""The ASGI types, defined once (as Starlette does) and used by every module that speaks ASGI:
the routing middleware, the consumer, the socket writer and the inbound queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
