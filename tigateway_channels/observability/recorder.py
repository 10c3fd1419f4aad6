"""The gateway's side of metrics: ``record_request``, per process, with no lock and no I/O.

Each thread that records gets its own ``Figures`` (a dict of series, each a ``Latency``), so
recording is a thread-local lookup, a dict lookup and a few additions: no lock is shared with
any other request, and nothing waits on the network or the disk.

The reporter thread (``reporter.py``) collects them without stopping the recording threads: it
swaps in a fresh ``Figures`` for each thread (one attribute store) and reads the one it took
out once no request that began before the swap is still writing to it. Each thread counts the
requests it began and finished recording (two integer increments, written only by that
thread): every record that can hold the old ``Figures`` began before the swap, so when the
finished count reaches the began count read just after the swap, the old ``Figures`` is the
reporter's alone. A thread caught mid-record keeps its figures for the next round. Nothing is
lost or counted twice, and the reporter never reads a dict another thread is writing.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from dataclasses import dataclass

from tigateway_channels.observability.sketch import Latency

# Methods kept as they are; anything else is recorded as OTHER so a client cannot grow the
# number of series by inventing methods.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "OTHER"
# Route id of requests no route matched, and of series beyond the per-process limit.
NO_ROUTE = ""
OVERFLOW_ROUTE = "(overflow)"
# Series one thread keeps per round before folding new ones into OVERFLOW_ROUTE
# (route x method x status class); ``configure`` sets it from METRICS_MAX_SERIES.
_series_limit = 10_000

SeriesKey = tuple[str, str, int]  # route id, method, status class (0 = no response, 1..5)


def status_class(status: int) -> int:
    """1 for 1xx ... 5 for 5xx; 0 for no response (a gateway that gave up, or a bad code)."""
    return status // 100 if 100 <= status < 600 else 0


class Figures:
    """What one thread recorded in one round: a latency distribution per series."""

    __slots__ = ("series",)

    def __init__(self) -> None:
        self.series: dict[SeriesKey, Latency] = {}


class _Slot:
    """One recording thread's figures: the current ones, and the ones taken out by the
    reporter that may still be written to until ``finished`` reaches ``fence``."""

    __slots__ = ("current", "fence", "finished", "retired", "started", "thread")

    def __init__(self, thread: threading.Thread) -> None:
        self.current = Figures()
        self.retired: Figures | None = None
        self.started = 0  # records this thread began (written by this thread only)
        self.finished = 0  # records this thread finished (written by this thread only)
        self.fence = 0  # ``started`` just after ``retired`` was taken out
        self.thread = weakref.ref(thread)


_tls = threading.local()
_slots: list[_Slot] = []
_slots_lock = threading.Lock()  # taken once per thread, on its first request, never after
# When the figures not yet harvested began to be recorded (epoch seconds).
_since = time.time()


def _new_slot() -> _Slot:
    slot = _Slot(threading.current_thread())
    with _slots_lock:
        _slots.append(slot)
    _tls.slot = slot
    return slot


def record_request(route_id: str, method: str, status: int, latency_ms: float) -> None:
    """Record one request the gateway served.

    ``route_id``: the id of the route that served it ("" when none matched); ``method``: the
    HTTP method as the ASGI scope has it; ``status``: the response status (0 when no response
    was sent); ``latency_ms``: from the request's arrival to the end of the response, in
    milliseconds (a negative or NaN latency counts as 0). Safe from any thread and any event
    loop.
    """
    try:
        slot = _tls.slot
    except AttributeError:
        slot = _new_slot()
    slot.started += 1
    try:
        series = slot.current.series
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        key = (route_id, method, status // 100 if 100 <= status < 600 else 0)
        latency = series.get(key)
        if latency is None:
            if len(series) >= _series_limit:
                key = (OVERFLOW_ROUTE, method, key[2])
                latency = series.get(key)
            if latency is None:
                latency = series[key] = Latency()
        latency.add(latency_ms)
    finally:
        slot.finished += 1


@dataclass(frozen=True, slots=True)
class Harvest:
    """Figures of every thread, recorded from ``since`` to ``until`` (epoch seconds)."""

    series: dict[SeriesKey, Latency]
    since: float
    until: float


def harvest() -> Harvest:
    """Take every thread's figures recorded since the last call, merged (see the module
    docstring). Called by one thread only: the reporter."""
    global _since
    now = time.time()
    merged: dict[SeriesKey, Latency] = {}
    with _slots_lock:
        slots = list(_slots)
    for slot in slots:
        if slot.retired is None:
            slot.retired, slot.current = slot.current, Figures()
            slot.fence = slot.started  # read after the swap: see the module docstring
        if slot.finished < slot.fence:
            continue  # a record that began before the swap is still writing: next round
        ready, slot.retired = slot.retired, None
        thread = slot.thread()
        gone = thread is None or not thread.is_alive()
        for figures in (ready, slot.current) if gone else (ready,):
            for key, latency in figures.series.items():
                mine = merged.get(key)
                if mine is None:
                    merged[key] = latency
                else:
                    mine.merge(latency)
        if gone:  # a finished thread records no more: its last figures are in, forget it
            with _slots_lock:
                _slots.remove(slot)
    since, _since = _since, now
    return Harvest(merged, since, now)


def configure(series_limit: int) -> None:
    global _series_limit
    _series_limit = series_limit


def _after_fork() -> None:
    """A forked child starts with empty figures: its parent reports its own."""
    global _tls, _slots, _slots_lock, _since
    _tls = threading.local()
    _slots = []
    _slots_lock = threading.Lock()
    _since = time.time()


os.register_at_fork(after_in_child=_after_fork)
