"""The market generator (pure): exact V2 arithmetic, bounded reproducible swaps, prices that drift apart."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.deploy import plan_world
from devnet.market import (
    MarketParams,
    MarketPool,
    get_amount_out,
    initial_state,
    k_invariant_holds,
    log_price,
    market_pools,
    next_swap,
    reserves_after,
)
from devnet.world import DEFAULT_WORLD_SPEC

UINT112 = 2**112 - 1
reserve = st.integers(min_value=10**3, max_value=UINT112 // 2)
FAST = settings(max_examples=200, deadline=None)
_, WORLD = plan_world(DEFAULT_WORLD_SPEC, chain_id=31337, http_url="", ws_url="", deployer_nonce=0, trader_nonce=0)
POOLS = market_pools(WORLD.pools)
SEEDED = {p.address: (p.initial_reserve0, p.initial_reserve1) for p in WORLD.pools}


def test_get_amount_out_matches_the_uniswap_library_example():
    # 1 ETH into a 100 ETH / 300,000 USDC pool: 997*1e18*3e11 // (1e20*1000 + 997e18)
    assert get_amount_out(10**18, 100 * 10**18, 300_000 * 10**6) == 2_961_474_103  # 2.96147e9 USDC units: ~2961.47 USDC


@FAST
@given(amount_in=st.integers(min_value=1, max_value=2**100), r_in=reserve, r_out=reserve)
def test_get_amount_out_is_the_largest_output_the_pair_accepts(amount_in, r_in, r_out):
    out = get_amount_out(amount_in, r_in, r_out)
    assert 0 <= out < r_out
    assert k_invariant_holds(r_in, r_out, True, amount_in, out)
    if out + 1 < r_out:
        assert not k_invariant_holds(r_in, r_out, True, amount_in, out + 1)


@FAST
@given(r0=reserve, r1=reserve, zero_for_one=st.booleans(), ppm=st.integers(min_value=1, max_value=100_000))
def test_reserves_after_keeps_k_and_moves_the_price_the_right_way(r0, r1, zero_for_one, ppm):
    amount_in = max(1, (r0 if zero_for_one else r1) * ppm // 1_000_000)
    n0, n1 = reserves_after(r0, r1, zero_for_one, amount_in)
    assert n0 * n1 >= r0 * r1  # the fee stays in the pool
    if zero_for_one:
        assert n0 == r0 + amount_in and n1 <= r1
        assert n1 * r0 <= r1 * n0  # token1-per-token0 did not rise
    else:
        assert n1 == r1 + amount_in and n0 <= r0
        assert n1 * r0 >= r1 * n0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), steps=st.integers(min_value=1, max_value=60))
def test_swaps_are_reproducible_from_seed_and_reserves(seed, steps):
    def run() -> list:
        state, reserves, orders = initial_state(POOLS, seed), dict(SEEDED), []
        for _ in range(steps):
            order, state = next_swap(state, reserves)
            orders.append(order)
            if order is not None:
                reserves[order.pool] = reserves_after(*reserves[order.pool], order.zero_for_one, order.amount_in)
        return orders

    assert run() == run()


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), steps=st.integers(min_value=0, max_value=40))
def test_every_swap_is_bounded_exact_and_leaves_the_state_untouched(seed, steps):
    params = MarketParams()
    state, reserves = initial_state(POOLS, seed), dict(SEEDED)
    for _ in range(steps):
        before = (state.step, dict(state.pair_walk), dict(state.pool_noise))
        order, after = next_swap(state, reserves, params)
        assert (state.step, state.pair_walk, state.pool_noise) == before  # pure: input not mutated
        assert after.step == state.step + 1
        assert order is not None and order.step == state.step
        r0, r1 = reserves[order.pool]
        r_in, r_out = (r0, r1) if order.zero_for_one else (r1, r0)
        assert r_in * params.min_trade_ppm // 1_000_000 <= order.amount_in <= r_in * params.max_trade_ppm // 1_000_000
        assert order.amount_out == get_amount_out(order.amount_in, r_in, r_out) > 0
        assert k_invariant_holds(r0, r1, order.zero_for_one, order.amount_in, order.amount_out)
        if order.informed:  # it trades toward its target
            gap = after.target_log_price(next(p for p in POOLS if p.address == order.pool)) - log_price(r0, r1)
            assert order.zero_for_one == (gap < 0)
        reserves[order.pool] = reserves_after(r0, r1, order.zero_for_one, order.amount_in)
        state = after


def test_a_pool_without_reserves_is_skipped_not_traded():
    state = initial_state(POOLS, 1)
    order, after = next_swap(state, {})
    assert order is None and after.step == 1


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_the_same_pair_drifts_apart_across_the_two_dexes(seed):
    # 600 swaps with no arbitrageur: the WETH/USDC price gap between the DEXes exceeds the 0.6%
    # round-trip fee at some point, and the two prices do not move in lockstep.
    uni, sushi = WORLD.pool("uniswap", "WETH", "USDC"), WORLD.pool("sushiswap", "WETH", "USDC")
    state, reserves = initial_state(POOLS, seed), dict(SEEDED)
    gaps = []
    for _ in range(600):
        order, state = next_swap(state, reserves)
        if order is not None:
            reserves[order.pool] = reserves_after(*reserves[order.pool], order.zero_for_one, order.amount_in)
        gaps.append(log_price(*reserves[uni.address]) - log_price(*reserves[sushi.address]))
    assert max(abs(g) for g in gaps) > math.log(1 / 0.997**2)
    assert len({round(g, 6) for g in gaps}) > 20


def test_market_pools_share_a_pair_key_across_dexes():
    by_pair: dict[str, list[MarketPool]] = {}
    for pool in POOLS:
        by_pair.setdefault(pool.pair, []).append(pool)
    assert len(by_pair) == len(DEFAULT_WORLD_SPEC.pairs)
    assert all(len(pools) == len(DEFAULT_WORLD_SPEC.dexes) for pools in by_pair.values())
