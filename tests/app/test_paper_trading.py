"""PAPER_MODE on a chain the bot only reads (a separate anvil with the world deployed): the live strategy and
risk rules trade every head on paper, the backtest's simulator fills, nothing is sent; the report is the
backtest's, and the backtest of the same heads (the recorded tape) makes the same trades."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from backtest.engine import BacktestOptions, replay
from backtest.paper import PAPER_LABEL, PaperReport
from bot.app import SHUTDOWN_BOUND_S
from devnet import open_devnet
from devnet.accounts import BOT
from devnet.executor_setup import deploy_executor
from persistence.history import load
from tests.app.conftest import BotRun, wait_no_leftovers
from tests.execution.helpers import checksum, market_swap
from tests.waiting import wait_until


def _paper_status(bot: BotRun) -> dict[str, Any]:
    answer = bot.run("console", "--data-dir", str(bot.data_dir), "inspect", "/market/paper", timeout_s=30)
    assert answer.returncode == 0, answer.stderr
    return dict(json.loads(answer.stdout)["extra"])


def test_paper_mode_fills_on_paper_reports_and_agrees_with_the_backtest_of_its_heads(bot: BotRun) -> None:
    with open_devnet(block_time_s=None) as chain:
        world = chain.world
        executor = deploy_executor(chain.w3, BOT.address, weth=world.weth.address, weth_inventory_wei=10 * 10**18)
        bot.env.update({
            "RPC_URL_PRIMARY": chain.node.http_url,
            "WETH_ADDRESS": world.weth.address,
            "FACTORIES": ",".join(f"{d.name}={d.factory}" for d in world.dexes),
            "EXECUTOR_ADDRESS": executor,
            "NUMERAIRE_TOKEN": world.token("USDC").address,
            "PRIVATE_KEY": BOT.key,  # a key is given, yet paper trading signs nothing
        })
        nonce_before = chain.w3.eth.get_transaction_count(checksum(BOT.address))
        proc = bot.start("paper")
        try:
            bot.wait_console(proc)
            pool = world.pool("sushiswap", "WETH", "USDC")
            swaps = [0]

            def after_a_gap() -> dict[str, Any]:
                status = _paper_status(bot)
                if status.get("trades", 0) == 0 and swaps[0] < 20:
                    swaps[0] += 1
                    market_swap(chain.w3, world, pool.address, swaps[0] % 2 == 1, 40_000)  # open a gap
                return status

            status = wait_until(after_a_gap, 60, "a paper trade", until=lambda s: s.get("trades", 0) >= 1)
            assert status["trades"] >= 1
        finally:
            out = bot.interrupt(proc, SHUTDOWN_BOUND_S + 30)
        assert proc.returncode == 0, out
        assert "paper trading" in out and "paper trade" in out
        nonce_after = chain.w3.eth.get_transaction_count(checksum(BOT.address))
        assert nonce_after == nonce_before, "paper trading sent a transaction"
    assert wait_no_leftovers(bot.marker) == []
    paper_dir = bot.data_dir / "paper"
    report = msgspec.json.decode((paper_dir / "paper.json").read_bytes(), type=PaperReport)
    assert report.paper.data == PAPER_LABEL
    assert report.paper.summary.trades == len(report.paper.trades) >= 1
    for trade in report.paper.trades:  # recorded as trades: the fill's integers and the gas paid
        assert trade.status in ("mined", "reverted") and trade.amount_in > 0 and trade.gas_cost_wei > 0
        assert trade.pnl_wei == trade.gross_profit - trade.gas_cost_wei
    assert report.agreement.agree, report.agreement.first_difference
    assert report.backtest.trades == report.paper.trades
    assert "PAPER trading" in (paper_dir / "paper.html").read_text()
    # the tape on disk is the history the backtest replays: the same trades again, from the files
    tape = load(paper_dir / "tape")
    again = replay(tape, report.paper.strategy, msgspec.convert(msgspec.to_builtins(report.paper.options),
                                                                 BacktestOptions))
    assert tuple(again.trades) == report.paper.trades
