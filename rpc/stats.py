"""Per-endpoint latency and error statistics: pure data in, data out.

`LatencyStats` is owned by one endpoint actor (its single writer). It keeps an EWMA of latency, a
ring window of recent latencies for p50/p95/p99, a ring window of recent outcomes for the error
rate, and lifetime counts of errors by kind. Quantiles are computed on demand (at publish time),
never per request.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

#: How many recent requests the quantiles and the error rate are computed over.
DEFAULT_WINDOW = 256
#: EWMA smoothing factor: the weight of the newest sample.
DEFAULT_EWMA_ALPHA = 0.2


def quantile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of an ascending list, by linear interpolation (numpy's default method)."""
    if not sorted_values:
        raise ValueError("quantile of an empty window")
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


@dataclass
class LatencyStats:
    window: int = DEFAULT_WINDOW
    alpha: float = DEFAULT_EWMA_ALPHA
    ewma_s: float | None = None
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    _latencies: deque[float] = field(init=False)
    _failed: deque[bool] = field(init=False)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        self._latencies = deque(maxlen=self.window)
        self._failed = deque(maxlen=self.window)

    def record(self, latency_s: float, fault: str | None = None) -> None:
        """One finished request. A fault's latency counts too: a timeout is the slowest answer of all."""
        if latency_s < 0:
            raise ValueError(f"negative latency {latency_s}")
        self.requests += 1
        self._latencies.append(latency_s)
        self._failed.append(fault is not None)
        if fault is not None:
            self.errors[fault] += 1
        self.ewma_s = latency_s if self.ewma_s is None else self.ewma_s + self.alpha * (latency_s - self.ewma_s)

    def quantiles(self) -> tuple[float, float, float] | None:
        """(p50, p95, p99) over the window, or None before the first sample."""
        if not self._latencies:
            return None
        ordered = sorted(self._latencies)
        return quantile(ordered, 0.50), quantile(ordered, 0.95), quantile(ordered, 0.99)

    @property
    def error_rate(self) -> float:
        """Share of failed requests over the window (0.0 before the first sample)."""
        if not self._failed:
            return 0.0
        return sum(self._failed) / len(self._failed)

    @property
    def samples(self) -> int:
        return len(self._latencies)
