"""The observability backend of one process (the in-memory channel layer): the same contract
as Redis, in this process's memory, for development and single-process tests."""

from __future__ import annotations

import collections
import itertools
import threading
import time

from tigateway_channels.observability.backends.base import Entry, ObservabilityBackend

DELTAS_KEPT = 50_000
TICKS_KEPT = 3_600


class MemoryBackend(ObservabilityBackend):
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._deltas: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=DELTAS_KEPT)
        self._ticks: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=TICKS_KEPT)
        self._nodes: dict[str, bytes] = {}
        self._prom: dict[str, bytes] = {}
        self._claims: dict[str, float] = {}
        self._counts: dict[tuple[str, int], int] = {}
        self._leader: tuple[str, float] | None = None
        self._cursor = ""

    @staticmethod
    def _id(entry: tuple[int, bytes]) -> Entry:
        return f"{entry[0]:020d}", entry[1]

    def report(self, deltas: list[bytes], nodes: dict[str, bytes], prom: dict[str, bytes]) -> None:
        with self._lock:
            for delta in deltas:
                self._deltas.append((next(self._ids), delta))
            self._nodes.update(nodes)
            self._prom.update(prom)

    def claim(self, name: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._claims.get(name, 0.0) > now:
                return False
            self._claims[name] = now + ttl_seconds
            return True

    def first_time(self, name: str, ttl_seconds: float) -> bool:
        return self.claim(f"seen:{name}", ttl_seconds)

    def count_in_window(self, name: str, window_seconds: float) -> int:
        window = int(time.time() // window_seconds)
        with self._lock:
            key = (name, window)
            self._counts[key] = self._counts.get(key, 0) + 1
            for old in [k for k in self._counts if k[1] < window - 1]:
                del self._counts[old]
            return self._counts[key]

    def lead(self, me: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._leader is None or self._leader[0] == me or self._leader[1] <= now:
                self._leader = (me, now + ttl_seconds)
                return True
            return False

    def resign(self, me: str) -> None:
        with self._lock:
            if self._leader is not None and self._leader[0] == me:
                self._leader = None

    def cursor(self) -> str:
        with self._lock:
            return self._cursor

    def read_deltas(self, after: str, limit: int) -> list[Entry]:
        start = int(after) if after else 0
        with self._lock:
            return [self._id(e) for e in self._deltas if e[0] > start][:limit]

    def commit_tick(self, me: str, expected: str, cursor: str, tick: bytes) -> bool:
        now = time.monotonic()
        with self._lock:
            leader = self._leader
            if leader is None or leader[0] != me or leader[1] <= now:
                return False
            if self._cursor != expected:
                return False
            self._cursor = cursor
            last = int(cursor) if cursor else 0
            while self._deltas and self._deltas[0][0] <= last:
                self._deltas.popleft()
            self._ticks.append((next(self._ids), tick))
            self._lock.notify_all()
            return True

    def read_ticks(self, after: str | None, block_seconds: float) -> list[Entry]:
        deadline = time.monotonic() + block_seconds
        with self._lock:
            if after is None:
                after = f"{self._ticks[-1][0]:020d}" if self._ticks else "0"
            start = int(after)
            while True:
                found = [self._id(e) for e in self._ticks if e[0] > start]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                self._lock.wait(left)

    def recent_ticks(self, count: int) -> list[Entry]:
        with self._lock:
            return [self._id(e) for e in list(self._ticks)[-count:]]

    def nodes(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._nodes)

    def forget_nodes(self, names: list[str]) -> None:
        with self._lock:
            for name in names:
                self._nodes.pop(name, None)
                self._prom.pop(name, None)

    def prom_totals(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._prom)
