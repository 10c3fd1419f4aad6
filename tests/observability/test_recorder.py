"""record_request: per thread, no lock, nothing lost or counted twice while the reporter
collects, and series bounded."""

from __future__ import annotations

import threading
import time

import pytest

from tigateway_channels.observability import recorder
from tigateway_channels.observability.recorder import OVERFLOW_ROUTE, harvest, record_request


@pytest.fixture(autouse=True)
def fresh_recorder() -> None:
    recorder._after_fork()  # the state a new process starts with
    recorder.configure(10_000)


def drain() -> dict:
    """Everything recorded so far, by series."""
    return {key: latency.count for key, latency in harvest().series.items()}


def test_requests_are_recorded_by_route_method_and_status_class() -> None:
    record_request("users", "GET", 200, 12.5)
    record_request("users", "GET", 204, 3.0)
    record_request("users", "POST", 503, 40.0)
    record_request("", "BREW", 0, 1.0)
    assert drain() == {
        ("users", "GET", 2): 2,
        ("users", "POST", 5): 1,
        ("", "OTHER", 0): 1,
    }


def test_a_round_hands_over_everything_recorded_before_it() -> None:
    record_request("a", "GET", 200, 1.0)
    first = harvest()
    assert first.series[("a", "GET", 2)].count == 1
    assert first.since <= first.until
    assert harvest().series == {}


def test_figures_a_record_may_still_be_writing_wait_for_the_next_round() -> None:
    record_request("a", "GET", 200, 1.0)
    slot = recorder._slots[0]
    slot.started += 1  # as if a record had begun on these figures and not finished
    assert harvest().series == {}
    slot.finished += 1  # it finished
    assert harvest().series[("a", "GET", 2)].count == 1


def test_threads_recording_while_the_reporter_collects_lose_and_repeat_nothing() -> None:
    per_thread = 20_000
    stop = threading.Event()
    collected: dict = {}

    def reporter() -> None:
        while not stop.is_set():
            for key, latency in harvest().series.items():
                collected[key] = collected.get(key, 0) + latency.count
            time.sleep(0.0001)

    def gateway(name: str) -> None:
        for n in range(per_thread):
            record_request(name, "GET", 200 + n % 2, float(n % 50))

    collector = threading.Thread(target=reporter)
    collector.start()
    workers = [threading.Thread(target=gateway, args=(f"r{i}",)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    collector.join()
    for key, count in drain().items():
        collected[key] = collected.get(key, 0) + count
    assert collected == {(f"r{i}", "GET", 2): per_thread for i in range(4)}


def test_series_beyond_the_limit_are_counted_under_overflow() -> None:
    recorder.configure(3)
    for n in range(10):
        record_request(f"route-{n}", "GET", 200, 1.0)
    counts = drain()
    assert sum(counts.values()) == 10
    assert counts[(OVERFLOW_ROUTE, "GET", 2)] == 7
    assert len(counts) == 4


def test_a_finished_thread_is_forgotten_once_its_figures_are_in() -> None:
    thread = threading.Thread(target=record_request, args=("t", "GET", 200, 1.0))
    thread.start()
    thread.join()
    assert len(recorder._slots) == 1
    assert drain() == {("t", "GET", 2): 1}
    assert recorder._slots == []
