"""Paper trading's session: heads in, the Trader's fills on record, the same report, and the backtest of the
same period making the same trades."""

from __future__ import annotations

import msgspec
import pytest

from backtest.engine import BacktestOptions, StrategyParams
from backtest.history import History, exact
from backtest.paper import PAPER_LABEL, PaperReport, PaperSession, PaperTape, compare
from backtest.report import to_html, to_json
from backtest.synthetic import SyntheticSpec, generate
from tests.backtest.busy import busy


def heads_of(history: History):
    """What pool-state would publish at each block: every pool's reserves as of that block."""
    reserves: dict[str, tuple[int, int]] = {}
    e = 0
    for row, block in enumerate(history.block_number.tolist()):
        while e < history.events and int(history.event_block[e]) <= block:
            pool = history.meta.pools[int(history.event_pool[e])].address
            reserves[pool] = (exact(history.reserve0, e), exact(history.reserve1, e))
            e += 1
        yield block, int(history.timestamp[row]), int(history.base_fee_wei[row]), dict(reserves)


def test_paper_trading_fills_like_the_backtest_of_the_same_blocks(tmp_path):
    history = generate(busy(5, 0.5))
    session = PaperSession(history.meta, StrategyParams(), BacktestOptions(seed=9))
    for head in heads_of(history):
        session.on_head(*head)
    report = session.report()
    assert report.paper.data == PAPER_LABEL and not report.paper.synthetic
    assert report.paper.summary.trades == len(session.trades) > 3
    assert report.agreement.agree, report.agreement.first_difference
    assert report.agreement.same_trades == len(report.backtest.trades) == len(session.trades)
    assert report.paper.trades == report.backtest.trades
    assert report.paper.summary.total_return == pytest.approx(report.backtest.summary.total_return)
    # the report is the backtest's: the same JSON shape and the same HTML page
    decoded = msgspec.json.decode(msgspec.json.encode(report), type=PaperReport)
    assert decoded.agreement == report.agreement
    assert b'"totalReturn"' in to_json(report.paper)
    assert "PAPER trading" in to_html(report.paper)


def test_the_tape_fills_skipped_heads_and_only_moves_forward():
    history = generate(SyntheticSpec(seed=5, days=0.01))
    session = PaperSession(history.meta, StrategyParams(), BacktestOptions())
    heads = list(heads_of(history))
    for head in heads[:3] + heads[6:8]:  # the bot read blocks 3..5 as one burst
        session.on_head(*head)
    tape = session.tape.history()
    assert tape.blocks == 8 and tape.block_number.tolist() == history.block_number[:8].tolist()
    assert tape.base_fee_wei[3] == tape.base_fee_wei[2]  # the unseen heads repeat the last seen one
    with pytest.raises(ValueError, match="only moves forward"):
        session.on_head(*heads[7])
    with pytest.raises(ValueError, match="empty"):
        PaperTape(history.meta).history()


def test_a_difference_names_the_first_trade_that_differs():
    history = generate(busy(5, 0.5))
    session = PaperSession(history.meta, StrategyParams(), BacktestOptions(seed=9))
    for head in heads_of(history):
        session.on_head(*head)
    trades = session.trades
    agreement = compare(trades, trades[:-1])
    assert not agreement.agree and agreement.same_trades == len(trades) - 1
    assert agreement.first_difference is not None and f"trade {len(trades)}" in agreement.first_difference
    assert "backtest none" in agreement.first_difference


def test_paper_mode_settings_that_cannot_work_stop_the_bot_at_start():
    from protocol.config import ConfigError, load_config

    assert load_config({"PAPER_MODE": "true"}).execution.paper_trading  # the devnet values in USDC
    with pytest.raises(ConfigError, match="PAPER_MODE=true and LIVE_MODE=true"):
        load_config({"PAPER_MODE": "true", "LIVE_MODE": "true", "PRIVATE_KEY": "0x" + "11" * 32})
    with pytest.raises(ConfigError, match="NUMERAIRE_TOKEN is not set"):
        load_config({"PAPER_MODE": "true", "RPC_URL_PRIMARY": "http://127.0.0.1:8545"})
