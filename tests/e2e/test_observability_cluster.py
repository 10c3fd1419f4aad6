"""Observability across real processes: traffic through two stand-in gateway processes (each
recording through ``observability.recorder.record_request``, as the gateway will), subscribers
on two control-plane workers (daphne and uvicorn) on one Redis and one PostgreSQL.

- both subscribers get ``metrics`` windows with the same totals, adding up to the requests sent;
- ``metrics_query`` over the persisted buckets returns those totals, per node, and a p99 within
  the sketch's 1% of the true p99 of the latencies the gateways recorded;
- the Prometheus text has every node's counters;
- a log line written in a gateway process reaches a ``logs`` subscriber on a worker and is found
  by ``log_query``, paged by cursor; ``(a+)+$`` over 100,000 stored records answers in bounds;
- a gateway that stops is shown stale; system events (a route's status changed, a worker
  stopping) reach an ``events`` subscriber filtered by type.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets

from tests.e2e.helpers import jwt_for, run_scenario
from tests.processes import Cluster, Worker, cluster, manage, start_asgi_app, stop_worker

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

PASSWORD = "e2e-password-123"
SETTINGS = {
    "METRICS_FLUSH_SECONDS": 1.0,
    "METRICS_PERSIST_SECONDS": 1.0,
    "METRICS_STALE_SECONDS": 3.0,
    "LOG_STREAM_LOGGERS": ["tigateway_channels"],
}
PER_GATEWAY = 400
HOSTILE_ROWS = 100_000
HOSTILE_BOUND_SECONDS = 10.0


class Client:
    """One socket: replies by request id, metrics and log messages as they come."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.metrics: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.counter = 0
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "metrics":
                    self.metrics.append(message)
                elif message["type"] == "log":
                    self.logs.append(message)
                elif message["type"] == "system_event":
                    self.events.append(message)
                else:
                    waiting = self.replies.pop(str(message["data"].get("requestId")), None)
                    if waiting is not None:
                        waiting.set_result(message)

    async def request(self, kind: str, data: dict[str, Any], timeout: float = 30) -> Any:
        self.counter += 1
        request_id = f"{kind}-{self.counter}"
        future = asyncio.get_running_loop().create_future()
        self.replies[request_id] = future
        await self.ws.send(json.dumps({"type": kind, "id": request_id, "data": data}))
        reply = await asyncio.wait_for(future, timeout)
        assert reply["type"] == "ack", reply
        return reply["data"]["result"]

    def total(self) -> int:
        return sum(m["data"]["metrics"]["requests"]["total"] for m in self.metrics)


async def until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def send_traffic(gateways: list[Worker]) -> tuple[list[float], dict[str, int]]:
    """PER_GATEWAY requests to each gateway, 50 at a time; the latencies they recorded."""
    rnd = random.Random(7)
    plan = []
    for gateway in gateways:
        for _ in range(PER_GATEWAY):
            delay = math.exp(rnd.uniform(0.0, math.log(150.0)))  # 1-150 ms, log-uniform
            status = rnd.choices([200, 404, 503], [90, 5, 5])[0]
            route = rnd.choice(["users", "orders", "search"])
            plan.append(f"{gateway.http}/r/{route}?delay={delay:.3f}&status={status}")
    rnd.shuffle(plan)
    recorded: list[float] = []
    statuses: dict[str, int] = {}
    limit = asyncio.Semaphore(50)

    async def one(client: httpx.AsyncClient, url: str) -> None:
        async with limit:
            response = await client.get(url)
        recorded.append(float(response.headers["x-recorded-latency-ms"]))
        key = f"{response.status_code // 100}xx"
        statuses[key] = statuses.get(key, 0) + 1

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(one(client, url) for url in plan))
    return recorded, statuses


def true_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def insert_hostile_records(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tigateway_channels_logrecord "
            "(timestamp, level, logger, message, thread, context, node) "
            "SELECT now() - g * interval '1 millisecond', 'INFO', 'tigateway_channels.hostile', "
            "repeat('a', 40) || '!', 'MainThread', '{}'::jsonb, 'seed' "
            f"FROM generate_series(1, {HOSTILE_ROWS}) AS g"
        )


