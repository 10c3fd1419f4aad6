"""This worker's place on the channel layer: one channel, and a membership of every topic group.

``join`` is the one join path: the first join, the periodic renewal (channels-redis expires
memberships) and the rejoin after an outage (a restarted Redis forgot them) all go through it.
Probes of the layer's round trip come back on the same channel and are answered here, so the
hub only ever sees the messages meant for it.
"""

from __future__ import annotations

from typing import Any

from channels.layers import get_channel_layer

from tigateway_channels.asgi_types import Message
from tigateway_channels.delivery import relay
from tigateway_channels.delivery.probe import PROBE_EVENT, LayerProbes


class GroupMembership:
    """The channel layer as one worker process uses it."""

    def __init__(self, layer_alias: str) -> None:
        self._alias = layer_alias
        self._layer: Any = None
        self._channel: str | None = None
        self._groups: dict[str, str] = {}
        self._joined = False
        self._probes = LayerProbes()

    @property
    def joined(self) -> bool:
        """Whether every topic group was joined since the layer last failed."""
        return self._joined

    @property
    def backend(self) -> type:
        """The channel layer's class (health names the component and the backend after it)."""
        return type(self._layer)

    async def join(self, groups: dict[str, str] | None = None) -> None:
        """Join every topic group (``groups``: topic to group name, given on the first join;
        later calls renew or rejoin the same groups)."""
        if groups is not None:
            self._groups = dict(groups)
        self._layer = get_channel_layer(self._alias)
        if self._layer is None:
            raise RuntimeError(f"channel layer {self._alias!r} is not configured")
        if self._channel is None:
            self._channel = await self._layer.new_channel()
        for group in self._groups.values():
            await self._layer.group_add(group, self._channel)
        self._joined = True

    def lost(self) -> None:
        """The layer failed a call: the next ``receive`` must be preceded by a rejoin."""
        self._joined = False

    async def receive(self) -> Message:
        """The next message for the hub on this worker's channel (probes are answered here)."""
        while True:
            message: Message = await self._layer.receive(self._channel)
            if message.get("type") != PROBE_EVENT:
                return message
            self._probes.answer(message)

    async def probe(self) -> float:
        """The layer's round trip to this worker's own channel and back (milliseconds)."""
        return await self._probes.round_trip(self._send_to_self)

    async def _send_to_self(self, message: Message) -> None:
        await self._layer.send(self._channel, message)

    async def send_to_group(self, topic: str, message: Message) -> None:
        """Send to every worker of this deployment on ``topic``'s group."""
        await self._layer.group_send(self._groups[topic], message)

    async def publish_pending(self, grace_seconds: float | None = None) -> int:
        """This worker's share of the relay (``relay.py``) through its own layer."""
        return await relay.publish_pending_async(self._layer, grace_seconds)
