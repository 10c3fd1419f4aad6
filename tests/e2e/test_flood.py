"""A flood against real daphne and uvicorn workers: a client sends 200,000 pings (or for 60 s)
without ever reading, while another pings once a second.

The flooder ends with 4429 or a cut connection, the worker's memory stays within
``RSS_GROWTH_BOUND`` of what it was before the flood (daphne queues every frame it reads; a
consumer slower than its reader let one flood grow it by 270 MB), the other client gets every
pong, and nothing is logged with a traceback. The other client's round trips are printed,
not asserted; ``benchmarks/flood.py`` measures them with a million frames.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from pathlib import Path

import psutil
import pytest
import websockets

from tests.e2e.flooder import flood
from tests.e2e.helpers import jwt_for, run_scenario
from tests.processes import Cluster, cluster, manage

pytestmark = [pytest.mark.services, pytest.mark.one_combination, pytest.mark.timeout(240)]

PASSWORD = "flood-password-123"
FLOOD_FRAMES = 200_000
FLOOD_SECONDS = 60.0
# The worker's resident memory may grow this much during the flood and the 5 s after it.
RSS_GROWTH_BOUND = 20 * 1024 * 1024


class PeakRss:
    """The worker's resident memory every 20 ms on a thread, from now until ``stop``."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(2)
        return self.peak - self.baseline


async def pinger(url: str, stop: asyncio.Event) -> tuple[list[float], int]:
    """A ping a second until ``stop``: round trips (ms) and pongs that never came."""
    rtts: list[float] = []
    lost = 0
    async with websockets.connect(url, ping_interval=None) as ws:
        assert json.loads(await ws.recv())["type"] == "ack"
        n = 0
        while not stop.is_set():
            n += 1
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "ping", "id": f"other-{n}"}))
            try:
                async with asyncio.timeout(30):
                    while json.loads(await ws.recv())["data"].get("requestId") != f"other-{n}":
                        pass
                rtts.append(1000 * (time.perf_counter() - started))
            except TimeoutError:
                lost += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))
    return rtts, lost


async def scenario(running: Cluster, server: str) -> None:
    [worker] = running.workers
    token = await asyncio.to_thread(jwt_for, worker.http, PASSWORD)
    url = f"{worker.ws}?token={token}"
    stop = asyncio.Event()
    other = asyncio.create_task(pinger(url, stop))
    await asyncio.sleep(2.0)  # connected and answered before the flood
    memory = PeakRss(worker.process.pid)

    result = await asyncio.to_thread(flood, url, FLOOD_FRAMES, FLOOD_SECONDS)
    await asyncio.sleep(5.0)
    growth = memory.stop()
    stop.set()
    rtts, lost = await other

    print(
        f"\n{server}: {result.frames_sent:,} frames in {result.seconds:.1f}s, stopped: "
        f"{result.stopped}, close code {result.close_code}, read end {result.read_end}, "
        f"peak RSS growth {growth / 2**20:.1f} MB; the other client's pings: {len(rtts)}, "
        f"p50 {statistics.median(rtts):.1f} ms, max {max(rtts):.1f} ms, lost {lost}"
    )
    assert result.close_code == 4429 or result.stopped == "cut", result
    assert growth < RSS_GROWTH_BOUND, f"the worker grew {growth / 2**20:.1f} MB"
    assert lost == 0 and len(rtts) >= 5, (rtts, lost)
    assert worker.process.poll() is None
    assert "Traceback" not in worker.log_path.read_text(errors="replace")


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_a_flooder_that_never_reads_is_closed_and_bounded_and_others_are_answered(
    tmp_path: Path, server: str
) -> None:
    with cluster([server], tmp_path) as running:
        manage("tigateway_admin", "--username", "admin", "--password", PASSWORD, env=running.env)
        run_scenario(running, scenario(running, server))
