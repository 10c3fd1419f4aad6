"""Each process's reporter: a thread that, every ``METRICS_FLUSH_SECONDS``, collects what the
process recorded and hands it to the cluster.

One round: take the recorder's figures (``recorder.harvest``) and this process's CPU, memory and
collections (``system.py``), plus any external gateway's reports this process accepted; append
them as deltas for the merger and replace this process's Prometheus totals (one round trip to
the backend); count them in this process's open time buckets, written to the database every
``METRICS_PERSIST_SECONDS``. Once a minute one process of the cluster prunes old rows.

Rounds fall on whole multiples of the flush period on every process's clock, so every
process's figures reach the backend at about the same moment, just before the merger's tick.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from tigateway_channels.conf import tigw_settings
from tigateway_channels.observability import recorder
from tigateway_channels.observability.backends import get_backend
from tigateway_channels.observability.buckets import OpenBuckets, prune, route_counts
from tigateway_channels.observability.prometheus import NodeTotals
from tigateway_channels.observability.recorder import SeriesKey
from tigateway_channels.observability.sketch import Latency
from tigateway_channels.observability.system import ProcessFigures, host_name
from tigateway_channels.observability.wire import Delta

logger = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0
# How often one process of the cluster samples the route counts (routes.* in metrics_query).
ROUTE_COUNTS_EVERY_SECONDS = 10.0


def process_name() -> str:
    """This process among all that ever wrote figures: host, pid and when it started."""
    return f"{host_name()}:{os.getpid()}:{int(time.time())}"


class ExternalReports:
    """Figures that external gateways reported to this process, waiting for the next round."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[dict[SeriesKey, Latency], dict[str, Any] | None]] = {}

    def add(
        self, node: str, series: dict[SeriesKey, Latency], system: dict[str, Any] | None
    ) -> None:
        with self._lock:
            mine, had = self._pending.get(node, ({}, None))
            for key, latency in series.items():
                if key in mine:
                    mine[key].merge(latency)
                else:
                    mine[key] = latency
            if system is not None:
                merged = dict(had or {})
                for name, value in system.items():
                    if name in ("cpu", "gcCount", "gcMs") and name in merged:
                        merged[name] = (merged[name] or 0) + value
                    else:
                        merged[name] = value
                had = merged
            self._pending[node] = (mine, had)

    def take(self) -> dict[str, tuple[dict[SeriesKey, Latency], dict[str, Any] | None]]:
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending


class Reporter:
    """The reporting side of one process (a gateway process or a worker)."""

    def __init__(self, node: str, kind: str) -> None:
        self.node = node
        self.kind = kind
        self.host = host_name()
        self.process = process_name()
        self.external = ExternalReports()
        self._figures = ProcessFigures()
        self._buckets = OpenBuckets(self.process)
        self._totals: dict[str, NodeTotals] = {node: NodeTotals(node, kind, None)}
        self._last_persist = time.monotonic()
        self._last_prune = 0.0
        self._last_route_counts = 0.0
        self._rounds = 0
        self._external_since = time.time()
        self._failing: set[str] = set()
        self._stop = threading.Event()
        self._final = True
        self._thread: threading.Thread | None = None
        recorder.configure(tigw_settings.METRICS_MAX_SERIES)

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="tigateway-metrics-reporter", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0, final: bool = True) -> None:
        """Stop after a last round that writes everything still open (unless not ``final``)."""
        self._final = final
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._until_next_round()):
                self.round()
            if self._final:
                self.round(final=True)
        finally:
            connection.close()

    @staticmethod
    def _until_next_round() -> float:
        period = tigw_settings.METRICS_FLUSH_SECONDS
        return period - (time.time() % period)

    def set_logs_dropped(self, count: int) -> None:
        self._totals[self.node].logs_dropped = count

    # -- one round ----------------------------------------------------------------------

    def round(self, final: bool = False) -> list[Delta]:
        """Collect, hand over and keep one round; never raises (a failure is logged once
        until it recovers). Returns the round's deltas."""
        deltas = self._collect()
        if final and not self._rounds and not deltas[0].series and len(deltas) == 1:
            return deltas  # a process that never reported and served nothing: nothing to keep
        self._rounds += 1
        for delta in deltas:
            self._buckets.add(delta)
            key = self._key(delta)
            totals = self._totals.get(key)
            if totals is None:
                via = self.process if delta.kind == "external" else None
                totals = self._totals[key] = NodeTotals(delta.node, delta.kind, via)
            totals.add(delta)
        self._guarded("backend", self._hand_over, deltas)
        now = time.monotonic()
        if final or now - self._last_persist >= tigw_settings.METRICS_PERSIST_SECONDS:
            self._last_persist = now
            self._guarded("database", self._buckets.persist, time.time())
        if not final and now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            self._guarded("pruning", self._prune)
        if not final and now - self._last_route_counts >= ROUTE_COUNTS_EVERY_SECONDS:
            self._last_route_counts = now
            self._guarded("route counts", self._sample_route_counts)
        return deltas

    def _collect(self) -> list[Delta]:
        harvest = recorder.harvest()
        system = self._figures.sample()
        deltas = [
            Delta(
                node=self.node,
                process=self.process,
                kind=self.kind,
                host=self.host,
                since=harvest.since,
                until=harvest.until,
                series=harvest.series,
                system=system.as_wire(),
            )
        ]
        now = time.time()
        for node, (series, external_system) in self.external.take().items():
            deltas.append(
                Delta(
                    node=node,
                    process=self.process,
                    kind="external",
                    host="",
                    since=self._external_since,
                    until=now,
                    series=series,
                    system=external_system,
                )
            )
        self._external_since = now
        return deltas

    def _key(self, delta: Delta) -> str:
        """Where a node's description and totals are kept: by node, and for an external
        gateway by node and the process it reported to (each keeps its own totals)."""
        return f"{delta.node} via {self.process}" if delta.kind == "external" else delta.node

    def _hand_over(self, deltas: list[Delta]) -> None:
        now = time.time()
        nodes = {self._key(d): _node_description(d, now, self.process) for d in deltas}
        prom = {self._key(d): self._totals[self._key(d)].encode() for d in deltas}
        get_backend().report([delta.encode() for delta in deltas], nodes, prom)

    def _prune(self) -> None:
        if get_backend().claim("prune", PRUNE_EVERY_SECONDS * 0.9):
            deleted = prune(timezone.now())
            if deleted:
                logger.info("Pruned %d metric and log row(s) past their retention", deleted)

    def _sample_route_counts(self) -> None:
        if get_backend().claim("route_counts", ROUTE_COUNTS_EVERY_SECONDS * 0.9):
            at = time.time()
            for status, count in route_counts().items():
                self._buckets.add_sample(f"routes_{status}", "cluster", count, at)

    def _guarded(self, what: str, step: Any, *args: Any) -> None:
        try:
            step(*args)
        except Exception as exc:
            if what not in self._failing:
                self._failing.add(what)
                logger.warning("Metrics reporting: %s failed (%s); retrying each round", what, exc)
        else:
            if what in self._failing:
                self._failing.discard(what)
                logger.info("Metrics reporting: %s works again", what)


def _node_description(delta: Delta, now: float, process: str) -> bytes:
    return orjson.dumps(
        {
            "node": delta.node,
            "kind": delta.kind,
            "host": delta.host,
            "process": process,
            "lastSeen": now,
        }
    )
