"""Rolling windows of measurements: per name, count, rate, success share and p50/p95/p99/max over
1 min, 5 min and 1 h.

Durations go into HdrHistogram (the `hdrhistogram` package, HdrHistogram_py): log-bucketed with a
fixed relative precision (2 significant digits: a reported percentile is within 1 % of the true one),
mergeable by adding counts, and its merge runs in C. Values are recorded in microseconds from 1 us to
1 h. A value recorded is about 2.4 us in pure Python; that cost is paid by the sampler when it
drains, never by the caller (performance.recorder), so it is fast enough.

Slots: a 10 s histogram per name for the last 5 min, and a 1 min histogram (the merge of its six
10 s slots, built once when the minute closes) for the last hour. A window's histogram is the merge
of the slots it covers, so a query merges at most 30 + 60 histograms per name; slots are only
allocated where something was recorded. Time is given by the caller (`now`, seconds): tests inject it.

Memory: a live histogram over this range is a fixed 3,328-count array, about 27 KB whatever it holds.
Kept live, an hour of minutes would be 60 x 27 KB = 1.6 MB per name, growing for the bot's whole first
hour (the soak saw it as a steady RSS climb). A closed minute is therefore kept as HdrHistogram's
compressed encoding (a few hundred bytes), and the hour window's merge of the closed minutes is cached:
it changes once a minute, so each minute's encodings are decoded once a minute, not on every query.
A name's bound is then 30 live 10 s slots (0.8 MB, reached after 5 minutes) plus 60 encodings and one
cached merge (about 0.1 MB).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from protocol.performance import MEASUREMENT_WINDOWS_S, MeasurementStats, WindowStats

FINE_SLOT_S = 10
COARSE_SLOT_S = 60
FINE_KEEP_S = 300
COARSE_KEEP_S = 3600
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 2


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass
class Slot:
    start: int  # slot start, whole seconds
    hist: HdrHistogram = field(default_factory=new_histogram)
    count: int = 0
    good: int = 0
    sum_s: float = 0.0  # for the mean: HdrHistogram's get_mean_value walks every bucket in Python
    rolled: bool = False  # a fine slot already merged into its minute


@dataclass(frozen=True)
class ClosedMinute:
    """A minute that has ended: its merged histogram kept encoded (see the module's note on memory)."""

    start: int
    encoded: bytes
    count: int
    good: int
    sum_s: float


def to_us(duration_s: float) -> int:
    return min(HIGHEST_US, max(LOWEST_US, round(duration_s * 1e6)))


class Series:
    """One measurement name's slots."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fine: deque[Slot] = deque()
        self.coarse: deque[ClosedMinute] = deque()
        self._closed_merge: tuple[tuple[int, int, int], HdrHistogram] | None = None  # (first, last, n), merge
        self.total = 0
        self.failures = 0

    def add(self, duration_s: float, success: bool, now: float) -> None:
        start = int(now // FINE_SLOT_S * FINE_SLOT_S)
        if not self.fine or self.fine[-1].start < start:
            self.fine.append(Slot(start))
        slot = self.fine[-1]  # a value from a slot already closed goes into the newest one
        slot.hist.record_value(to_us(duration_s))
        slot.count += 1
        slot.good += success
        slot.sum_s += duration_s
        self.total += 1
        self.failures += not success

    def roll(self, now: float) -> None:
        """Close finished minutes into coarse slots and forget what is older than every window."""
        minute = int(now // COARSE_SLOT_S * COARSE_SLOT_S)
        closed = [s for s in self.fine if s.start < minute and not s.rolled]
        by_minute: dict[int, list[Slot]] = {}
        for s in closed:
            by_minute.setdefault(s.start // COARSE_SLOT_S * COARSE_SLOT_S, []).append(s)
            s.rolled = True
        for start in sorted(by_minute):
            merged = Slot(start)
            for s in by_minute[start]:
                merged.hist.add(s.hist)
                merged.count += s.count
                merged.good += s.good
                merged.sum_s += s.sum_s
            self.coarse.append(ClosedMinute(start, merged.hist.encode(), merged.count, merged.good, merged.sum_s))
        while self.fine and self.fine[0].start + FINE_SLOT_S <= now - FINE_KEEP_S:
            self.fine.popleft()
        while self.coarse and self.coarse[0].start + COARSE_SLOT_S <= now - COARSE_KEEP_S:
            self.coarse.popleft()

    def window(self, window_s: int, now: float) -> WindowStats:
        """Stats over the last `window_s` seconds (whole slots: the newest slot boundary decides)."""
        since = now - window_s
        merged = new_histogram()
        slots: list[Slot | ClosedMinute]
        if window_s <= FINE_KEEP_S:
            slots = [s for s in self.fine if s.start + FINE_SLOT_S > since]
        else:
            minute = int(now // COARSE_SLOT_S * COARSE_SLOT_S)
            closed = [s for s in self.coarse if s.start + COARSE_SLOT_S > since and s.start < minute]
            if closed:
                merged.add(self._merge_closed(closed))
            slots = [*closed, *(s for s in self.fine if s.start >= minute)]
        count = sum(s.count for s in slots)
        if count == 0:
            return WindowStats(window_s, 0, 0.0, None, None, None, None, None)
        for s in slots:
            if isinstance(s, Slot):
                merged.add(s.hist)
        good = sum(s.good for s in slots)

        at = merged.get_percentile_to_value_dict([50, 95, 99])  # one pass over the buckets for all three

        def pct(q: int) -> float:
            return round(at[q] / 1000, 3)

        return WindowStats(
            window_s=window_s, count=count, rate_per_s=count / window_s, success_share=good / count,
            p50_ms=pct(50), p95_ms=pct(95), p99_ms=pct(99), max_ms=round(merged.get_max_value() / 1000, 3),
            mean_ms=round(sum(s.sum_s for s in slots) / count * 1000, 3),
        )

    def _merge_closed(self, closed: list[ClosedMinute]) -> HdrHistogram:
        """The merge of these closed minutes (consecutive in `coarse`), decoded once per distinct set."""
        key = (closed[0].start, closed[-1].start, len(closed))
        if self._closed_merge is None or self._closed_merge[0] != key:
            merged = new_histogram()
            for minute in closed:
                merged.decode_and_add(minute.encoded)
            self._closed_merge = (key, merged)
        return self._closed_merge[1]

    def stats(self, now: float, windows: tuple[int, ...] = MEASUREMENT_WINDOWS_S) -> MeasurementStats:
        self.roll(now)
        return MeasurementStats(self.name, self.total, self.failures, tuple(self.window(w, now) for w in windows))


class Measurements:
    """Every measurement name's Series; fed by the sampler from the drained buffers."""

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self.rejected: dict[str, int] = {"bad_duration": 0, "bad_meta": 0}

    def add(self, name: str, duration_s: float, success: bool, now: float, meta: dict | None = None) -> bool:
        """Record one measurement; False (counted) for a duration that is not a finite number >= 0.

        Meta values that are numbers must be finite and >= 0: a bad one is counted and dropped, the
        measurement itself is kept."""
        if not isinstance(duration_s, int | float) or not math.isfinite(duration_s) or duration_s < 0:
            self.rejected["bad_duration"] += 1
            return False
        if meta:
            self.rejected["bad_meta"] += sum(1 for v in meta.values() if not valid_meta(v))
        series = self.series.get(name)
        if series is None:
            series = self.series[name] = Series(name)
        series.add(duration_s, success, now)
        return True

    def roll(self, now: float) -> None:
        for series in self.series.values():
            series.roll(now)

    def stats(self, now: float) -> tuple[MeasurementStats, ...]:
        return tuple(self.series[name].stats(now) for name in sorted(self.series))


def valid_meta(value: object) -> bool:
    """A meta value is kept unless it is a number that is NaN, infinite or negative."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return math.isfinite(value) and value >= 0


def clean_meta(meta: dict | None) -> dict:
    return {k: v for k, v in (meta or {}).items() if valid_meta(v)}
