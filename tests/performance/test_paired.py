"""The paired-runs slowdown: exact on a constant ratio, an interval that holds its estimate, bad input refused."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from performance.paired import median_interval, paired_slowdown

durations = st.lists(st.floats(min_value=1e-4, max_value=10.0, allow_nan=False), min_size=2, max_size=60)


@given(durations, st.floats(min_value=0.5, max_value=2.0))
@settings(max_examples=50, deadline=None)
def test_a_constant_ratio_is_the_estimate_and_the_whole_interval(plain: list[float], factor: float) -> None:
    found = paired_slowdown(plain, [d * factor for d in plain], resamples=500)
    assert math.isclose(found.estimate, factor - 1, abs_tol=1e-9)
    assert math.isclose(found.low, factor - 1, abs_tol=1e-9) and math.isclose(found.high, factor - 1, abs_tol=1e-9)
    assert found.n == len(plain)


@given(durations, st.lists(st.floats(min_value=0.5, max_value=2.0), min_size=60, max_size=60), st.integers(0, 99))
@settings(max_examples=50, deadline=None)
def test_the_interval_is_ordered_and_holds_the_estimate(plain: list[float], factors: list[float], seed: int) -> None:
    found = paired_slowdown(plain, [d * f for d, f in zip(plain, factors)], resamples=500, seed=seed)
    assert found.low <= found.estimate <= found.high


def test_a_small_slowdown_under_loud_background_noise_is_found_within_its_interval() -> None:
    """Each pair shares a background slowdown up to 3x (the tree, other processes); the treatment costs 3 %."""
    rng = random.Random(7)
    plain, treated = [], []
    for _ in range(300):
        background = 1.0 + 2.0 * rng.random() ** 4
        plain.append(0.05 * background * rng.lognormvariate(0, 0.02))
        treated.append(0.05 * 1.03 * background * rng.lognormvariate(0, 0.02))
    found = paired_slowdown(plain, treated)
    assert found.low <= 0.03 <= found.high
    assert found.high - found.low < 0.02  # paired, the background cancels: a narrow interval


@pytest.mark.parametrize(("plain", "treated", "why"), [
    ([1.0, 2.0], [1.0], "as many"),
    ([1.0], [1.0], "at least two"),
    ([1.0, 0.0], [1.0, 1.0], "positive"),
    ([1.0, float("nan")], [1.0, 1.0], "positive"),
    ([1.0, 1.0], [1.0, -2.0], "positive"),
])
def test_bad_runs_are_refused_with_a_reason(plain: list[float], treated: list[float], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        paired_slowdown(plain, treated)


@pytest.mark.parametrize(("values", "why"), [([1.0], "at least two"), ([1.0, float("inf")], "finite")])
def test_a_median_interval_refuses_too_few_or_infinite_values(values: list[float], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        median_interval(values)


def test_a_median_interval_of_an_odd_sample_is_its_middle_value() -> None:
    found = median_interval([0.03, -0.2, 0.01, 0.02, 5.0])
    assert found.estimate == 0.02 and found.low <= 0.02 <= found.high and found.n == 5
