"""The token graph and the opportunity search: cycle enumeration vs brute force, the float screen
vs exact integers, bad pools, incremental updates, and the Opportunity values produced."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from amm import BlockContext, GasPolicy, MarketGraph, PoolSnapshot, PriceBook, exact_scan, optimal_input, scan
from amm.search import eth_reference, eth_value_in, evaluate_cycle, screen
from devnet.synthetic_pools import WETH, next_block, synthetic_market

NO_GAS = GasPolicy(priority_fee_wei=0, base_fee_headroom_pct=0, gas_overhead=0, gas_per_hop=0)
BLOCK = BlockContext(number=100, base_fee_wei=10**9, timestamp=1_700_000_000.0)
TOKENS = (WETH, "0xb1", "0xb2", "0xb3")

pool_strategy = st.tuples(
    st.sampled_from(list(itertools.combinations(range(4), 2))),
    st.integers(10**18, 10**21),
    st.integers(10**18, 10**21),
    st.sampled_from([25, 30]),
)


def small_market(specs: list[tuple[tuple[int, int], int, int, int]]) -> list[PoolSnapshot]:
    pools = []
    for n, ((i, j), r0, r1, fee) in enumerate(specs):
        token0, token1 = sorted((TOKENS[i], TOKENS[j]))
        pools.append(PoolSnapshot(f"0xpool{n:02d}", f"dex{n % 2}", token0, token1, r0, r1, fee))
    return pools


def brute_force_cycles(pools: list[PoolSnapshot]) -> dict[frozenset[str], int]:
    """Every sequence of 2-3 distinct pools that walks WETH -> ... -> WETH, best exact profit per pool set."""
    best: dict[frozenset[str], int] = {}
    for length in (2, 3):
        for route in itertools.permutations(pools, length):
            token, hops = WETH, []
            for pool in route:
                if token == pool.token0:
                    hops.append((pool.reserve0, pool.reserve1, pool.fee_bps))
                    token = pool.token1
                elif token == pool.token1:
                    hops.append((pool.reserve1, pool.reserve0, pool.fee_bps))
                    token = pool.token0
                else:
                    break
            else:
                if token != WETH or len({h for p in route for h in (p.token0, p.token1)}) != length:
                    continue
                _, profit = optimal_input(tuple(hops))
                key = frozenset(p.address for p in route)
                if profit > 0:
                    best[key] = max(best.get(key, 0), profit)
    return best


@settings(max_examples=60, deadline=None)
@given(specs=st.lists(pool_strategy, min_size=2, max_size=7))
def test_cycle_search_finds_exactly_the_profitable_cycles_brute_force_finds(specs: list) -> None:  # type: ignore[type-arg]
    pools = small_market(specs)
    graph = MarketGraph.build(pools, weth=WETH, base_tokens=[WETH])
    found = scan(graph, NO_GAS, PriceBook(), BLOCK, max_candidates=10_000).opportunities
    expected = brute_force_cycles(pools)
    assert {frozenset(leg.pool for leg in o.route): o.gross_profit for o in found} == expected
    assert [o.net_profit_wei for o in found] == sorted((o.net_profit_wei for o in found), reverse=True)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    spread=st.sampled_from([0.004, 0.006, 0.0065, 0.01]),
    base_fee_gwei=st.integers(0, 300),
)
def test_screen_never_drops_a_cycle_that_is_exactly_profitable_after_gas(
    seed: int, spread: float, base_fee_gwei: int
) -> None:
    """Spreads around 0.6% put many cycles right at the 2-fee break-even, where floats are most tempted to lie."""
    graph = MarketGraph.build(synthetic_market(60, seed=seed, spread=spread), weth=WETH)
    policy, block = GasPolicy(), BlockContext(number=1, base_fee_wei=base_fee_gwei * 10**9)
    refs = eth_reference(graph)
    rates = [float("nan")] * len(graph.tokens)
    for token, (w, t) in refs.items():
        rates[token] = w / t
    gas_price = policy.gas_price_wei(block.base_fee_wei)
    for table in graph.cycles:
        threshold = policy.gas_units(table.hops) * gas_price + 1
        keep, _ = screen(graph, table, np.array(rates), float(threshold))
        for row in range(len(table)):
            exact = evaluate_cycle(graph, table, row, refs, policy, gas_price, PriceBook(), block)
            if exact is not None and exact.net_profit_wei >= 1:
                assert keep[row], f"screen dropped {exact}"


def test_vectorized_scan_agrees_with_the_exact_baseline() -> None:
    graph = MarketGraph.build(synthetic_market(300, seed=7, spread=0.008), weth=WETH)
    fast = scan(graph, GasPolicy(), PriceBook(eth_value=3000.0), BLOCK, max_candidates=10_000)
    slow = exact_scan(graph, GasPolicy(), PriceBook(eth_value=3000.0), BLOCK)
    assert len(slow) > 10
    assert list(fast.opportunities) == slow
    assert fast.candidates >= len(slow) and fast.cycles_screened == graph.cycle_count()


def test_opportunity_values_are_exact_and_consistent() -> None:
    graph = MarketGraph.build(synthetic_market(100, seed=3), weth=WETH)
    prices = PriceBook(eth_value=2500.0, symbols={WETH: "WETH"})
    result = scan(graph, GasPolicy(), prices, BLOCK)
    assert result.opportunities
    for o in result.opportunities:
        assert o.route[0].token_in == o.token == o.route[-1].token_out
        for leg, following in itertools.pairwise(o.route):
            assert leg.amount_out == following.amount_in and leg.token_out == following.token_in
        assert o.route[0].amount_in == o.amount_in
        assert o.route[-1].amount_out - o.amount_in == o.gross_profit > 0
        gas_price = GasPolicy().gas_price_wei(BLOCK.base_fee_wei)
        assert (o.gas_price_wei, o.gas_cost_wei) == (gas_price, o.gas_estimate * gas_price)
        assert o.net_profit == o.gross_profit - o.gas_cost_token
        assert o.net_profit_wei > 0 and isinstance(o.net_profit_wei, int)
        assert len(o.id) == 16 and int(o.id, 16) >= 0 and o.block_number == BLOCK.number
        assert o.detected_at == BLOCK.timestamp
        assert o.token_symbol == ("WETH" if o.token == WETH else o.token[:10])
        assert abs(o.net_profit_value - o.net_profit_wei / 1e18 * 2500.0) < 1e-6 * (1 + o.gross_profit_value)
    assert scan(graph, GasPolicy(), prices, BLOCK).opportunities == result.opportunities  # deterministic


def test_inventory_caps_the_size() -> None:
    graph = MarketGraph.build(synthetic_market(100, seed=3), weth=WETH, base_tokens=[WETH])
    uncapped = scan(graph, NO_GAS, PriceBook(), BLOCK).opportunities
    cap = uncapped[0].amount_in // 3
    capped = scan(graph, NO_GAS, PriceBook(), BLOCK, max_amount_in={WETH: cap}).opportunities
    assert capped and all(o.amount_in <= cap for o in capped)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), fraction=st.floats(0.0, 1.0))
def test_update_equals_a_rebuild_from_the_new_reserves(seed: int, fraction: float) -> None:
    pools = synthetic_market(80, seed=seed)
    changed = next_block(pools, seed=seed + 1, fraction=fraction, move=0.02)
    graph = MarketGraph.build(pools, weth=WETH).update(changed)
    by_address = {p.address: p for p in pools} | {p.address: p for p in changed}
    rebuilt = MarketGraph.build(by_address.values(), weth=WETH)
    assert graph.pools == rebuilt.pools
    assert not graph.reserve0.flags.writeable  # a published graph cannot be changed under a reader
    assert scan(graph, GasPolicy(), PriceBook(), BLOCK).opportunities == scan(
        rebuilt, GasPolicy(), PriceBook(), BLOCK
    ).opportunities


def test_three_hop_cycles_are_found() -> None:
    graph = MarketGraph.build(synthetic_market(200, seed=11, spread=0.02), weth=WETH, base_tokens=[WETH])
    hops = {len(o.route) for o in scan(graph, GasPolicy(), PriceBook(), BLOCK).opportunities}
    assert hops == {2, 3}


def test_eth_is_valued_in_the_numeraire_through_its_deepest_weth_pool() -> None:
    usd = "0x" + "0d" * 20
    weth = WETH
    shallow = PoolSnapshot("0x" + "01" * 20, "a", weth, usd, 10 * 10**18, 20_000 * 10**6)  # 2,000 USD/ETH
    deep = PoolSnapshot("0x" + "02" * 20, "b", weth, usd, 1_000 * 10**18, 3_000_000 * 10**6)  # 3,000 USD/ETH
    graph = MarketGraph.build([shallow, deep], weth=weth)
    assert eth_value_in(graph, usd, 6) == 3_000.0
    assert eth_value_in(graph, "0x" + "0e" * 20, 6) == 0.0  # not in the market: no valuation, never a guess


W, Z, D = ("0x" + f"{n:040x}" for n in (1, 2, 3))  # WETH, a 0-decimal token, DAI


def test_a_coarse_unit_rooting_that_rounds_to_nothing_does_not_hide_a_profitable_one():
    """Issue 12 item 1: the best float estimate roots the cycle in the 0-decimal token, whose exact
    profit is nothing; rooted in WETH the same pools pay after gas."""
    pools = [
        PoolSnapshot(address, "u", a, b, r0, r1)
        for address, (a, b), (r0, r1) in zip(("0xa", "0xb", "0xc"), ((W, Z), (W, D), (Z, D)), REPRO_RESERVES)
    ]
    block = BlockContext(number=1, base_fee_wei=10**9)
    only_weth = scan(MarketGraph.build(pools, weth=W, base_tokens=[W]), GasPolicy(), PriceBook(), block)
    every_root = scan(MarketGraph.build(pools, weth=W), GasPolicy(), PriceBook(), block)
    assert [o.net_profit_wei for o in only_weth.opportunities] == [37134477424636]
    assert every_root.candidates == 3
    assert [(o.token, o.net_profit_wei) for o in every_root.opportunities] == [(W, 37134477424636)]


REPRO_RESERVES = (
    (61139310513925554176, 184091),
    (585456058604959563776, 1775709570017608001912832),
    (737134, 730361956954768318398464),
)


@st.composite
def mixed_decimal_triangle(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    """Reserves of pools W/Z, W/D, Z/D near one price each (up to 3% off), tokens of 0 to 18 decimals."""
    decimals = {W: 18, Z: draw(st.sampled_from([0, 2, 6, 8, 18])), D: draw(st.sampled_from([0, 6, 8, 18]))}
    price = {W: 1.0, Z: 10 ** draw(st.floats(-4.0, 2.0)), D: 10 ** draw(st.floats(-4.0, 2.0))}
    reserves = []
    for a, b in ((W, Z), (W, D), (Z, D)):
        eth = 10 ** draw(st.floats(-1.0, 3.5))
        move = 1 + draw(st.floats(-0.03, 0.03))
        r0 = int(eth / price[a] * 10 ** decimals[a])
        r1 = int(eth / price[b] * 10 ** decimals[b] * move)
        reserves.append((max(1, r0), max(1, r1)))
    return tuple(reserves)


@example(reserves=REPRO_RESERVES, base_fee_gwei=1)
@settings(max_examples=300, deadline=None)
@given(reserves=mixed_decimal_triangle(), base_fee_gwei=st.integers(0, 50))
def test_more_start_tokens_never_lose_an_opportunity(reserves: tuple[tuple[int, int], ...], base_fee_gwei: int) -> None:
    """Property (issue 12 item 1): with every token as a root the scan's opportunities are a superset
    (by pool set, with at least the same net profit) of those with WETH as the only root."""
    pools = [
        PoolSnapshot(f"0x{n + 10:x}", "u", a, b, r0, r1)
        for n, ((a, b), (r0, r1)) in enumerate(zip(((W, Z), (W, D), (Z, D)), reserves))
    ]
    block = BlockContext(number=1, base_fee_wei=base_fee_gwei * 10**9)

    def found(bases: list[str] | None) -> dict[frozenset[str], int]:
        graph = MarketGraph.build(pools, weth=W, base_tokens=bases)
        result = scan(graph, GasPolicy(), PriceBook(), block, max_candidates=10_000)
        return {frozenset(leg.pool for leg in o.route): o.net_profit_wei for o in result.opportunities}

    fewer, more = found([W]), found(None)
    for pool_set, net in fewer.items():
        assert pool_set in more and more[pool_set] >= net
