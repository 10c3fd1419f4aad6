"""The REST side: the Prometheus text (users with view_metrics, or the scrape token), the
ingest of external reports (report_metrics), and the two queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tigateway_channels.models import Route
from tigateway_channels.observability import prometheus
from tigateway_channels.observability.backends import get_backend
from tigateway_channels.observability.prometheus import NodeTotals
from tigateway_channels.observability.sketch import Latency
from tigateway_channels.observability.wire import Delta

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789abcdef"


def client_for(user: Any = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def leave_totals(node: str, values: list[float]) -> None:
    totals = NodeTotals(node, "gateway", None)
    totals.add(
        Delta(
            node=node,
            process="p",
            kind="gateway",
            host="h",
            since=0,
            until=1,
            series={("users", "GET", 2): Latency.from_values(values)},
            system={"cpu": 1.5, "rss": 1024, "mem": 1.0, "gcCount": 3, "gcMs": 20.0},
        )
    )
    get_backend().report([], {node: b"{}"}, {node: totals.encode()})


def test_prometheus_text_has_each_nodes_counters_and_histograms(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"METRICS_SCRAPE_TOKEN": TOKEN}
    Route.objects.create(id="users", uri="http://users")
    leave_totals("gw-a", [3.0, 40.0, 2000.0])
    url = reverse("tigateway:metrics-prometheus")
    refused = client_for().get(url, HTTP_AUTHORIZATION="Bearer wrong-token-0123456789")
    assert refused.status_code == 401
    response = client_for().get(url, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == prometheus.CONTENT_TYPE
    text = response.content.decode()
    labels = 'node="gw-a",kind="gateway",route="users",method="GET",status="2xx"'
    assert f"tigateway_requests_total{{{labels}}} 3" in text
    assert f'tigateway_request_duration_seconds_bucket{{{labels},le="0.005"}} 1' in text
    assert f'tigateway_request_duration_seconds_bucket{{{labels},le="0.05"}} 2' in text
    assert f'tigateway_request_duration_seconds_bucket{{{labels},le="+Inf"}} 3' in text
    assert f"tigateway_request_duration_seconds_count{{{labels}}} 3" in text
    assert 'tigateway_process_cpu_seconds_total{node="gw-a",kind="gateway"} 1.5' in text
    assert 'tigateway_gc_seconds_total{node="gw-a",kind="gateway"} 0.02' in text
    assert 'tigateway_routes{status="ACTIVE"} 1' in text
    assert "# TYPE tigateway_request_duration_seconds histogram" in text


def test_prometheus_text_needs_view_metrics_without_the_token(make_user: Any) -> None:
    url = reverse("tigateway:metrics-prometheus")
    assert client_for().get(url).status_code == 401
    assert client_for(make_user("nobody")).get(url).status_code == 403
    assert client_for(make_user("viewer", "view_metrics")).get(url).status_code == 200


def test_an_external_report_is_accepted_over_rest(make_user: Any) -> None:
    url = reverse("tigateway:metrics-ingest")
    report = {
        "node": "java-gw-2",
        "reportId": "r-1",
        "requests": [{"routeId": "r", "method": "POST", "status": 201, "latenciesMs": [5, 6]}],
    }
    assert (
        client_for(make_user("viewer", "view_metrics")).post(url, report, format="json").status_code
        == 403
    )
    reporter = client_for(make_user("java", "report_metrics"))
    accepted = reporter.post(url, report, format="json")
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["requests"] == 2
    repeated = reporter.post(url, report, format="json")
    assert (repeated.status_code, repeated.json()["duplicate"]) == (200, True)
    bad = reporter.post(url, {**report, "node": ""}, format="json")
    assert bad.status_code == 400
    assert bad.json()["code"] == "INVALID_MESSAGE_FORMAT"


def test_the_queries_answer_over_rest(make_user: Any) -> None:
    user = make_user("viewer", "view_metrics", "view_logs")
    metrics = client_for(user).post(
        reverse("tigateway:metrics-query"), {"metric": "requests"}, format="json"
    )
    assert metrics.status_code == 200, metrics.content
    assert metrics.json()["series"] == [{"group": {}, "value": 0}]
    logs = client_for(user).post(reverse("tigateway:logs-query"), {"limit": 5}, format="json")
    assert logs.status_code == 200 and logs.json()["records"] == []
    refused = client_for(make_user("metrics-only", "view_metrics")).post(
        reverse("tigateway:logs-query"), {}, format="json"
    )
    assert refused.status_code == 403
