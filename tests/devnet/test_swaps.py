"""Generated swaps executed on anvil: the chain ends exactly where the pure model says, and prices move."""

from __future__ import annotations

import pytest

from devnet.accounts import MARKET_TRADER
from devnet.anvil import Anvil
from devnet.deploy import deploy_world
from devnet.market import SwapOrder, initial_state, log_price, market_pools, next_swap, reserves_after
from devnet.session import Devnet
from devnet.swaps import (
    TRADER_PRIORITY_FEE,
    LiveReserves,
    SwapFailed,
    SwapTrader,
    read_all_reserves,
    read_reserves,
)

pytestmark = pytest.mark.anvil


def _cross_dex_gap(reserves: dict[str, tuple[int, int]], d: Devnet, a: str, b: str) -> float:
    uni, sushi = d.world.pool("uniswap", a, b), d.world.pool("sushiswap", a, b)
    return log_price(*reserves[uni.address]) - log_price(*reserves[sushi.address])


def test_simulated_swaps_land_exactly_and_move_cross_dex_prices(isolated_devnet: Devnet):
    d = isolated_devnet
    trader = SwapTrader(d.w3, d.world, MARKET_TRADER)
    state = initial_state(market_pools(d.world.pools), seed=11)
    live = LiveReserves(d.w3, [p.address for p in d.world.pools])
    model = read_all_reserves(d.w3, d.world)
    start = dict(model)
    sent = []
    for _ in range(40):
        order, state = next_swap(state, live)
        assert order is not None
        sent.append(trader.submit(order))
        model[order.pool] = reserves_after(*model[order.pool], order.zero_for_one, order.amount_in)

    assert all(trader.wait_ok(s.transfer_tx) and trader.wait_ok(s.swap_tx) for s in sent)
    assert read_all_reserves(d.w3, d.world, "latest") == model  # to the wei
    moved = {p.address for p in d.world.pools if model[p.address] != start[p.address]}
    assert len(moved) >= 6
    gaps = [abs(_cross_dex_gap(model, d, a, b)) for a, b in (("WETH", "USDC"), ("WETH", "DAI"), ("USDC", "DAI"))]
    assert max(gaps) > 0.001  # seeded equal; now apart
    assert all(abs(_cross_dex_gap(start, d, a, b)) < 1e-6 for a, b in (("WETH", "USDC"), ("WETH", "DAI")))


def test_swaps_sent_within_one_block_build_on_each_other(no_leaked_anvil):
    # On a node mining on an interval several swaps hit the same pool before a block: sizing them
    # from `pending` reserves keeps every one of them valid. (--no-mining: the test mines the block.)
    with Anvil(block_time_s=None, extra_args=["--no-mining"]) as node:
        d = Devnet(node, deploy_world(node.web3(), ws_url=node.ws_url))
        pool = d.world.pool("sushiswap", "WETH", "USDC")
        trader = SwapTrader(d.w3, d.world, MARKET_TRADER)
        start = read_reserves(d.w3, pool.address, "latest")
        sent = []
        for i in range(4):
            r0, r1 = read_reserves(d.w3, pool.address, "pending")
            zero_for_one = i % 2 == 0
            amount_in = (r0 if zero_for_one else r1) // 200
            model = reserves_after(r0, r1, zero_for_one, amount_in)
            out = (r1 - model[1]) if zero_for_one else (r0 - model[0])
            sent.append(trader.submit(SwapOrder(pool.address, zero_for_one, amount_in, out, i, False)))
        assert read_reserves(d.w3, pool.address, "latest") == start  # nothing mined yet
        d.node.mine(1)
        assert all(trader.wait_ok(s.swap_tx) for s in sent)
        assert read_reserves(d.w3, pool.address, "latest") == model


def test_an_order_for_an_unknown_pool_is_refused_by_name(devnet: Devnet):
    trader = SwapTrader(devnet.w3, devnet.world, MARKET_TRADER)
    bogus = SwapOrder("0x000000000000000000000000000000000000dEaD", True, 1, 1, 0, False)
    with pytest.raises(SwapFailed, match="0x000000000000000000000000000000000000dEaD"):
        trader.submit(bogus)


def test_a_rejected_transaction_names_the_pool_and_resyncs_the_nonce(isolated_devnet: Devnet):
    d = isolated_devnet
    pool = d.world.pool("uniswap", "WETH", "DAI")
    trader = SwapTrader(d.w3, d.world, MARKET_TRADER, priority_fee_wei=200 * 10**9)  # above max fee: invalid
    r0, r1 = read_reserves(d.w3, pool.address)
    order = SwapOrder(pool.address, True, r0 // 1000, 1, 0, False)
    with pytest.raises(SwapFailed) as err:
        trader.submit(order)
    assert pool.label in str(err.value) and "\n" not in str(err.value)
    # the same trader carries on once the cause is fixed: its nonce is re-read from the node
    trader.priority_fee_wei = TRADER_PRIORITY_FEE
    after = reserves_after(r0, r1, True, r0 // 1000)
    sent = trader.submit(SwapOrder(pool.address, True, r0 // 1000, r1 - after[1], 0, False))
    assert trader.wait_ok(sent.transfer_tx) and trader.wait_ok(sent.swap_tx)
    assert read_reserves(d.w3, pool.address) == after
