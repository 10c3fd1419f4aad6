"""Latency distributions that merge exactly: a DDSketch-style log-bucket sketch with exact
count, sum, min and max beside it.

A value ``v`` (milliseconds) goes into bucket ``ceil(log(v) / log(GAMMA))``, where
``GAMMA = (1 + ALPHA) / (1 - ALPHA)``; every value of bucket ``i`` lies in
``(GAMMA**(i-1), GAMMA**i]``, and the bucket's representative ``2 * GAMMA**i / (GAMMA + 1)`` is
within ``ALPHA`` (1%) of each of them. A quantile is the representative of the bucket holding
the element of rank ``floor(q * (n - 1))``, clamped to the exact min and max, so it is within
1% of the true quantile of the recorded values. Merging adds bucket counts: the result does not
depend on the order of merges (t-digest's does), which is what lets every process, the merger
and a query merge in whatever order they meet the data.

The range is bounded: values at or below ``MIN_VALUE_MS`` (1 microsecond) count in a zero bucket
(reported as 0, an absolute error under 1 us), values above ``MAX_VALUE_MS`` (one hour) in the
top bucket (clamped to the exact max), so a sketch never holds more than ~1,100 buckets.

Pure: no I/O, no Django.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

# The stated relative-error bound of every percentile (docs/observability.md).
ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_INV_LOG_GAMMA = 1.0 / math.log(GAMMA)
MIN_VALUE_MS = 0.001
MAX_VALUE_MS = 3_600_000.0
MAX_INDEX = math.ceil(math.log(MAX_VALUE_MS) * _INV_LOG_GAMMA)
MIN_INDEX = math.ceil(math.log(MIN_VALUE_MS) * _INV_LOG_GAMMA)


def bucket_index(value: float) -> int:
    """The bucket of a value above ``MIN_VALUE_MS`` (callers route smaller ones to zero)."""
    index = math.ceil(math.log(value) * _INV_LOG_GAMMA)
    return MAX_INDEX if index > MAX_INDEX else index


def bucket_value(index: int) -> float:
    """The representative of a bucket: within ALPHA of every value the bucket holds."""
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


def bucket_upper(index: int) -> float:
    """The largest value bucket ``index`` holds."""
    return float(GAMMA**index)


class Latency:
    """Exact count, sum, min and max, and the sketch of the values, of one set of requests."""

    __slots__ = ("bins", "count", "max", "min", "sum", "zeros")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.zeros = 0
        self.bins: dict[int, int] = {}

    def add(self, value: float) -> None:
        if not value > 0.0:  # also NaN: a clock that went backwards records 0
            value = 0.0
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if value <= MIN_VALUE_MS:
            self.zeros += 1
            return
        index = math.ceil(math.log(value) * _INV_LOG_GAMMA)
        if index > MAX_INDEX:
            index = MAX_INDEX
        bins = self.bins
        bins[index] = bins.get(index, 0) + 1

    def merge(self, other: Latency) -> None:
        if not other.count:
            return
        self.count += other.count
        self.sum += other.sum
        if other.min < self.min:
            self.min = other.min
        if other.max > self.max:
            self.max = other.max
        self.zeros += other.zeros
        bins = self.bins
        for index, n in other.bins.items():
            bins[index] = bins.get(index, 0) + n

    def copy(self) -> Latency:
        twin = Latency()
        twin.merge(self)
        return twin

    @property
    def avg(self) -> float | None:
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The value of rank ``floor(q * (count - 1))``, within ALPHA; None when empty."""
        if not self.count:
            return None
        rank = math.floor(q * (self.count - 1))
        if rank >= self.count - 1:
            return self.max  # the extremes are known exactly
        if rank <= 0:
            return max(0.0, self.min)
        if rank < self.zeros:
            return max(0.0, self.min)
        seen = self.zeros
        value = self.max
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen > rank:
                value = bucket_value(index)
                break
        return min(max(value, self.min), self.max)

    def count_at_most(self, bound: float) -> int:
        """Values <= ``bound``, exact except within ALPHA of the bound (the bucket that
        straddles it is counted by its representative): Prometheus ``le`` buckets."""
        total = self.zeros if bound >= 0 else 0
        for index, n in self.bins.items():
            if bucket_value(index) <= bound:
                total += n
        return total

    # -- the wire form (Redis, the database, the ingest) -----------------------------------

    def encode(self) -> list[Any]:
        """``[count, sum, min, max, zeros, [first index, deltas...], [counts...]]``."""
        if not self.count:
            return [0, 0.0, None, None, 0, [], []]
        indexes = sorted(self.bins)
        deltas = [indexes[0], *(b - a for a, b in itertools.pairwise(indexes))] if indexes else []
        return [
            self.count,
            self.sum,
            self.min,
            self.max,
            self.zeros,
            deltas,
            [self.bins[i] for i in indexes],
        ]

    @classmethod
    def decode(cls, data: Any) -> Latency:
        """The inverse of ``encode``; raises ValueError on anything else."""
        latency = cls()
        try:
            count, total, low, high, zeros, deltas, counts = data
            if not count:
                return latency
            latency.count = int(count)
            latency.sum = float(total)
            latency.min = float(low)
            latency.max = float(high)
            latency.zeros = int(zeros)
            index = 0
            for position, (delta, n) in enumerate(zip(deltas, counts, strict=True)):
                index = int(delta) if position == 0 else index + int(delta)
                if n:
                    latency.bins[index] = int(n)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not an encoded latency sketch: {exc}") from None
        if latency.zeros + sum(latency.bins.values()) != latency.count:
            raise ValueError("the sketch's buckets do not add up to its count")
        return latency

    @classmethod
    def from_values(cls, values: Iterable[float]) -> Latency:
        latency = cls()
        for value in values:
            latency.add(float(value))
        return latency

    @classmethod
    def from_bins(
        cls,
        bins: Mapping[int, int],
        zeros: int,
        total: float,
        low: float,
        high: float,
    ) -> Latency:
        """A sketch reported by another gateway in this mapping (ALPHA = 1%)."""
        latency = cls()
        for index, n in bins.items():
            if n < 0:
                raise ValueError("bucket counts must not be negative")
            if n:
                clamped = min(max(int(index), MIN_INDEX), MAX_INDEX)
                latency.bins[clamped] = latency.bins.get(clamped, 0) + int(n)
        latency.zeros = int(zeros)
        latency.count = latency.zeros + sum(latency.bins.values())
        if latency.count:
            latency.sum, latency.min, latency.max = float(total), float(low), float(high)
        return latency
