"""The replay: exact fills on replayed reserves, gas from the base fee, the race, the live risk book, determinism."""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest

from amm.v2 import get_amount_out, optimal_input
from backtest.competition import CompetitionModel
from backtest.engine import MEASURED_GAS, BacktestOptions, StrategyParams, replay
from backtest.history import History, HistoryMeta, PoolInfo, TokenInfo, exact, validate, words_from_ints
from backtest.report import to_html, to_json
from backtest.results import build_report
from backtest.synthetic import SyntheticSpec, address, generate
from bot.backtesting import BacktestRequest, run
from bot.manager import Phase4Manager
from protocol.config import Config
from protocol.risk import RiskLimits
from tests.backtest.busy import busy

WETH, USDC, TKN = address("WETH"), address("USDC"), address("TKN")
NO_RACE = BacktestOptions(competition=CompetitionModel(enabled=False))
ALWAYS_LOSE = CompetitionModel(rate_at_reference=1e9)
BASE_FEE = 10 * 10**9


def tiny_history(blocks: int = 20) -> History:
    """Three pools, one Sync each at the first block: TKN is 3 % cheaper on dex b than on dex a."""
    def pool(name: str, dex: str, a: str, b: str) -> PoolInfo:
        token0, token1 = sorted((a, b))
        return PoolInfo(address(name), dex, token0, token1)

    pools = (pool("a:WETH/USDC", "a", WETH, USDC), pool("a:WETH/TKN", "a", WETH, TKN),
             pool("b:WETH/TKN", "b", WETH, TKN))
    meta = HistoryMeta(weth=WETH, quote=USDC, pools=pools, synthetic="hand-made test history",
                       tokens={WETH: TokenInfo("WETH", 18), USDC: TokenInfo("USDC", 6), TKN: TokenInfo("TKN", 18)})

    def reserves(pool: PoolInfo, weth: int, other: int) -> tuple[int, int]:
        return (weth, other) if pool.token0 == WETH else (other, weth)

    rows = [reserves(pools[0], 1_000 * 10**18, 3_000_000 * 10**6),
            reserves(pools[1], 1_000 * 10**18, 100_000 * 10**18),
            reserves(pools[2], 1_000 * 10**18, 103_000 * 10**18)]
    words = {k: words_from_ints([r[k] for r in rows]) for k in (0, 1)}
    number = 1_000 + np.arange(blocks, dtype=np.int64)
    return validate(meta, {"block_number": number, "timestamp": 1_767_225_600 + 12 * (number - 1_000),
                           "base_fee_wei": np.full(blocks, BASE_FEE, dtype=np.int64)},
                    {"block_number": np.full(3, 1_000), "log_index": np.arange(3),
                     "pool": np.array([p.address for p in pools]), "reserve0": words[0], "reserve1": words[1]})


def weth_and_token(history: History, i: int) -> tuple[int, int]:
    r0, r1 = exact(history.reserve0, i), exact(history.reserve1, i)
    return (r0, r1) if history.meta.pools[i].token0 == WETH else (r1, r0)


def the_arbitrage(history: History) -> tuple[int, int]:
    """Buy TKN on b, sell it on a: the exact optimum from the pools' reserves."""

    def hop(i: int, sell_weth: bool) -> tuple[int, int, int]:
        weth_r, tkn_r = weth_and_token(history, i)
        return (weth_r, tkn_r, 30) if sell_weth else (tkn_r, weth_r, 30)

    return optimal_input((hop(2, True), hop(1, False)))


def test_one_mispricing_is_one_exact_fill_paying_measured_gas_at_the_base_fee():
    history = tiny_history()
    strategy = StrategyParams(inventory_eth=1_000.0, limits=RiskLimits(
        initial_capital=3_000_000.0, max_trade_amount=3_000_000.0, max_position_size=1.0, max_daily_loss=100_000.0,
        max_pool_share=1.0, impact_ceiling=1.0))
    result = replay(history, strategy, NO_RACE)
    amount, gross = the_arbitrage(history)
    assert gross > 0
    # traded once: after the fill the pools carry its reserves, and no later Sync brings the gap back
    assert [t.status for t in result.trades] == ["mined"]
    trade = result.trades[0]
    assert (trade.amount_in, trade.gross_profit, trade.hops) == (amount, gross, 2)
    paid = MEASURED_GAS[2] * (BASE_FEE + strategy.priority_fee_wei)
    assert (trade.gas_used, trade.gas_cost_wei, trade.pnl_wei) == (MEASURED_GAS[2], paid, gross - paid)
    # the live risk book wants a few blocks of prices before it judges market risk: it refuses until then,
    # and the fill lands the block after the first approval
    waited = sum(n for reason, n in result.skipped.items() if "recent prices" in reason)
    assert waited >= 1 and sum(result.skipped.values()) == waited
    assert trade.block == 1_000 + waited + 1
    assert result.final_state.total_trades == 1
    assert result.final_state.equity == pytest.approx(3_000_000.0 + trade.pnl_value)
    # no later Sync: the fill's reserves hold to the end, every later block is scanned and none trades again
    assert result.scanned_blocks == history.blocks


