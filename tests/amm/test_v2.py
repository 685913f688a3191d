"""Exact V2 integer math: getAmountOut/getAmountIn properties, the composed pool, and optimal sizing vs brute force."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amm.v2 import (
    BPS,
    InsufficientLiquidity,
    _climb,
    compose,
    continuous_optimum,
    get_amount_in,
    get_amount_out,
    has_edge,
    min_input_for,
    optimal_input,
    optimal_input_search,
    profit_bracket,
    route_amount_out,
    route_profit,
)

reserves = st.integers(min_value=1, max_value=2**112 - 1)
fees = st.sampled_from([0, 1, 5, 25, 30, 100, 300])


def pair_accepts(amount_in: int, amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int) -> bool:
    """UniswapV2Pair.swap's K check, written out for a general fee (the pair hard-codes 3/1000)."""
    if amount_out >= reserve_out:
        return False
    balance_in, balance_out = reserve_in + amount_in, reserve_out - amount_out
    return (balance_in * BPS - amount_in * fee_bps) * balance_out * BPS >= reserve_in * reserve_out * BPS * BPS


@settings(max_examples=300, deadline=None)
@given(amount_in=st.integers(min_value=1, max_value=2**120), reserve_in=reserves, reserve_out=reserves, fee=fees)
def test_amount_out_is_the_largest_output_the_k_check_accepts(
    amount_in: int, reserve_in: int, reserve_out: int, fee: int
) -> None:
    out = get_amount_out(amount_in, reserve_in, reserve_out, fee)
    assert 0 <= out < reserve_out
    assert out == 0 or pair_accepts(amount_in, out, reserve_in, reserve_out, fee)
    assert not pair_accepts(amount_in, out + 1, reserve_in, reserve_out, fee)


@settings(max_examples=200, deadline=None)
@given(amount_in=st.integers(min_value=1, max_value=2**100), reserve_in=reserves, reserve_out=reserves)
def test_thirty_bps_is_uniswaps_997_over_1000_and_monotone(amount_in: int, reserve_in: int, reserve_out: int) -> None:
    out = get_amount_out(amount_in, reserve_in, reserve_out, 30)
    assert out == (amount_in * 997 * reserve_out) // (reserve_in * 1000 + amount_in * 997)
    assert get_amount_out(amount_in + 1, reserve_in, reserve_out) >= out
    assert get_amount_out(amount_in, reserve_in, reserve_out, 100) <= out  # a higher fee never pays more


@settings(max_examples=200, deadline=None)
@given(data=st.data(), reserve_in=reserves, reserve_out=st.integers(min_value=2, max_value=2**112 - 1), fee=fees)
def test_amount_in_buys_the_output_and_is_at_most_one_wei_above_the_least(
    data: st.DataObject, reserve_in: int, reserve_out: int, fee: int
) -> None:
    amount_out = data.draw(st.integers(min_value=1, max_value=reserve_out - 1))
    amount_in = get_amount_in(amount_out, reserve_in, reserve_out, fee)
    assert get_amount_out(amount_in, reserve_in, reserve_out, fee) >= amount_out
    assert pair_accepts(amount_in, amount_out, reserve_in, reserve_out, fee)
    assert amount_in < 3 or not pair_accepts(amount_in - 2, amount_out, reserve_in, reserve_out, fee)


def test_bad_quotes_name_what_failed() -> None:
    with pytest.raises(InsufficientLiquidity, match="empty reserves"):
        get_amount_out(1, 0, 10)
    with pytest.raises(ValueError, match="insufficient input amount"):
        get_amount_out(0, 10, 10)
    with pytest.raises(InsufficientLiquidity, match="output 10 >= reserve 10"):
        get_amount_in(10, 10, 10)


def continuous_out(amount: Fraction, hops: tuple[tuple[int, int, int], ...]) -> Fraction:
    for reserve_in, reserve_out, fee in hops:
        g = Fraction(BPS - fee, BPS)
        amount = g * amount * reserve_out / (reserve_in + g * amount)
    return amount


