"""What a treatment costs, from paired runs: the median paired ratio and its bootstrap interval.

A benchmark that times a workload with and without something (the profiler sampling every thread)
on a machine where other things run (the bot's own threads, other processes) sees both kinds of
run slowed by whatever else happens. Runs taken in pairs, close in time and in random order within
the pair, see the same background on average; each pair gives one ratio treated / plain, and the
median of those ratios estimates the slowdown without assuming the background is quiet. The 95 %
interval comes from a percentile bootstrap (resampling pairs with replacement), so a figure is
only claimed to the precision the runs support. Pure: numbers in, numbers out; the draws are
seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Bootstrap resamples (the interval's ends move by well under 0.1 % of a ratio past this many).
DEFAULT_RESAMPLES = 10_000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class MedianInterval:
    """A median and its percentile-bootstrap interval over `n` values."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float


def median_interval(
    values: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> MedianInterval:
    """The median of `values` with a percentile-bootstrap interval (values resampled with replacement).

    Raises ValueError on fewer than two values, a value that is not finite, or a confidence outside (0, 1)."""
    if len(values) < 2:
        raise ValueError("a bootstrap interval needs at least two values")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite")
    picks = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    medians = np.median(x[picks], axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(medians, [tail, 1.0 - tail])
    return MedianInterval(estimate=float(np.median(x)), low=float(low), high=float(high), n=len(x),
                          confidence=confidence)


def paired_slowdown(
    plain: Sequence[float], treated: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
) -> MedianInterval:
    """The median of treated[i] / plain[i] - 1 over the pairs, with its bootstrap interval.

    Raises ValueError on unequal lengths, fewer than two pairs, or a duration that is not finite and positive."""
    if len(plain) != len(treated):
        raise ValueError(f"paired runs need as many plain as treated durations, got {len(plain)} and {len(treated)}")
    if len(plain) < 2:
        raise ValueError("a paired slowdown needs at least two pairs")
    a, b = np.asarray(plain, dtype=float), np.asarray(treated, dtype=float)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.all(a > 0) and np.all(b > 0)):
        raise ValueError("durations must be finite and positive")
    return median_interval(list(b / a - 1.0), resamples=resamples, confidence=confidence, seed=seed)
