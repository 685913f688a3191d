"""Bad pools are skipped and reported with their defect, and never traded, however profitable they look."""

from __future__ import annotations

import pytest

from amm import BlockContext, GasPolicy, MarketGraph, PoolDefect, PoolSnapshot, PriceBook, scan
from devnet.synthetic_pools import WETH

E18 = 10**18
BLOCK = BlockContext(number=1, base_fee_wei=10**9)
USD = "0xusd"


def pool(
    address: str, reserve0: int, reserve1: int, *, fee: int = 30, token0: str = USD, token1: str = WETH
) -> PoolSnapshot:
    return PoolSnapshot(address, "dex", token0, token1, reserve0, reserve1, fee)


HEALTHY = pool("0xgood", 3_000_000 * E18, 1_000 * E18)  # 3000 USD per WETH


@pytest.mark.parametrize(
    ("bad", "defect"),
    [
        (pool("0xbad", 0, 1_000 * E18), PoolDefect.ZERO_RESERVE),
        (pool("0xbad", 3_000 * E18, 0), PoolDefect.ZERO_RESERVE),
        (pool("0xbad", -1, 1_000 * E18), PoolDefect.NEGATIVE_RESERVE),
        (pool("0xbad", 2**112, 1_000 * E18), PoolDefect.RESERVE_OVERFLOW),
        (pool("0xbad", 999, 1_000), PoolDefect.DUST_LIQUIDITY),
        (pool("0xbad", 1_000 * E18, 1_000 * E18, fee=5_000), PoolDefect.BAD_FEE),
        (pool("0xbad", 1_000 * E18, 1_000 * E18, fee=-1), PoolDefect.BAD_FEE),
        (pool("0xbad", 1_000 * E18, 1_000 * E18, token0=WETH), PoolDefect.SAME_TOKEN),
        (pool("0xbad", 1_000 * E18, 1.5 * E18), PoolDefect.NOT_INTEGER),  # type: ignore[arg-type]
        (pool("0xgood", 1 * E18, 1_000 * E18), PoolDefect.DUPLICATE),  # a second answer for the same address
    ],
)
def test_bad_pool_is_reported_and_never_routed(bad: PoolSnapshot, defect: PoolDefect) -> None:
    # next to a healthy pool, the bad one would look like a huge gap if it were believed
    graph = MarketGraph.build([HEALTHY, bad], weth=WETH)
    assert [(r.address, r.defect) for r in graph.rejected] == [(bad.address, defect)]
    assert graph.pools == (HEALTHY,)
    assert graph.cycle_count() == 0
    assert scan(graph, GasPolicy(), PriceBook(), BLOCK).opportunities == ()


def test_blocked_token_pools_are_rejected() -> None:
    scam = pool("0xfot", 1 * E18, 1_000 * E18)  # a fee-on-transfer token flagged by the pool-state actor
    graph = MarketGraph.build([HEALTHY, scam], weth=WETH, blocked_tokens=[USD])
    assert {r.defect for r in graph.rejected} == {PoolDefect.BLOCKED_TOKEN}
    assert graph.pools == ()


def test_a_pool_that_turns_bad_leaves_the_routes_and_one_that_heals_rejoins() -> None:
    twin = PoolSnapshot("0xtwin", "dex2", USD, WETH, 3_300_000 * E18, 1_000 * E18, 30)  # a 10% gap
    graph = MarketGraph.build([HEALTHY, twin], weth=WETH)
    assert scan(graph, GasPolicy(), PriceBook(), BLOCK).opportunities
    drained = graph.update([PoolSnapshot("0xtwin", "dex2", USD, WETH, 0, 1_000 * E18, 30)])
    assert [(r.address, r.defect) for r in drained.rejected] == [("0xtwin", PoolDefect.ZERO_RESERVE)]
    assert drained.cycle_count() == 0
    assert scan(drained, GasPolicy(), PriceBook(), BLOCK).opportunities == ()
    dust = drained.update([PoolSnapshot("0xdust", "dex3", USD, WETH, 10, 10, 30)])
    assert [r.address for r in dust.rejected] == ["0xtwin", "0xdust"]  # still reported after a rebuild
    healed = drained.update([twin])
    assert healed.rejected == () and healed.cycle_count() == graph.cycle_count()
    assert scan(healed, GasPolicy(), PriceBook(), BLOCK).opportunities == scan(
        graph, GasPolicy(), PriceBook(), BLOCK
    ).opportunities


def test_tokens_without_a_weth_pool_are_reported_unpriced() -> None:
    a = PoolSnapshot("0xa", "dex", "0xt1", "0xt2", 1_000 * E18, 1_000 * E18, 30)
    b = PoolSnapshot("0xb", "dex2", "0xt1", "0xt2", 1_000 * E18, 1_100 * E18, 30)
    graph = MarketGraph.build([a, b], weth=WETH)
    result = scan(graph, GasPolicy(), PriceBook(), BLOCK)
    assert result.opportunities == ()
    assert result.unpriced_tokens == ("0xt1", "0xt2")


def test_a_base_token_whose_pools_arrive_later_becomes_a_route_start() -> None:
    later = "0xlater"
    graph = MarketGraph.build([HEALTHY], weth=WETH, base_tokens=[WETH, later])
    assert graph.base_tokens == frozenset({WETH})
    a = PoolSnapshot("0xa", "dex", later, WETH, 1_000 * E18, 1_000 * E18, 30)
    b = PoolSnapshot("0xb", "dex2", later, WETH, 1_100 * E18, 1_000 * E18, 30)
    grown = graph.update([a, b])
    assert grown.base_tokens == frozenset({WETH, later})
    starts = {o.token for o in scan(grown, GasPolicy(), PriceBook(), BLOCK).opportunities}
    assert starts <= {WETH, later} and starts
