"""The one pooled upstream HTTP client of a gateway process (aiohttp), and the header rules
every proxied request and response follows.

aiohttp, not httpx: on this machine's measurement (``python -m benchmarks.gateway_clients``,
docs/gateway.md) aiohttp answered a kept-alive GET in ~0.2 ms against httpx's ~1 ms, and
carried 10-17x more requests per second at 32 concurrent requests; it also brings the
WebSocket client the gateway needs, so one library serves both.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from tigateway_channels.gateway.asgi_types import Headers
from tigateway_channels.gateway.chain import UpstreamFailure

# RFC 9110 §7.6.1: meant for one connection only, never forwarded (plus whatever a Connection
# header names). Proxy-Connection is the pre-standard spelling clients still send.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"proxy-connection",
        b"keep-alive",
        b"te",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The WebSocket handshake is made anew on the upstream connection.
WEBSOCKET_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)
_SKIP_AUTO = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})


def without_hop_by_hop(headers: Headers, extra: frozenset[bytes] = frozenset()) -> Headers:
    """Headers minus hop-by-hop ones and those a Connection header names (names lower-cased)."""
    lowered = [(key.lower(), value) for key, value in headers]
    drop = HOP_BY_HOP | extra
    for key, value in lowered:
        if key == b"connection":
            drop = drop | {token.strip().lower() for token in value.split(b",")}
    return [(key, value) for key, value in lowered if key not in drop]


class UpstreamClient:
    """One aiohttp session (and connection pool) per gateway process and event loop."""

    def __init__(self, pool_size: int, connect_timeout: float, read_timeout: float) -> None:
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.pool_size, limit_per_host=0, ttl_dns_cache=10, force_close=False
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=_SKIP_AUTO,
                timeout=aiohttp.ClientTimeout(total=None),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    @functools.lru_cache(maxsize=256)  # noqa: B019  (one client per process, few pairs)
    def timeouts(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        connect = self.connect_timeout if connect is None else connect
        read = self.read_timeout if read is None else read
        return aiohttp.ClientTimeout(
            total=None,
            sock_connect=None if connect == float("inf") else connect,
            sock_read=None if read == float("inf") else read,
        )

    async def request(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: Any,
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """Send a request; raise ``UpstreamFailure`` when the upstream is unreachable or slow."""
        from yarl import URL

        try:
            return await self.session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise _failure(
                "timeout", "connecting to the upstream timed out", url, exc, True
            ) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _failure(
                "timeout", "the upstream did not answer in time", url, exc, False
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise _failure(
                "connect", f"the upstream is unreachable ({exc.os_error})", url, exc, True
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise _failure(
                "protocol", f"the upstream connection failed ({exc!r})", url, exc, False
            ) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _failure(
    kind: str, message: str, url: str, exc: BaseException, connecting: bool
) -> UpstreamFailure:
    failure = UpstreamFailure(kind, message, url.split("?", 1)[0], connecting=connecting)
    failure.__cause__ = exc
    return failure


async def response_body(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The upstream body as it arrives; the connection goes back to the pool at the end."""
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.release()
