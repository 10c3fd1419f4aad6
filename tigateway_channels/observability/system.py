"""This process's own figures, measured: CPU time, resident memory, garbage collections.

CPU time comes from ``os.times()`` (user + system, all threads), resident memory from
``/proc/self/statm`` (Linux; psutil where it is installed; otherwise the figure is left out,
never estimated), the machine's memory from ``sysconf``, and garbage collection from the
interpreter's own ``gc.callbacks``: the count of collections and the time between each
collection's ``start`` and ``stop`` callbacks.
"""

from __future__ import annotations

import gc
import os
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SystemSample:
    """One process over one round: CPU seconds used and collections made during it, and its
    memory at the end of it."""

    cpu_seconds: float
    rss_bytes: int | None
    memory_bytes: int | None  # the machine's physical memory
    gc_count: int
    gc_ms: float

    @property
    def memory_percent(self) -> float | None:
        if self.rss_bytes is None or not self.memory_bytes:
            return None
        return 100.0 * self.rss_bytes / self.memory_bytes

    def as_wire(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu_seconds,
            "rss": self.rss_bytes,
            "mem": self.memory_percent,
            "gcCount": self.gc_count,
            "gcMs": self.gc_ms,
        }


class GcClock:
    """Counts collections and their time from the interpreter's ``gc.callbacks``.

    Collections never overlap (they run under the GIL, one at a time), so one start time is
    enough. Installed once per process.
    """

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif phase == "stop" and self._started:
            self.seconds += time.perf_counter() - self._started
            self.count += 1
            self._started = 0.0


_gc_clock: GcClock | None = None


def gc_clock() -> GcClock:
    global _gc_clock
    if _gc_clock is None:
        _gc_clock = GcClock()
        gc.callbacks.append(_gc_clock)
    return _gc_clock


def _page_size() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4096


def resident_bytes() -> int | None:
    """This process's resident set size now, or None where it cannot be measured."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _page_size()
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


def machine_memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def host_name() -> str:
    return socket.gethostname()


class ProcessFigures:
    """Differences since the previous ``sample()``: CPU seconds and collections per round."""

    def __init__(self) -> None:
        self._gc = gc_clock()
        self._memory = machine_memory_bytes()
        self._cpu = self._cpu_now()
        self._gc_count = self._gc.count
        self._gc_seconds = self._gc.seconds

    @staticmethod
    def _cpu_now() -> float:
        times = os.times()
        return times.user + times.system

    def sample(self) -> SystemSample:
        cpu, count, seconds = self._cpu_now(), self._gc.count, self._gc.seconds
        sample = SystemSample(
            cpu_seconds=max(0.0, cpu - self._cpu),
            rss_bytes=resident_bytes(),
            memory_bytes=self._memory,
            gc_count=count - self._gc_count,
            gc_ms=(seconds - self._gc_seconds) * 1000.0,
        )
        self._cpu, self._gc_count, self._gc_seconds = cpu, count, seconds
        return sample
