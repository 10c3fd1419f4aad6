"""A route's filters as one chain: "pre" work in order, "post" work in reverse, and filters that
wrap the rest of the chain (Retry, RequestRateLimiter, RedirectTo, RequestSize).

Spring Cloud Gateway runs every filter as a link of a reactive chain. Most filters only change
the outgoing request before the upstream call (pre) or the response after it (post); running
those as plain calls costs nothing per link. A filter with ``around`` gets the rest of the chain
as a callable, so it may short-circuit (answer itself), or call it several times (Retry).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tigateway_channels.gateway.exchange import Exchange, GatewayResponse

Next = Callable[[], Awaitable[GatewayResponse]]
Terminal = Callable[[Exchange], Awaitable[GatewayResponse]]
Pre = Callable[[Exchange], None]
Post = Callable[[Exchange, GatewayResponse], None]
Around = Callable[[Exchange, Next], Awaitable[GatewayResponse]]


class UpstreamFailure(Exception):
    """The upstream could not be reached (``kind="connect"``) or did not answer in time
    (``kind="timeout"``), or broke the exchange (``kind="protocol"``). The app answers 504 for
    a timeout, 502 otherwise; Retry may try again first."""

    def __init__(
        self, kind: str, message: str, target: str = "", *, connecting: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind  # "connect", "timeout" or "protocol"
        self.target = target
        # Failed while connecting: the instance is counted towards passive ejection.
        self.connecting = connecting

    @property
    def status(self) -> int:
        return 504 if self.kind == "timeout" else 502


@dataclass(frozen=True, slots=True)
class GatewayFilter:
    """One compiled filter; ``name`` is its factory's, for logs."""

    name: str
    pre: Pre | None = None
    post: Post | None = None
    around: Around | None = None


class FilterChain:
    __slots__ = ("filters",)

    def __init__(self, filters: tuple[GatewayFilter, ...]) -> None:
        self.filters = filters

    async def run(self, exchange: Exchange, terminal: Terminal, start: int = 0) -> GatewayResponse:
        posts: list[Post] = []
        filters = self.filters
        index = start
        count = len(filters)
        while index < count:
            link = filters[index]
            if link.pre is not None:
                link.pre(exchange)
            if link.post is not None:
                posts.append(link.post)
            if link.around is not None:
                rest = functools.partial(self.run, exchange, terminal, index + 1)
                response = await link.around(exchange, rest)
                break
            index += 1
        else:
            response = await terminal(exchange)
        for post in reversed(posts):
            post(exchange, response)
        return response
