"""The cluster part of health_update: every worker's latest report, stale ones marked."""

from __future__ import annotations

from typing import Any

from tigateway_channels.delivery.cluster import ClusterHealth


def report(worker: str, status: str = "UP", sockets: int = 3) -> dict[str, Any]:
    return {"worker": worker, "status": status, "sockets": sockets, "components": {}}


def test_fresh_workers_are_summed() -> None:
    cluster = ClusterHealth()
    cluster.record(report("a:1", sockets=3), 100.0)
    cluster.record(report("b:2", sockets=4), 101.0)
    summary = cluster.summary(102.0)
    assert summary["status"] == "UP"
    assert summary["workers"] == 2
    assert summary["sockets"] == 7
    assert [m["worker"] for m in summary["members"]] == ["a:1", "b:2"]
    assert not any(m["stale"] for m in summary["members"])


def test_a_silent_worker_is_stale_then_forgotten(settings: Any) -> None:
    settings.TIGATEWAY_CHANNELS = {"HEALTH_INTERVAL_SECONDS": 5.0}
    cluster = ClusterHealth()
    cluster.record(report("a:1"), 100.0)
    cluster.record(report("b:2"), 100.0)
    cluster.record(report("a:1"), 120.0)
    summary = cluster.summary(120.0)  # b:2 silent for 20 s, more than 3 intervals
    assert summary["status"] == "DEGRADED"
    assert summary["workers"] == 1
    assert [(m["worker"], m["stale"]) for m in summary["members"]] == [
        ("a:1", False),
        ("b:2", True),
    ]
    cluster.record(report("a:1"), 151.0)
    assert [m["worker"] for m in cluster.summary(151.0)["members"]] == ["a:1"]


def test_a_worker_that_is_not_up_degrades_the_cluster() -> None:
    cluster = ClusterHealth()
    cluster.record(report("a:1"), 100.0)
    cluster.record(report("b:2", status="DEGRADED"), 100.0)
    assert cluster.summary(100.0)["status"] == "DEGRADED"
    only_down = ClusterHealth()
    only_down.record(report("c:3", status="DOWN"), 100.0)
    assert only_down.summary(100.0)["status"] == "DOWN"
