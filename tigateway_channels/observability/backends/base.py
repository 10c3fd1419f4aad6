"""The contract of an observability backend: where processes leave their figures, where the
elected merger takes them from and leaves the cluster's ticks, and where workers read those.

One backend per file: ``redis_streams.py`` (every process of a deployment, through the channel
layer's Redis) and ``memory.py`` (one process, with the in-memory channel layer). Every method is
synchronous and may block on the network for at most a few seconds: callers run it on a thread
of their own (the reporter) or through ``asyncio.to_thread`` (workers), never on an event loop.
"""

from __future__ import annotations

import abc

# A stream entry: its id (ordered, comparable within one backend) and its payload.
Entry = tuple[str, bytes]


class ObservabilityBackend(abc.ABC):
    # -- every process ------------------------------------------------------------------

    @abc.abstractmethod
    def report(self, deltas: list[bytes], nodes: dict[str, bytes], prom: dict[str, bytes]) -> None:
        """Append ``deltas`` for the merger, and record each node's description and its
        Prometheus totals (``nodes``/``prom``: by node name), replacing the previous ones."""

    @abc.abstractmethod
    def claim(self, name: str, ttl_seconds: float) -> bool:
        """True for the first caller in the deployment for ``ttl_seconds`` (a job that must
        run once per period across the cluster, such as pruning)."""

    @abc.abstractmethod
    def first_time(self, name: str, ttl_seconds: float) -> bool:
        """True the first time ``name`` is seen within ``ttl_seconds`` (duplicate reports)."""

    @abc.abstractmethod
    def count_in_window(self, name: str, window_seconds: float) -> int:
        """Add one to ``name``'s count in the current window and return the count."""

    # -- the merger ---------------------------------------------------------------------

    @abc.abstractmethod
    def lead(self, me: str, ttl_seconds: float) -> bool:
        """Take or keep the merger's lease (one holder per deployment); False if another
        process holds it."""

    @abc.abstractmethod
    def resign(self, me: str) -> None:
        """Give the lease up, if ``me`` holds it."""

    @abc.abstractmethod
    def cursor(self) -> str:
        """The id of the last delta merged into a committed tick ("" if none)."""

    @abc.abstractmethod
    def read_deltas(self, after: str, limit: int) -> list[Entry]:
        """Deltas appended after ``after`` ("" for all), oldest first."""

    @abc.abstractmethod
    def commit_tick(self, me: str, expected: str, cursor: str, tick: bytes) -> bool:
        """Atomically: if ``me`` still holds the lease and the cursor is still ``expected``,
        move the cursor to ``cursor``, append ``tick`` and drop the merged deltas. False (and
        nothing changed) otherwise: the deltas are merged once, by whoever commits."""

    # -- every worker -------------------------------------------------------------------

    @abc.abstractmethod
    def read_ticks(self, after: str | None, block_seconds: float) -> list[Entry]:
        """Ticks appended after ``after`` (None: only those still to come), waiting up to
        ``block_seconds`` for one."""

    @abc.abstractmethod
    def recent_ticks(self, count: int) -> list[Entry]:
        """The last ``count`` ticks, oldest first."""

    @abc.abstractmethod
    def nodes(self) -> dict[str, bytes]:
        """Every node's latest description, by node name."""

    @abc.abstractmethod
    def forget_nodes(self, names: list[str]) -> None:
        """Drop the description and totals of nodes silent for too long."""

    @abc.abstractmethod
    def prom_totals(self) -> dict[str, bytes]:
        """Every node's latest Prometheus totals, by node name."""
