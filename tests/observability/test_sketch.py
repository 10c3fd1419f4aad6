"""The latency sketch: its relative-error bound, exact merges in any order, its wire form."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigateway_channels.observability.sketch import ALPHA, MAX_VALUE_MS, Latency

latencies = st.lists(
    st.floats(min_value=0.002, max_value=600_000.0, allow_nan=False), min_size=1, max_size=400
)


def true_quantile(values: list[float], q: float) -> float:
    """The element of rank floor(q * (n - 1)), the sketch's definition."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


@given(latencies, st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]))
@settings(max_examples=300, deadline=None)
def test_every_quantile_is_within_the_stated_relative_error(values: list[float], q: float) -> None:
    latency = Latency.from_values(values)
    exact = true_quantile(values, q)
    assert abs(latency.quantile(q) - exact) <= ALPHA * exact * (1 + 1e-9)


@given(st.lists(latencies, min_size=2, max_size=6), st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_merging_in_any_order_gives_the_same_sketch(
    parts: list[list[float]], rnd: random.Random
) -> None:
    sketches = [Latency.from_values(part) for part in parts]
    forward = Latency()
    for sketch in sketches:
        forward.merge(sketch)
    shuffled = sketches[:]
    rnd.shuffle(shuffled)
    # A tree of merges in another order: pairs first, then the pairs together.
    pairs = []
    for left, right in zip(shuffled[::2], [*shuffled[1::2], Latency()], strict=False):
        pair = left.copy()
        pair.merge(right)
        pairs.append(pair)
    backward = Latency()
    for pair in reversed(pairs):
        backward.merge(pair)
    assert forward.encode()[4:] == backward.encode()[4:]  # zeros and every bucket
    assert (forward.count, forward.min, forward.max) == (backward.count, backward.min, backward.max)
    assert forward.sum == pytest.approx(backward.sum)
    everything = [v for part in parts for v in part]
    assert forward.encode()[4:] == Latency.from_values(everything).encode()[4:]


def test_count_sum_min_max_are_exact() -> None:
    values = [0.5, 12.25, 3.0, 999.75, 0.0, 7.5]
    latency = Latency.from_values(values)
    assert latency.count == 6
    assert latency.sum == sum(values)
    assert (latency.min, latency.max) == (0.0, 999.75)
    assert latency.avg == sum(values) / 6


def test_odd_values_count_as_zero_and_huge_ones_stay_bounded() -> None:
    latency = Latency.from_values([-5.0, float("nan"), 0.0, MAX_VALUE_MS * 10])
    assert latency.count == 4 and latency.zeros == 3
    assert latency.max == MAX_VALUE_MS * 10
    assert latency.quantile(1.0) == MAX_VALUE_MS * 10  # clamped to the exact max
    assert len(latency.bins) == 1


def test_a_sketch_of_zeros_only_round_trips() -> None:
    latency = Latency.from_values([0.0, 0.0005])
    again = Latency.decode(latency.encode())
    assert (again.count, again.zeros, again.bins) == (2, 2, {})
    assert again.quantile(0.5) == 0.0


def test_an_empty_sketch_has_no_quantile() -> None:
    assert Latency().quantile(0.99) is None
    assert Latency().avg is None


@given(latencies)
@settings(max_examples=100, deadline=None)
def test_the_wire_form_round_trips(values: list[float]) -> None:
    latency = Latency.from_values(values)
    again = Latency.decode(latency.encode())
    assert again.encode() == latency.encode()
    assert again.quantile(0.99) == latency.quantile(0.99)


@pytest.mark.parametrize(
    "bad",
    [None, [], [3, 1.0, 0.1, 0.5, 0, [1], [1]], [1, 1.0, 0.1, 0.5, 0, [1, 2], [1]], "x"],
)
def test_a_bad_wire_form_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        Latency.decode(bad)


def test_prometheus_le_counting_is_exact_away_from_the_boundaries() -> None:
    latency = Latency.from_values([1, 2, 4, 8, 50, 120, 240])
    assert latency.count_at_most(5) == 3
    assert latency.count_at_most(100) == 5
    assert latency.count_at_most(1000) == 7
