"""The screen only skips blocks where nothing could be traded: showing the Trader every block (as paper
trading and the live strategy do) makes exactly the trades the screened replay makes."""

from __future__ import annotations

from amm.search import eth_value_in
from amm.selection import token_prices
from backtest.engine import BacktestOptions, StrategyParams, SyncPointer, replay
from backtest.synthetic import SyntheticSpec, generate
from backtest.trader import Trader
from tests.backtest.busy import busy


def every_block(history, strategy: StrategyParams, options: BacktestOptions) -> Trader:
    trader = Trader(history.meta, strategy, options, float(history.timestamp[0]))
    syncs = SyncPointer(history)
    for row, block in enumerate(history.block_number.tolist()):
        trader.block(block, float(history.timestamp[row]), int(history.base_fee_wei[row]), syncs.advance(block))
    return trader


def test_the_screened_replay_trades_as_a_scan_of_every_block():
    history = generate(busy(4, 0.75))  # 19 trades and some skipped with this engine's race model
    strategy, options = StrategyParams(), BacktestOptions(seed=2)
    screened = replay(history, strategy, options)
    full = every_block(history, strategy, options)
    assert screened.scanned_blocks < full.scanned // 2  # the screen did skip most blocks
    assert len(full.trades) > 5
    assert screened.trades == full.trades
    assert screened.final_state.equity == full.state.equity
    assert dict(screened.skipped) == dict(full.skipped)


def test_prices_of_a_skipped_block_are_the_live_strategys_figures():
    history = generate(SyntheticSpec(seed=4, days=0.05))
    trader = Trader(history.meta, StrategyParams(), BacktestOptions(), float(history.timestamp[0]))
    syncs = SyncPointer(history)
    for row, block in enumerate(history.block_number.tolist()[:200]):
        trader.block(block, float(history.timestamp[row]), int(history.base_fee_wei[row]), syncs.advance(block))
        graph = trader.graph
        assert graph is not None
        live = token_prices(graph, eth_value_in(graph, history.meta.quote, 6))
        if not trader.overlay:  # with our fill on a pool the graph is not the recorded world
            assert trader._price_row(graph) == live
