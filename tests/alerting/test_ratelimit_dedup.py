"""Token buckets never allow more than burst + rate * span; dedup drops exactly the repeats in its window."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting import dedup, ratelimit
from protocol.alerts import AlertType, SendAlert

gaps = st.lists(st.floats(0, 3, allow_nan=False), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(gaps, st.floats(0.1, 20), st.integers(1, 10))
def test_a_bucket_never_allows_more_than_burst_plus_rate_times_span(gaps: list[float], rate: float,
                                                                     burst: int) -> None:
    now = 0.0
    bucket: tuple[ratelimit.Bucket, ...] = (ratelimit.full(rate, burst, now),)
    taken: list[float] = []
    for gap in gaps:
        now += gap
        bucket, ok = ratelimit.take(bucket, now)
        if ok:
            taken.append(now)
        assert 0.0 <= bucket[0].tokens <= burst
    for i, start in enumerate(taken):  # in every window between two takes, the bound holds
        for j in range(i, len(taken)):
            assert j - i + 1 <= ratelimit.allowed_in(bucket[0], start, taken[j])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2, allow_nan=False), st.booleans()), max_size=100), st.floats(0.1, 10),
       st.floats(0.1, 10))
def test_take_is_all_or_nothing_and_ready_at_is_exact(steps: list[tuple[float, bool]], rate_a: float,
                                                       rate_b: float) -> None:
    now = 0.0
    buckets: tuple[ratelimit.Bucket, ...] = (ratelimit.full(rate_a, 1, now), ratelimit.full(rate_b, 2, now))
    for gap, _ in steps:
        now += gap
        before = tuple(ratelimit.refill(b, now) for b in buckets)
        ready = max(ratelimit.ready_at(b, now) for b in buckets)
        buckets, ok = ratelimit.take(buckets, now)
        assert ok == (ready <= now)
        if ok:
            assert all(abs(a.tokens - 1 - b.tokens) < 1e-9 for a, b in zip(before, buckets))
        else:
            assert buckets == before


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 30, allow_nan=False), st.sampled_from(["a", "b", "c"])), max_size=80),
       st.floats(1, 60))
def test_dedup_accepts_a_condition_at_most_once_per_window(events: list[tuple[float, str]], window: float) -> None:
    state = dedup.DedupState()
    now = 0.0
    accepted: dict[str, list[float]] = {}
    for gap, key in events:
        now += gap
        fp = dedup.fingerprint(SendAlert(type=AlertType.SYSTEM, title=key))
        state, dup = dedup.observe(state, fp, now, window)
        if not dup:
            accepted.setdefault(key, []).append(now)
        else:  # a duplicate is always within the window of the last accepted one
            assert now - accepted[key][-1] < window
    for times in accepted.values():
        assert all(b - a >= window for a, b in itertools.pairwise(times))


def test_fingerprint_ignores_priority_and_data_but_not_the_clear() -> None:
    a = SendAlert(type=AlertType.NETWORK, title="x", key="endpoint:a", data={"v": 1})
    b = SendAlert(type=AlertType.NETWORK, title="y", key="endpoint:a", data={"v": 2})
    assert dedup.fingerprint(a) == dedup.fingerprint(b)
    assert dedup.fingerprint(a) != dedup.fingerprint(SendAlert(type=AlertType.NETWORK, title="x", key="endpoint:a",
                                                               resolved=True))
    assert dedup.fingerprint(a) != dedup.fingerprint(SendAlert(type=AlertType.RISK, title="x", key="endpoint:a"))