hop = st.tuples(st.integers(10**3, 10**24), st.integers(10**3, 10**24), fees)


@settings(max_examples=200, deadline=None)
@given(hops=st.lists(hop, min_size=1, max_size=4).map(tuple), amount=st.integers(1, 10**24))
def test_a_chain_of_pools_composes_into_one_virtual_pool_exactly(
    hops: tuple[tuple[int, int, int], ...], amount: int
) -> None:
    a, b, d = compose(hops)
    g = Fraction(BPS - hops[0][2], BPS)
    e_in, e_out = Fraction(a, d), Fraction(b, d)
    assert g * amount * e_out / (e_in + g * amount) == continuous_out(Fraction(amount), hops)


@settings(max_examples=200, deadline=None)
@given(x1=st.integers(10**6, 10**30), y1=st.integers(10**6, 10**30), x2=st.integers(10**6, 10**30),
       y2=st.integers(10**6, 10**30))
def test_two_pool_closed_form_is_the_reference_formula(x1: int, y1: int, x2: int, y2: int) -> None:
    """REFERENCE.md: d* = (g*sqrt(x1*y1*x2*y2) - x1*y2) / (g*y2 + g^2*y1), profitable iff g^2*y1*x2 > x1*y2."""
    hops = ((x1, y1, 30), (y2, x2, 30))
    g = Fraction(997, 1000)
    assert has_edge(hops) == (g * g * y1 * x2 > x1 * y2)
    if has_edge(hops):
        root = Fraction(math.isqrt(x1 * y1 * x2 * y2 * 10**12), 10**6)  # sqrt to 1e-6, enough below
        reference = (g * root - x1 * y2) / (g * y2 + g * g * y1)
        assert abs(continuous_optimum(hops) - reference) <= 2 + reference / 10**9
    else:
        assert continuous_optimum(hops) == 0


def floor_loss_bound(hops: tuple[tuple[int, int, int], ...], amount_in: int) -> int:
    """The documented tolerance of optimal_input: 1 + sum of the marginal start-token value of one
    unit of each intermediate token (how much one floored wei can cost at the end of the route)."""
    amounts = [amount_in]
    for h in hops:
        amounts.append(route_amount_out(amounts[-1], (h,)))
    bound = 1
    for k in range(1, len(hops)):
        derivative = 1.0
        for j in range(k, len(hops)):
            reserve_in, reserve_out, fee = hops[j]
            g = (BPS - fee) / BPS
            derivative *= g * reserve_in * reserve_out / (reserve_in + g * amounts[j]) ** 2
        bound += math.ceil(derivative)
    return bound


small_hop = st.tuples(st.integers(100, 2000), st.integers(100, 2000), fees)


@settings(max_examples=150, deadline=None)
@given(hops=st.lists(small_hop, min_size=2, max_size=3).map(tuple))
def test_optimal_input_matches_brute_force_within_the_documented_floor_loss(
    hops: tuple[tuple[int, int, int], ...],
) -> None:
    size, profit = optimal_input(hops)
    limit = 2 * max(max(r_in, r_out) for r_in, r_out, _ in hops)
    best = max(route_profit(a, hops) for a in range(1, limit))
    if best <= 0:
        assert (size, profit) == (0, 0)
        return
    if size == 0:  # nothing profitable near the closed form: brute force only found floor luck
        assert profit == 0 and best <= floor_loss_bound(hops, continuous_optimum(hops))
        return
    assert profit == route_profit(size, hops) > 0
    # a local maximum of the exact integer profit: neither neighbour earns more
    assert route_profit(size - 1, hops) <= profit >= route_profit(size + 1, hops)
    assert best - profit <= floor_loss_bound(hops, size)


