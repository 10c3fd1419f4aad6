"""The cluster part of health: each worker shares its report with the others of its deployment
(``HEALTH_EVENT`` on the ``health`` group) and keeps the latest report of each."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tigateway_channels.asgi_types import Message
from tigateway_channels.conf import tigw_settings
from tigateway_channels.protocol.envelope import utc_timestamp

HEALTH_EVENT = "tigw.health"


def health_message(deployment: str | None, report: dict[str, Any]) -> Message:
    """What crosses the channel layer; ``deployment`` lets workers drop what is not theirs."""
    return {"type": HEALTH_EVENT, "deployment": deployment, "report": report}


class ClusterHealth:
    """The latest report of every worker of this deployment, as each one shared it."""

    def __init__(self) -> None:
        self._reports: dict[str, tuple[float, dict[str, Any]]] = {}

    def record(self, report: dict[str, Any], received_at: float) -> None:
        worker = str(report.get("worker", ""))[:200]
        if worker:
            self._reports[worker] = (received_at, report)

    def summary(self, now: float) -> dict[str, Any]:
        """Members, their status and sockets; a worker silent for three intervals is stale,
        and one silent for ten is forgotten (it stopped, or it was replaced)."""
        interval = tigw_settings.HEALTH_INTERVAL_SECONDS
        members = []
        for worker, (seen, report) in sorted(self._reports.items()):
            if now - seen > 10 * interval:
                del self._reports[worker]
                continue
            members.append(
                {
                    "worker": worker,
                    "status": report.get("status", "DOWN"),
                    "sockets": int(report.get("sockets") or 0),
                    "lastSeen": utc_timestamp(dt.datetime.fromtimestamp(seen, dt.UTC)),
                    "stale": now - seen > 3 * interval,
                }
            )
        fresh = [m for m in members if not m["stale"]]
        if fresh and len(fresh) == len(members) and all(m["status"] == "UP" for m in fresh):
            status = "UP"
        elif any(m["status"] == "UP" for m in fresh):
            status = "DEGRADED"
        else:
            status = "DOWN"
        return {
            "status": status,
            "workers": len(fresh),
            "sockets": sum(m["sockets"] for m in fresh),
            "members": members,
        }
