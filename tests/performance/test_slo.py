"""Burn-rate rules on an injected clock (the SRE workbook's multi-window pairs)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from performance.slo import SloBook, min_events
from protocol.config import PerformanceTargets
from protocol.performance import SloBreach, SloResolved

TARGET_MS = 100.0
CALLS_PER_S = 2


def feed(book: SloBook, latencies_ms: list[float], start: float) -> tuple[float, list]:
    """Two calls a second; evaluate every 10 s. Returns (end time, events with their times)."""
    events, now = [], start
    for i in range(0, len(latencies_ms), CALLS_PER_S):
        now = start + i / CALLS_PER_S
        for lat in latencies_ms[i:i + CALLS_PER_S]:
            good = lat <= TARGET_MS
            book.record("rpcLatency", int(good), int(not good), now)
        if i % (10 * CALLS_PER_S) == 0:
            events += book.evaluate(now)[1]
    return now, events


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(1, TARGET_MS), min_size=50, max_size=3000), st.integers(0, 3000),
       st.floats(TARGET_MS * 1.01, 60_000))
def test_one_outlier_never_fires(normal: list[float], where: int, outlier: float) -> None:
    series = list(normal)
    series.insert(where % (len(series) + 1), outlier)
    _, events = feed(SloBook(PerformanceTargets(rpc_latency_target_ms=TARGET_MS)), series, 0.0)
    assert not [e for e in events if isinstance(e, SloBreach) and e.slo == "rpcLatency"]


@settings(max_examples=15, deadline=None)
@given(st.floats(1, TARGET_MS), st.floats(TARGET_MS * 2, 5000), st.integers(0, 5))
def test_sustained_regression_pages_within_minutes_and_recovery_resolves(good: float, bad: float, seed: int) -> None:
    book = SloBook(PerformanceTargets(rpc_latency_target_ms=TARGET_MS))
    hour = 3600 * CALLS_PER_S
    now, events = feed(book, [good] * hour, 0.0)  # an hour of good traffic
    assert not events
    now, events = feed(book, [bad] * (600 * CALLS_PER_S), now + 0.5)  # then every call slow for 10 min
    pages = [e for e in events if isinstance(e, SloBreach) and e.severity == "page"]
    assert pages, "a total regression of a 99 % SLO pages once 14.4 % of the hour is bad (8.6 min)"
    page = pages[0]
    assert page.slo == "rpcLatency" and page.windows_s == (300, 3600) and page.measured < 0.1
    assert page.budget_remaining is not None and page.burn_rates[0] > 14.4 and page.burn_rates[1] > 14.4
    assert page.at - 3600 <= 600
    now, events = feed(book, [good] * (400 * CALLS_PER_S), now + 0.5)  # cause gone
    resolved = [e for e in events if isinstance(e, SloResolved) and e.severity == "page"]
    assert resolved and resolved[0].at - now <= 0, "the 5 min window resets the page within minutes"


def test_min_events_keeps_a_single_bad_event_below_threshold() -> None:
    for objective in (0.95, 0.99, 0.999):
        n = min_events(14.4, objective)
        assert (1 / n) / (1 - objective) <= 14.4


def test_budget_and_compliance_per_window() -> None:
    book = SloBook(PerformanceTargets())
    for i in range(100):
        book.record("successRate", int(i % 50 != 0), int(i % 50 == 0), float(i))
    statuses, _ = book.evaluate(100.0)
    s = next(x for x in statuses if x.name == "successRate")
    assert s.objective == 0.95 and s.windows[0].events == 100 and s.windows[0].compliance == 0.98
    assert s.budget_remaining is not None and abs(s.budget_remaining - (1 - 2 / 5)) < 1e-9  # 2 bad of 5 allowed
    empty = next(x for x in statuses if x.name == "alertDelivery")
    assert empty.budget_remaining is None and empty.windows[0].compliance is None


def test_misconfigured_target_is_the_one_line_config_error() -> None:
    import pytest

    from protocol.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"^config error: CPU_USAGE_TARGET='abc' is not a number; expected"):
        load_config({"CPU_USAGE_TARGET": "abc"})
    assert load_config({"MEMORY_USAGE_TARGET": "256", "UPTIME_TARGET": "0.99"}).targets.memory_usage_target_mb == 256
