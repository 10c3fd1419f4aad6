"""A channel layer that is unreachable until told otherwise, for outage tests in one process."""

from __future__ import annotations

from typing import Any

from channels.layers import InMemoryChannelLayer


class SwitchableLayer(InMemoryChannelLayer):
    reachable = True

    def _check(self) -> None:
        if not SwitchableLayer.reachable:
            raise ConnectionError("channel layer unreachable (test switch)")

    async def group_add(self, group: str, channel: str) -> None:
        self._check()
        await super().group_add(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self._check()
        await super().group_send(group, message)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self._check()
        await super().send(channel, message)
