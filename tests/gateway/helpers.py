"""Exchanges and tables for the gateway's unit tests (no server, no network)."""

from __future__ import annotations

from typing import Any

from tigateway_channels.gateway.context import GatewayContext
from tigateway_channels.gateway.exchange import Exchange, GatewayResponse
from tigateway_channels.gateway.table import RouteTable, TableBuilder


def exchange(
    path: str = "/",
    *,
    method: str = "GET",
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    host: str | None = "gw.example.org",
    client: str = "10.1.2.3",
    scheme: str = "http",
) -> Exchange:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or [])]
    if host is not None:
        raw.insert(0, (b"host", host.encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": raw,
        "client": (client, 50000),
        "server": ("127.0.0.1", 8080),
    }
    return Exchange.from_scope(scope, None)


def route(route_id: str, *predicates: Any, filters: Any = (), **fields: Any) -> dict[str, Any]:
    return {
        "id": route_id,
        "uri": fields.pop("uri", "http://upstream:8080"),
        "predicates": list(predicates),
        "filters": list(filters),
        "status": fields.pop("status", "ACTIVE"),
        "order": fields.pop("order", 0),
        "metadata": fields.pop("metadata", {}),
        **fields,
    }


def table(*routes: dict[str, Any], global_filters: Any = None, context: Any = None) -> RouteTable:
    builder = TableBuilder(context or GatewayContext())
    builder.reset(routes, {"globals": global_filters} if global_filters else {})
    return builder.build()


async def echo_terminal(exchange: Exchange) -> GatewayResponse:
    """Answers 200 with the outgoing request in the body (as text), for filter tests."""
    body = f"{exchange.method} {exchange.path}?{exchange.query}".encode()
    return GatewayResponse(200, [(b"content-type", b"text/plain")], body)