def test_the_risk_book_sizes_the_trade_down_by_its_limits():
    history = tiny_history()
    small = StrategyParams(inventory_eth=1_000.0, limits=RiskLimits(
        initial_capital=3_000_000.0, max_trade_amount=6_000.0, max_position_size=1.0, max_daily_loss=100_000.0))
    trade = replay(history, small, NO_RACE).trades[0]
    amount, _ = the_arbitrage(history)
    assert trade.amount_in < amount
    assert trade.amount_in * 3_000 / 10**18 <= 6_000 * 1.001  # 6,000 USD of WETH at 3,000 USD/ETH
    # the fill is the exact route at that size
    b_weth, b_tkn = weth_and_token(history, 2)
    a_weth, a_tkn = weth_and_token(history, 1)
    tkn = get_amount_out(trade.amount_in, b_weth, b_tkn)
    assert trade.gross_profit == get_amount_out(tkn, a_tkn, a_weth) - trade.amount_in


def test_a_lost_race_costs_the_revert_gas_in_public_mode_and_nothing_in_bundles():
    history = generate(busy(2, 0.5))
    public = replay(history, StrategyParams(), BacktestOptions(competition=ALWAYS_LOSE))
    assert public.trades and all(t.status == "reverted" and t.pnl_wei == -t.gas_cost_wei < 0 for t in public.trades)
    bundle = replay(history, StrategyParams(), BacktestOptions(mode="bundle", competition=ALWAYS_LOSE))
    assert bundle.trades == [] and bundle.not_included > 0
    assert bundle.final_state.equity == StrategyParams().limits.initial_capital


def test_the_live_emergency_stop_ends_trading():
    history = generate(busy(2, 0.5))
    strategy = StrategyParams(limits=msgspec.structs.replace(StrategyParams().limits, max_consecutive_losses=2))
    result = replay(history, strategy, BacktestOptions(competition=ALWAYS_LOSE, operator_reset_after_s=None))
    assert len(result.trades) == 2
    assert result.final_state.emergency_stop.active and result.limit_hits["max_consecutive_losses"] == 1
    assert any(k.startswith("risk: emergency stop active") for k in result.skipped)
    # the backtest stands in for the operator: it resets the stop (the live reset_stop) 10 minutes later, and trading
    # resumes (and stops again)
    reset = replay(history, strategy, BacktestOptions(competition=ALWAYS_LOSE, operator_reset_after_s=600.0))
    assert reset.stops >= 2 and len(reset.trades) > 2


def test_same_seed_same_report_other_seed_other_draws(tmp_path):
    history = generate(busy(1, 1))
    reports = [build_report(history, replay(history, StrategyParams(), BacktestOptions(seed=s)), StrategyParams(),
                            BacktestOptions(seed=s)) for s in (4, 4, 5)]
    assert to_json(reports[0]) == to_json(reports[1])
    assert to_html(reports[0]) == to_html(reports[1])
    assert [t.status for t in reports[0].trades] != [t.status for t in reports[2].trades] or \
        reports[0].intervals != reports[2].intervals


def test_the_report_is_labelled_and_the_operator_api_returns_the_seed_summary(tmp_path):
    report = Phase4Manager(Config()).run_backtest({"minNetProfitWei": 1}, {"synthetic": "1d", "out": str(tmp_path)})
    summary = msgspec.to_builtins(report.summary)
    assert {"totalReturn", "sharpeRatio", "maxDrawdown"} <= set(summary)
    assert summary["totalReturn"] == pytest.approx(report.summary.end_equity / report.summary.start_equity - 1)
    data = json.loads((tmp_path / "backtest.json").read_text())
    assert data["synthetic"] is True and data["data"].startswith("SYNTHETIC")
    assert data["summary"] == summary
    page = (tmp_path / "backtest.html").read_text()
    assert "SYNTHETIC DATA" in page and "365" in page and page.count("data:image/png;base64,") == 3


def test_cli_refuses_an_unbuilt_source_and_runs_a_synthetic_range(tmp_path, capsys):
    from run import main

    assert main(["backtest", "--from", "1", "--to", "5"]) == 2
    assert "run.py history fetch" in capsys.readouterr().err  # ingest first, then replay the directory
    assert main(["backtest", "--synthetic", "2000b", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "backtest.html").exists()
    assert "SYNTHETIC" in capsys.readouterr().out


def test_a_block_window_of_a_stored_history(tmp_path):
    from persistence.history import save

    directory = save(generate(SyntheticSpec(seed=3, days=0.2)), tmp_path / "h")
    report = run(StrategyParams(), BacktestOptions(), BacktestRequest(history=str(directory), first_block=20_000_100,
                                                                       last_block=20_001_000, out=None))
    assert (report.first_block, report.last_block) == (20_000_100, 20_001_000)
    with pytest.raises(ValueError, match="outside the history"):
        run(StrategyParams(), BacktestOptions(), BacktestRequest(history=str(directory), first_block=5, last_block=9))