async def scenario(running: Cluster, gateways: list[Worker]) -> None:
    token = await asyncio.to_thread(jwt_for, running.workers[0].http, PASSWORD)
    first, second = running.workers[:2]
    async with (
        websockets.connect(f"{first.ws}?token={token}", max_size=None) as ws1,
        websockets.connect(f"{second.ws}?token={token}", max_size=None) as ws2,
    ):
        for ws in (ws1, ws2):
            assert json.loads(await ws.recv())["type"] == "ack"
        one, two = Client(ws1), Client(ws2)
        await one.request(
            "subscribe",
            {
                "topics": ["metrics", "events"],
                "filters": {
                    "metrics": {"interval": 1000},
                    "events": {"types": ["route_status_changed", "worker_stopping"]},
                },
            },
        )
        await two.request(
            "subscribe",
            {
                "topics": ["metrics", "logs"],
                "filters": {
                    "metrics": {"interval": 1000},
                    "logs": {"level": ["INFO", "WARN"], "logger": "tigateway_channels.gateway.*"},
                },
            },
        )
        await until(lambda: one.metrics and two.metrics, 20, "the first metrics messages")
        started = time.time()
        skip_one, skip_two = len(one.metrics), len(two.metrics)

        # -- the metrics stream: same windows, same totals, on both workers ----------------
        recorded, statuses = await send_traffic(gateways)
        sent = 2 * PER_GATEWAY
        assert len(recorded) == sent
        await until(lambda: one.total() >= sent and two.total() >= sent, 20, "all requests")
        await asyncio.sleep(2.5)  # nothing more may come
        assert one.total() == two.total() == sent

        def windows(client: Client, skip: int) -> dict[str, dict[str, Any]]:
            return {
                m["data"]["window"]["start"]: m["data"]["metrics"]["requests"]
                for m in client.metrics[skip:]
                if m["data"]["metrics"]["requests"]["total"]
            }

        assert windows(one, skip_one) == windows(two, skip_two)
        errors = sum(w["error"] for w in windows(one, skip_one).values())
        assert errors == statuses.get("4xx", 0) + statuses.get("5xx", 0)
        busy = max(one.metrics, key=lambda m: m["data"]["metrics"]["requests"]["total"])
        nodes = {n["node"]: n for n in busy["data"]["nodes"]}
        assert {"gw-a", "gw-b"} <= set(nodes)
        assert all(not nodes[name]["stale"] for name in ("gw-a", "gw-b"))
        assert busy["data"]["metrics"]["system"]["cpu_usage"] > 0
        assert busy["data"]["metrics"]["system"]["memory_usage"] > 0

        # -- metrics_query over the persisted buckets -----------------------------------
        time_range = {
            "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 30)),
            "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60)),
        }
        per_node: dict[str, int] = {}

        async def persisted() -> bool:
            result = await one.request(
                "metrics_query",
                {
                    "metric": "requests",
                    "aggregation": "sum",
                    "timeRange": time_range,
                    "groupBy": ["node"],
                    "filters": {"nodes": ["gw-a", "gw-b"]},
                },
            )
            per_node.clear()
            per_node.update({s["group"]["node"]: s["value"] for s in result["series"]})
            return sum(per_node.values()) >= sent

        deadline = time.monotonic() + 20
        while not await persisted():
            assert time.monotonic() < deadline, per_node
            await asyncio.sleep(0.5)
        assert per_node == {"gw-a": PER_GATEWAY, "gw-b": PER_GATEWAY}
        p99 = await two.request(
            "metrics_query",
            {
                "metric": "response_time",
                "aggregation": "p99",
                "timeRange": time_range,
                "filters": {"nodes": ["gw-a", "gw-b"]},
            },
        )
        assert p99["resolution"] == 10 and p99["partial"] is False
        assert p99["relativeError"] == 0.01
        truth = true_quantile(recorded, 0.99)
        assert abs(p99["series"][0]["value"] - truth) <= 0.01 * truth + 0.001, (p99, truth)
        by_route = await two.request(
            "metrics_query",
            {
                "metric": "requests",
                "timeRange": time_range,
                "groupBy": ["status_class"],
                "step": 10,
                "filters": {"nodes": ["gw-a", "gw-b"]},
            },
        )
        counted = {
            s["group"]["status_class"]: sum(p["value"] for p in s["points"])
            for s in by_route["series"]
        }
        assert counted == statuses

        # -- Prometheus text -----------------------------------------------------------
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{second.http}/api/tigateway/metrics/prometheus/",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200, response.text
        counters: dict[str, int] = {}
        for line in response.text.splitlines():
            if line.startswith("tigateway_requests_total{"):
                node = line.split('node="', 1)[1].split('"', 1)[0]
                counters[node] = counters.get(node, 0) + int(line.rsplit(" ", 1)[1])
        assert counters.get("gw-a") == PER_GATEWAY and counters.get("gw-b") == PER_GATEWAY

        # -- logs: from a gateway process to a subscriber on a worker, then log_query -----
        marker = f"marker-{uuid.uuid4().hex[:12]}"
        async with httpx.AsyncClient(timeout=10) as client:
            await client.get(
                f"{gateways[0].http}/log", params={"message": marker, "route": "users"}
            )
            for n in range(5):
                await client.get(
                    f"{gateways[1].http}/log", params={"message": f"page-{marker} {n}"}
                )
                await asyncio.sleep(0.01)
        await until(
            lambda: any(m["data"]["message"] == marker for m in two.logs), 10, "the log line"
        )
        line = next(m for m in two.logs if m["data"]["message"] == marker)
        assert line["data"]["level"] == "INFO"
        assert line["data"]["logger"] == "tigateway_channels.gateway.access"
        assert line["data"]["thread"]
        assert line["data"]["timestamp"].endswith("Z")
        assert line["data"]["context"] == {"routeId": "users", "operation": "access", "duration": 1}
        assert line["metadata"]["topic"] == "logs"
        await asyncio.sleep(0.5)  # the publisher stores before it sends; all are stored
        found = await one.request("log_query", {"filters": {"message": marker}, "limit": 10})
        assert [r["message"] for r in found["records"]] == [
            f"page-{marker} {n}" for n in range(4, -1, -1)
        ] + [marker]
        results: list[dict[str, Any]] = []
        cursor = None
        while True:
            query: dict[str, Any] = {"filters": {"message": f"^page-{marker}"}, "limit": 2}
            if cursor:
                query["cursor"] = cursor
            results.append(await one.request("log_query", query))
            cursor = results[-1]["cursors"]["older"]
            if not cursor or not results[-1]["records"]:
                break
        pages = [[r["message"] for r in page["records"]] for page in results]
        assert [m for p in pages for m in p] == [f"page-{marker} {n}" for n in range(4, -1, -1)]
        assert pages[0] == [f"page-{marker} 4", f"page-{marker} 3"]
        back = await one.request(
            "log_query",
            {
                "filters": {"message": f"^page-{marker}"},
                "limit": 2,
                "cursor": results[1]["cursors"]["newer"],
            },
        )
        assert [r["message"] for r in back["records"]] == pages[0]

        # -- a hostile pattern over 100,000 stored records --------------------------------
        await asyncio.to_thread(insert_hostile_records, running.env["DATABASE_URL"])
        began = time.monotonic()
        hostile = await one.request(
            "log_query",
            {"logger": "tigateway_channels.hostile", "filters": {"message": "(a+)+$"}, "limit": 10},
        )
        elapsed = time.monotonic() - began
        assert hostile["count"] == 0
        assert hostile["scanned"] == HOSTILE_ROWS and hostile["complete"]
        assert elapsed < HOSTILE_BOUND_SECONDS, elapsed

        # -- a gateway that stops is shown stale ----------------------------------------
        await asyncio.to_thread(stop_worker, gateways[1])
        await until(
            lambda: any(
                n["node"] == "gw-b" and n["stale"]
                for m in one.metrics[-3:]
                for n in m["data"]["nodes"]
            ),
            15,
            "gw-b shown stale",
        )
        # -- system events, filtered by type ----------------------------------------------
        route = {"id": "events-route", "uri": "http://upstream:8080", "predicates": ["Path=/e/**"]}
        await one.request("route_create", {"route": route})
        await one.request(
            "route_update", {"routeId": "events-route", "updates": {"status": "INACTIVE"}}
        )
        await until(lambda: one.events, 10, "the route_status_changed event")
        event = one.events[0]["data"]
        assert (event["type"], event["severity"]) == ("route_status_changed", "INFO")
        assert event["details"]["from"] == "ACTIVE" and event["details"]["to"] == "INACTIVE"
        assert event["message"] == "Route events-route went from ACTIVE to INACTIVE"
        await asyncio.to_thread(stop_worker, second)
        await until(
            lambda: any(e["data"]["type"] == "worker_stopping" for e in one.events),
            15,
            "the worker_stopping event",
        )
        assert {e["data"]["type"] for e in one.events} == {
            "route_status_changed",
            "worker_stopping",
        }
        for client in (one, two):
            client.reader.cancel()


def test_metrics_and_logs_of_two_gateways_reach_both_workers_and_queries(tmp_path: Path) -> None:
    with cluster(
        ["daphne", "uvicorn"],
        tmp_path,
        extra_env={"TIGATEWAY_CHANNELS_JSON": json.dumps(SETTINGS)},
    ) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        gateways = []
        try:
            for name in ("gw-a", "gw-b"):
                env = {**running.env, "TRAFFIC_NODE": name}
                gateways.append(start_asgi_app("tests.e2e.traffic_app:app", env, tmp_path, name))
            running.workers.extend(gateways)  # their logs too, if the scenario fails
            run_scenario(running, scenario(running, gateways))
        finally:
            for gateway in gateways:
                stop_worker(gateway)
