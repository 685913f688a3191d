"""Rolling windows over log-bucketed histograms, on an injected clock."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from performance.windows import Measurements


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0001, 10.0), min_size=1, max_size=300))
def test_percentiles_within_one_percent(values: list[float]) -> None:
    m = Measurements()
    for v in values:
        m.add("rpc.call", v, True, now=1000.0)
    w = m.stats(1001.0)[0].window(60)
    assert w is not None and w.count == len(values) and w.success_share == 1.0
    ordered = sorted(values)
    assert w.max_ms is not None and math.isclose(w.max_ms, ordered[-1] * 1000, rel_tol=0.011)
    assert w.p50_ms is not None and ordered[0] * 1000 * 0.98 <= w.p50_ms <= ordered[-1] * 1000 * 1.02


def test_windows_forget_old_values_and_rates() -> None:
    m = Measurements()
    for i in range(120):  # one a second for 2 min, the first minute failing
        m.add("s", 0.010 if i < 60 else 0.002, success=i >= 60, now=float(i))
    stats = m.stats(120.0)[0]
    one, five, hour = stats.windows
    assert one.count == 60 and one.success_share == 1.0 and one.p99_ms is not None and one.p99_ms < 2.1
    assert five.count == 120 and five.success_share == 0.5 and five.max_ms is not None and five.max_ms > 9.9
    assert hour.count == 120 and math.isclose(one.rate_per_s, 1.0)
    later = m.stats(3800.0)[0].windows
    assert all(w.count == 0 and w.p95_ms is None for w in later)
    assert stats.total == 120 and stats.failures == 60


def test_hour_window_merges_closed_minutes() -> None:
    m = Measurements()
    for minute in range(30):
        m.add("s", 0.001 * (minute + 1), True, now=minute * 60.0 + 5)
    hour = m.stats(30 * 60.0 + 1)[0].window(3600)
    assert hour is not None and hour.count == 30 and hour.max_ms is not None
    assert math.isclose(hour.max_ms, 30, rel_tol=0.01)


def test_bad_durations_and_meta_are_counted_not_raised() -> None:
    m = Measurements()
    assert not m.add("s", float("nan"), True, now=0.0)
    assert not m.add("s", -1.0, True, now=0.0)
    assert m.add("s", 0.1, True, now=0.0, meta={"gas": float("nan"), "fee": -3, "ok": "yes", "n": 2})
    assert m.rejected == {"bad_duration": 2, "bad_meta": 2}
    assert m.stats(1.0)[0].total == 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 4400.0), st.floats(0.00001, 30.0)), min_size=1, max_size=200),
       st.floats(0.0, 4500.0))
def test_hour_window_equals_a_live_merge_of_what_it_covers(points: list[tuple[float, float]], extra: float) -> None:
    """Closed minutes are kept encoded and their merge cached: the hour window still reports exactly what
    a live histogram of the values in the slots it covers reports, however the queries interleave."""
    from performance.windows import COARSE_SLOT_S, FINE_SLOT_S, new_histogram, to_us

    m = Measurements()
    points = sorted(points)
    now = 0.0
    for at, value in points:
        now = at
        m.add("s", value, True, now=at)
        m.stats(at)  # queries in between: the cached merge must follow the minutes as they close
    end = max(now, extra)
    hour = m.stats(end)[0].windows[-1]
    minute = int(end // COARSE_SLOT_S * COARSE_SLOT_S)
    # a value lands in the newest fine slot at its time; a minute is covered while it ended less than 1 h ago
    covered = [v for at, v in points
               if (int(at // COARSE_SLOT_S * COARSE_SLOT_S) + COARSE_SLOT_S > end - hour.window_s
                   and int(at // FINE_SLOT_S * FINE_SLOT_S) < minute)
               or int(at // FINE_SLOT_S * FINE_SLOT_S) >= minute]
    assert hour.count == len(covered)
    if covered:
        live = new_histogram()
        for v in covered:
            live.record_value(to_us(v))
        at = live.get_percentile_to_value_dict([50, 95, 99])
        assert (hour.p50_ms, hour.p95_ms, hour.p99_ms) == tuple(round(at[q] / 1000, 3) for q in (50, 95, 99))
        assert hour.max_ms == round(live.get_max_value() / 1000, 3)


def test_a_closed_minute_is_kept_small() -> None:
    """An hour of minutes must not hold 60 live 27 KB count arrays per name (the soak's RSS climb)."""
    m = Measurements()
    for i in range(3700):
        m.add("rpc.call", 0.0001 * (1 + i % 500), True, now=float(i))
        if i % 60 == 0:
            m.roll(float(i))
    series = m.series["rpc.call"]
    assert len(series.coarse) == 60
    assert max(len(minute.encoded) for minute in series.coarse) < 4096
