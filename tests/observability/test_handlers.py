"""metrics_query, log_query and metrics_report over the WebSocket API: one reply each,
permissions, and an external gateway's figures merged with the process's own."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.ws import open_socket
from tigateway_channels.observability import runtime
from tigateway_channels.observability.backends import get_backend
from tigateway_channels.observability.wire import Delta

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

REPORT = {
    "node": "java-gw-1",
    "reportId": "java-gw-1-000001",
    "periodMs": 10000,
    "requests": [
        {"routeId": "user-route", "method": "GET", "status": 200, "latenciesMs": [12.0, 15.5]},
        {
            "routeId": "user-route",
            "method": "get",
            "statusClass": "5xx",
            "count": 3,
            "sumMs": 300.0,
            "minMs": 90.0,
            "maxMs": 110.0,
            "sketch": {"zeroCount": 0, "bins": {"228": 2, "238": 1}},
        },
    ],
    "system": {"cpuUsage": 45.0, "memoryUsage": 68.5, "gcCount": 10, "gcTimeMs": 150},
}


async def test_queries_need_the_view_permissions(make_user: Any) -> None:
    nobody = await sync_to_async(make_user)("nobody")
    socket = await open_socket(nobody)
    for kind, permission in (
        ("metrics_query", "tigateway_channels.view_metrics"),
        ("log_query", "tigateway_channels.view_logs"),
        ("metrics_report", "tigateway_channels.report_metrics"),
    ):
        data = {"metric": "requests"} if kind == "metrics_query" else {}
        reply = await socket.request(kind, data)
        assert reply["type"] == "error", reply
        assert reply["data"]["code"] == "FORBIDDEN"
        assert reply["data"]["details"]["permission"] == permission
    await socket.close()


async def test_queries_answer_with_an_ack_carrying_the_result(make_user: Any) -> None:
    user = await sync_to_async(make_user)("viewer", "view_metrics", "view_logs")
    socket = await open_socket(user)
    reply = await socket.request(
        "metrics_query",
        {
            "metric": "response_time",
            "timeRange": {"start": "2024-09-23T09:00:00Z", "end": "2024-09-23T10:00:00Z"},
            "aggregation": "avg",
            "groupBy": ["route_id"],
        },
    )
    assert reply["type"] == "ack", reply
    assert reply["data"]["requestType"] == "metrics_query"
    result = reply["data"]["result"]
    assert (result["metric"], result["aggregation"], result["series"]) == (
        "response_time",
        "avg",
        [],
    )
    assert result["partial"] is True  # 2024 is long past every retention
    logs = await socket.request("log_query", {"level": ["ERROR", "WARN"], "logger": "ti.gateway.*"})
    assert logs["type"] == "ack" and logs["data"]["result"]["records"] == []
    bad = await socket.request("log_query", {"filters": {"message": "(unclosed"}})
    assert bad["type"] == "error" and bad["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    assert bad["data"]["details"]["field"] == "data.filters.message"
    await socket.close()


async def test_an_external_gateway_report_is_counted_once_under_its_node(make_user: Any) -> None:
    user = await sync_to_async(make_user)("java-gateway", "report_metrics")
    socket = await open_socket(user)
    reply = await socket.request("metrics_report", REPORT)
    assert reply["type"] == "ack", reply
    assert reply["data"]["result"] == {
        "accepted": True,
        "duplicate": False,
        "node": "java-gw-1",
        "series": 2,
        "requests": 5,
    }
    again = await socket.request("metrics_report", REPORT)
    assert again["data"]["result"]["duplicate"] is True
    reporter = runtime.reporter()
    assert reporter is not None
    deltas = await sync_to_async(reporter.round, thread_sensitive=False)()
    external = next(d for d in deltas if d.node == "java-gw-1")
    assert external.kind == "external"
    assert {key: latency.count for key, latency in external.series.items()} == {
        ("user-route", "GET", 2): 2,
        ("user-route", "GET", 5): 3,
    }
    assert external.system == {"cpu": 4.5, "mem": 68.5, "gcCount": 10.0, "gcMs": 150.0}
    backend = await sync_to_async(get_backend)()
    sent = [Delta.decode(raw) for _id, raw in backend.read_deltas("", 100)]
    assert "java-gw-1" in {delta.node for delta in sent}
    await socket.close()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"node": "has space"}, "data.node"),
        (
            {"requests": [{"routeId": "bad id!", "method": "GET", "status": 200}]},
            "data.requests[0].routeId",
        ),
        (
            {"requests": [{"routeId": "r", "method": "GET", "status": 700}]},
            "data.requests[0].status",
        ),
        (
            {"requests": [{"routeId": "r", "method": "GET", "status": 200, "latenciesMs": [-1]}]},
            "data.requests[0].latenciesMs",
        ),
        (
            {
                "requests": [
                    {
                        "routeId": "r",
                        "method": "GET",
                        "status": 200,
                        "count": 5,
                        "sumMs": 1,
                        "minMs": 0,
                        "maxMs": 1,
                        "sketch": {"bins": {"1": 2}},
                    }
                ]
            },
            "data.requests[0].count",
        ),
        ({"system": {"cpuUsage": 10}, "periodMs": None}, "data.periodMs"),
    ],
)
async def test_a_bad_report_names_the_field(
    make_user: Any, change: dict[str, Any], field: str
) -> None:
    user = await sync_to_async(make_user)("java-gateway", "report_metrics")
    socket = await open_socket(user)
    reply = await socket.request("metrics_report", {**REPORT, "reportId": None, **change})
    assert reply["type"] == "error", reply
    assert reply["data"]["code"] == "INVALID_MESSAGE_FORMAT"
    assert reply["data"]["details"]["field"] == field
    await socket.close()
