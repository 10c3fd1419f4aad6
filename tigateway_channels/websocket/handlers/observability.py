"""Observability requests: ``metrics_query`` (6.2), ``log_query`` (7.2) and ``metrics_report``
(an external gateway's figures), each permission-checked (docs/observability.md).

Queries run on a thread of their own (not the worker's one database thread), so a long log
scan never holds up another socket's route or config request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.db import DatabaseSyncToAsync

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.topics import TOPICS
from tigateway_channels.observability.ingest import REPORT_METRICS, accept_report, parse_report
from tigateway_channels.observability.log_query import parse_log_query, run_log_query
from tigateway_channels.observability.metrics_query import parse_metrics_query, run_metrics_query
from tigateway_channels.protocol.messages import ClientMessage
from tigateway_channels.services.permissions import require_permission
from tigateway_channels.websocket.connection import Connection
from tigateway_channels.websocket.handlers.registry import handles


def _anonymous_read(conn: Connection) -> bool:
    return not conn.identity.is_authenticated and tigw_settings.ALLOW_ANONYMOUS_READ


def _in_thread(func: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    return DatabaseSyncToAsync(func, thread_sensitive=False)


def _metrics_query(user: Any, anonymous_read: bool, data: dict[str, Any]) -> dict[str, Any]:
    if not anonymous_read:
        require_permission(user, TOPICS["metrics"].permission, "query metrics")
    return run_metrics_query(parse_metrics_query(data))


def _log_query(user: Any, anonymous_read: bool, data: dict[str, Any]) -> dict[str, Any]:
    if not anonymous_read:
        require_permission(user, TOPICS["logs"].permission, "query logs")
    return run_log_query(parse_log_query(data))


def _metrics_report(user: Any, data: dict[str, Any]) -> dict[str, Any]:
    require_permission(user, REPORT_METRICS, "report metrics")
    return accept_report(parse_report(data))


@handles("metrics_query")
async def metrics_query(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    result: dict[str, Any] = await _in_thread(_metrics_query)(
        conn.user, _anonymous_read(conn), message.data
    )
    return result


@handles("log_query")
async def log_query(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    result: dict[str, Any] = await _in_thread(_log_query)(
        conn.user, _anonymous_read(conn), message.data
    )
    return result


@handles("metrics_report")
async def metrics_report(conn: Connection, message: ClientMessage) -> dict[str, Any]:
    result: dict[str, Any] = await _in_thread(_metrics_report)(conn.user, message.data)
    return result
