"""Figures reported by external gateways (REST ``POST .../metrics/ingest/`` and the WebSocket
``metrics_report`` message), merged with the built-in gateway's.

A report describes what one node served since its previous report: per route, method and
status, the count and latency (either the raw values, or count, sum, min, max and a sketch in
this package's mapping: bucket ``ceil(ln(v) / ln(GAMMA))`` of milliseconds, 1% accuracy),
and optionally the node's CPU, memory and collections. The worker that receives it counts it at
its next round like its own figures, under the report's ``node``. A ``reportId`` seen in the
last hour is not counted again, so a gateway may retry a report whose answer it lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tigateway_channels.observability import runtime
from tigateway_channels.observability.backends import get_backend
from tigateway_channels.observability.query_fields import invalid, number
from tigateway_channels.observability.recorder import (
    KNOWN_METHODS,
    OTHER_METHOD,
    SeriesKey,
    status_class,
)
from tigateway_channels.observability.sketch import MAX_INDEX, MIN_INDEX, Latency
from tigateway_channels.protocol.ids import id_problem
from tigateway_channels.protocol.json_values import is_integer, is_number

# The Django permission an external gateway's user needs to report (REST and WebSocket).
REPORT_METRICS = "tigateway_channels.report_metrics"
MAX_SERIES = 1000
MAX_LATENCIES = 10_000
DUPLICATE_WINDOW_SECONDS = 3600.0
NODE = re.compile(r"^[A-Za-z0-9._:@\-]{1,128}\Z")
_CLASSES = {"none": 0, "1xx": 1, "2xx": 2, "3xx": 3, "4xx": 4, "5xx": 5}


@dataclass(frozen=True)
class Report:
    node: str
    report_id: str | None
    series: dict[SeriesKey, Latency]
    system: dict[str, Any] | None

    @property
    def requests(self) -> int:
        return sum(latency.count for latency in self.series.values())


def _series_key(item: dict[str, Any], where: str) -> SeriesKey:
    route = item.get("routeId", "")
    if not isinstance(route, str) or (route and id_problem(route) is not None):
        raise invalid(f"{where}.routeId", route, 'must be a route id (or "" for no route)')
    method = item.get("method")
    if not isinstance(method, str) or not method or len(method) > 16:
        raise invalid(f"{where}.method", method, "must be an HTTP method")
    method = method.upper()
    if method not in KNOWN_METHODS:
        method = OTHER_METHOD
    if "status" in item:
        status = item["status"]
        if not is_integer(status) or not 0 <= status < 600:
            raise invalid(f"{where}.status", status, "must be an HTTP status (0: no response)")
        return route, method, status_class(status)
    klass = item.get("statusClass")
    if isinstance(klass, str) and klass in _CLASSES:
        return route, method, _CLASSES[klass]
    raise invalid(f"{where}.status", None, 'give status (200) or statusClass ("2xx", "none")')


def _latency(item: dict[str, Any], where: str, budget: list[int]) -> Latency:
    values = item.get("latenciesMs")
    if values is not None:
        if not isinstance(values, list) or not values:
            raise invalid(f"{where}.latenciesMs", values, "must be a non-empty list of numbers")
        budget[0] -= len(values)
        if budget[0] < 0:
            raise invalid(
                f"{where}.latenciesMs", len(values), f"at most {MAX_LATENCIES} values per report"
            )
        if not all(is_number(v) and v >= 0 for v in values):
            raise invalid(f"{where}.latenciesMs", None, "every value must be a number >= 0")
        latency = Latency.from_values(values)
        if "count" in item and item["count"] != latency.count:
            raise invalid(f"{where}.count", item["count"], "differs from len(latenciesMs)")
        return latency
    sketch = item.get("sketch")
    if not isinstance(sketch, dict):
        raise invalid(f"{where}.sketch", sketch, "give latenciesMs, or a sketch with its figures")
    zeros = sketch.get("zeroCount", 0)
    bins = sketch.get("bins")
    if not is_integer(zeros) or zeros < 0 or not isinstance(bins, dict) or len(bins) > 2000:
        raise invalid(
            f"{where}.sketch", None, "must be {zeroCount, bins: {index: count}} (<= 2000 bins)"
        )
    parsed: dict[int, int] = {}
    for index, n in bins.items():
        try:
            position = int(index)
        except ValueError:
            raise invalid(f"{where}.sketch.bins", index, "bin indexes are integers") from None
        if not MIN_INDEX <= position <= MAX_INDEX or not is_integer(n) or n < 0:
            raise invalid(
                f"{where}.sketch.bins.{index}",
                n,
                f"a count >= 0 for an index from {MIN_INDEX} to {MAX_INDEX}",
            )
        parsed[position] = n
    count = item.get("count")
    if not is_integer(count) or count != zeros + sum(parsed.values()) or count < 1:
        raise invalid(f"{where}.count", count, "must equal zeroCount plus the bins' counts (>= 1)")
    low = number(item.get("minMs"), f"{where}.minMs")
    high = number(item.get("maxMs"), f"{where}.maxMs")
    total = number(item.get("sumMs"), f"{where}.sumMs")
    if low > high:
        raise invalid(f"{where}.minMs", low, "must not exceed maxMs")
    return Latency.from_bins(parsed, zeros, total, low, high)


def _system(data: dict[str, Any]) -> dict[str, Any] | None:
    system = data.get("system")
    if system is None:
        return None
    if not isinstance(system, dict):
        raise invalid("system", system, "must be an object")
    found: dict[str, Any] = {}
    if system.get("cpuUsage") is not None:
        period = data.get("periodMs")
        if not is_integer(period) or not 1 <= period <= 3_600_000:
            raise invalid("periodMs", period, "cpuUsage needs the report's period (1-3600000 ms)")
        found["cpu"] = number(system["cpuUsage"], "system.cpuUsage") / 100.0 * period / 1000.0
    if system.get("memoryUsage") is not None:
        found["mem"] = number(system["memoryUsage"], "system.memoryUsage")
    if system.get("gcCount") is not None:
        found["gcCount"] = number(system["gcCount"], "system.gcCount")
    if system.get("gcTimeMs") is not None:
        found["gcMs"] = number(system["gcTimeMs"], "system.gcTimeMs")
    return found


def parse_report(data: dict[str, Any]) -> Report:
    node = data.get("node")
    if not isinstance(node, str) or not NODE.match(node):
        raise invalid("node", node, "must be 1-128 letters, digits, '.', '_', ':', '@' or '-'")
    report_id = data.get("reportId")
    if report_id is not None and (not isinstance(report_id, str) or not 0 < len(report_id) <= 128):
        raise invalid("reportId", report_id, "must be a string of 1 to 128 characters")
    items = data.get("requests", [])
    if not isinstance(items, list) or len(items) > MAX_SERIES:
        raise invalid("requests", None, f"must be a list of at most {MAX_SERIES} series")
    series: dict[SeriesKey, Latency] = {}
    budget = [MAX_LATENCIES]
    for position, item in enumerate(items):
        where = f"requests[{position}]"
        if not isinstance(item, dict):
            raise invalid(where, item, "must be an object")
        key = _series_key(item, where)
        latency = _latency(item, where, budget)
        if key in series:
            series[key].merge(latency)
        else:
            series[key] = latency
    return Report(node, report_id, series, _system(data))


def accept_report(report: Report) -> dict[str, Any]:
    """Count a parsed report at this process's next round, unless it was seen (sync code)."""
    if report.report_id is not None:
        name = f"report.{report.node}.{report.report_id}"
        if not get_backend().first_time(name, DUPLICATE_WINDOW_SECONDS):
            return {"accepted": False, "duplicate": True, "requests": report.requests}
    reporter = runtime.start(kind="worker")
    reporter.external.add(report.node, report.series, report.system)
    return {
        "accepted": True,
        "duplicate": False,
        "node": report.node,
        "series": len(report.series),
        "requests": report.requests,
    }
