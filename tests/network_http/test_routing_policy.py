"""Pure routing policy and latency statistics: ranking, hedge delays, Retry-After, quantiles."""

from __future__ import annotations

import email.utils

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.network import EndpointSnapshot
from rpc.routing import (
    RoutingPolicy,
    build_table,
    hedge_delay,
    is_already_known,
    is_nonce_too_low,
    parse_retry_after,
    rank_key,
)
from rpc.stats import LatencyStats, quantile

POLICY = RoutingPolicy()
STATES = ["CLOSED", "OPEN", "HALF_OPEN", "LAGGING", "QUARANTINED", "STARTING"]

snapshots = st.builds(
    EndpointSnapshot,
    name=st.sampled_from(["a", "b", "c", "d", "e"]),
    url=st.just("http://127.0.0.1:1"),
    chain_id=st.sampled_from([1, 31337]),
    region=st.sampled_from(["", "eu", "us"]),
    priority=st.integers(0, 3),
    breaker=st.sampled_from(STATES),
    head=st.none() | st.integers(0, 100),
    ewma_s=st.none() | st.floats(0.0001, 1.0),
    p95_s=st.none() | st.floats(0.0001, 1.0),
    error_rate=st.floats(0.0, 1.0),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(snapshots, max_size=6, unique_by=lambda s: s.name))
def test_table_routes_only_closed_endpoints_of_our_chain_ranked(snaps: list[EndpointSnapshot]) -> None:
    table = build_table(31337, snaps, POLICY)
    by_name = {s.name: s for s in snaps}
    routed = [by_name[r.name] for r in table.routes]
    assert all(s.breaker == "CLOSED" and s.chain_id == 31337 for s in routed)
    assert {r.name for r in table.routes} | set(table.excluded) == set(by_name)
    assert not {r.name for r in table.routes} & set(table.excluded)
    keys = [rank_key(s, POLICY) for s in routed]
    assert keys == sorted(keys)
    for route in table.routes:
        assert POLICY.hedge_min_s <= route.hedge_delay_s <= POLICY.hedge_max_s
    heads = [s.head for s in snaps if s.head is not None and s.breaker != "QUARANTINED"]
    assert table.best_head == (max(heads) if heads else None)


def snap(
    name: str, ewma: float | None, *, region: str = "", priority: int = 0, errors: float = 0.0
) -> EndpointSnapshot:
    return EndpointSnapshot(name=name, url="u", chain_id=1, region=region, priority=priority, breaker="CLOSED",
                            ewma_s=ewma, error_rate=errors)


def test_a_heavy_tail_does_not_push_the_hedge_delay_into_the_tail() -> None:
    # 10% of answers take 300 ms: p95 is in the tail, the median is not.
    policy = RoutingPolicy(hedge_base_s=0.0005, hedge_min_s=0.0005, hedge_max_s=0.25)
    assert hedge_delay(0.300, policy, 0.001) == pytest.approx(0.0025)
    assert hedge_delay(0.0015, policy, 0.001) == pytest.approx(0.002)  # healthy: p95 decides
    # Few samples, the median itself in the tail: the best endpoint's median still bounds the wait.
    assert hedge_delay(0.300, policy, 0.150, fleet_p50_s=0.001) == pytest.approx(0.0025)


def test_latency_ranks_first_then_region_then_priority() -> None:
    policy = RoutingPolicy(preferred_region="eu", latency_bucket_s=0.0005)
    table = build_table(1, [snap("slow", 0.010), snap("fast", 0.001, priority=5), snap("flaky", 0.001, errors=0.5)],
                        policy)
    assert [r.name for r in table.routes] == ["fast", "flaky", "slow"]
    # Within one latency bucket the preferred region wins, then the configured priority.
    tie = [snap("us0", 0.0011, region="us", priority=0), snap("eu1", 0.0012, region="eu", priority=1),
           snap("eu0", 0.0013, region="eu", priority=0)]
    assert [r.name for r in build_table(1, tie, policy).routes] == ["eu0", "eu1", "us0"]


@given(p95=st.none() | st.floats(0, 10), p50=st.none() | st.floats(0, 10), fleet=st.none() | st.floats(0, 10),
       base=st.floats(0, 0.1), lo=st.floats(0, 0.5), span=st.floats(0, 1))
def test_hedge_delay_is_clamped_quantile_plus_base(
    p95: float | None, p50: float | None, fleet: float | None, base: float, lo: float, span: float
) -> None:
    policy = RoutingPolicy(hedge_base_s=base, hedge_min_s=lo, hedge_max_s=lo + span, hedge_tail_factor=2.0)
    delay = hedge_delay(p95, policy, p50, fleet)
    assert lo <= delay <= lo + span
    quantiles = [q for q in (p95, None if p50 is None else 2.0 * p50, None if fleet is None else 2.0 * fleet)
                 if q is not None]
    if not quantiles:
        assert delay == lo + span
    elif lo <= min(quantiles) + base <= lo + span:
        assert delay == pytest.approx(min(quantiles) + base)


def test_retry_after_seconds_date_and_nonsense() -> None:
    policy = RoutingPolicy(park_default_s=1.0, park_max_s=60.0)
    assert parse_retry_after("2", 0.0, policy) == 2.0
    assert parse_retry_after("0.5", 0.0, policy) == 0.5
    assert parse_retry_after(None, 0.0, policy) == 1.0
    assert parse_retry_after("soon", 0.0, policy) == 1.0
    assert parse_retry_after("-5", 0.0, policy) == 0.0
    assert parse_retry_after("99999", 0.0, policy) == 60.0
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 10, usegmt=True), now, policy) == pytest.approx(10, abs=1)


def test_already_known_and_nonce_too_low_phrases() -> None:
    for message in ("already known", "ALREADY_EXISTS: already known", "known transaction: 0xab",
                    "Transaction with the same hash was already imported."):
        assert is_already_known(message)
    assert not is_already_known("insufficient funds")
    assert is_nonce_too_low("nonce too low: next nonce 5, tx nonce 4")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 10), min_size=1, max_size=300), st.floats(0, 1))
def test_quantile_matches_numpy_linear(values: list[float], q: float) -> None:
    assert quantile(sorted(values), q) == pytest.approx(float(np.quantile(values, q)), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.booleans()), min_size=1, max_size=100), st.integers(1, 40))
def test_stats_keep_a_window_and_lifetime_counts(samples: list[tuple[float, bool]], window: int) -> None:
    stats = LatencyStats(window=window)
    for latency, failed in samples:
        stats.record(latency, "timeout" if failed else None)
    recent = samples[-window:]
    assert stats.requests == len(samples) and stats.samples == len(recent)
    assert stats.errors["timeout"] == sum(f for _, f in samples)
    assert stats.error_rate == pytest.approx(sum(f for _, f in recent) / len(recent))
    q = stats.quantiles()
    assert q is not None and q[0] <= q[1] <= q[2] <= max(lat for lat, _ in recent)
    assert stats.ewma_s is not None and min(s for s, _ in samples) <= stats.ewma_s <= max(s for s, _ in samples)


def test_stats_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        LatencyStats(window=0)
    with pytest.raises(ValueError):
        LatencyStats().record(-1.0)
    assert LatencyStats().quantiles() is None