@settings(max_examples=100, deadline=None)
@given(x=st.integers(10**20, 10**27), spread_bps=st.integers(61, 2000), fee=st.sampled_from([25, 30]))
def test_realistic_two_pool_optimum_is_the_exact_integer_optimum(x: int, spread_bps: int, fee: int) -> None:
    """With 18-decimal reserves the floors' loss is a wei at most, so the closed form + climb is exact."""
    hops = ((x, x, fee), (x, x * (BPS + spread_bps) // BPS, fee))
    size, profit = optimal_input(hops)
    assert profit > 0
    assert route_profit(size - 1, hops) <= profit >= route_profit(size + 1, hops)
    # the continuous optimum bounds every integer profit
    assert profit <= continuous_out(Fraction(size), hops) - size
    best_continuous = continuous_out(Fraction(continuous_optimum(hops)), hops) - continuous_optimum(hops)
    assert best_continuous - profit <= 3


def test_a_one_wei_optimum_is_found_not_reported_as_nothing():
    """Issue 12 item 2: the climb from the continuous optimum found nothing, though input 116 earns 1."""
    hops = ((78965, 80005, 30), (42384, 42631, 30))
    best = max(route_profit(a, hops) for a in range(1, 200_000))
    assert best == 1
    size, profit = optimal_input(hops)
    assert profit == best and route_profit(size, hops) == 1


def test_the_optimum_is_global_on_a_coarse_unit_cycle():
    """Issue 12 item 2: WETH -> USDC (6 decimals) -> WBTC (8 decimals) -> WETH; the climb stops on a
    local stair, the exact search over the WBTC layer (a few hundred amounts) finds the best one."""
    hops = (
        (1_000 * 10**18, 3_000_000 * 10**6, 30),  # WETH -> USDC at 3,000
        (3_000_000 * 10**6, 100 * 10**8, 30),  # USDC -> WBTC at 30,000
        (50 * 10**8, 520 * 10**18, 30),  # WBTC -> WETH at 10.4 ETH
    )
    size, profit, exact = optimal_input_search(hops)
    assert exact and profit == route_profit(size, hops)
    climbed = _climb(hops)[1]
    assert profit > climbed  # the original answer was this local maximum
    # exhaustive over the layer that decides: every WBTC amount near the optimum, least input for each
    out = [route_amount_out(size, hops[:k]) for k in range(4)]
    wbtc = out[2]
    best = max(
        route_amount_out(y, hops[2:]) - least
        for y in range(wbtc - 2_000, wbtc + 2_000)
        if (least := min_input_for(y, hops[:2])) is not None and least > 0
    )
    assert profit == best


exhaustive_hop = st.tuples(st.integers(50, 1500), st.integers(50, 1500), fees)


@settings(max_examples=400, deadline=None)
@given(hops=st.lists(exhaustive_hop, min_size=2, max_size=3).map(tuple))
def test_optimal_input_is_the_exact_integer_optimum_of_exhaustive_search(
    hops: tuple[tuple[int, int, int], ...],
) -> None:
    """Property (issue 12 item 2): on small reserves the answer equals the best of every input."""
    size, profit, exact = optimal_input_search(hops)
    limit = 2 * max(max(r_in, r_out) for r_in, r_out, _ in hops)  # beyond this every hop is saturated
    best = max(0, max(route_profit(a, hops) for a in range(1, limit)))
    assert exact
    assert profit == best
    assert (size == 0) if best == 0 else route_profit(size, hops) == best


@settings(max_examples=200, deadline=None)
@given(hops=st.lists(hop, min_size=2, max_size=3).map(tuple), target=st.integers(1, 10**6))
def test_no_input_outside_the_bracket_reaches_the_target(hops: tuple[tuple[int, int, int], ...], target: int) -> None:
    bracket = profit_bracket(hops, target)
    a_star = continuous_optimum(hops)
    if bracket is None:
        assert route_profit(max(1, a_star), hops) < target
        return
    lo, hi = bracket
    for a in (lo - 1, hi + 1):
        if a >= 1:
            assert continuous_out(Fraction(a), hops) - a < target
