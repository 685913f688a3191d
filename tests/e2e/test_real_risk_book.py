"""The executor against the real RiskBook: its approval sizes the trade, and it hears the outcome."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from actors.risk_book import RiskBook
from amm.gas import PriceBook
from devnet.session import Devnet
from persistence import SqliteRiskStore
from protocol.execution import GetTrades, StrategySnapshot, SubmitMode, TradeRecord, TradeStage
from protocol.risk import GetRiskReport, RiskLimits, RiskReport
from supervision import ChildSpec, Handle
from tests.e2e.conftest import EXECUTOR, RISK, STRATEGY, start_bot
from tests.execution.helpers import market_swap
from tests.waiting import wait_until

ETH_USD = 3000.0


def scanned(head: int) -> bool:
    snap = Handle(STRATEGY).snapshot()
    return isinstance(snap, StrategySnapshot) and snap.scanned_block >= head


def test_risk_book_resizes_the_trade_and_records_its_outcome(isolated: Devnet, tmp_path: Path) -> None:
    devnet = isolated
    limits = RiskLimits(max_trade_amount=1_000.0)  # about a third of an ETH per trade
    book = ChildSpec("risk-book", RiskBook, kwargs={
        "limits": limits, "open_store": lambda: SqliteRiskStore(str(tmp_path / "risk.sqlite3"), "e2e")})
    bot = start_bot(devnet, SubmitMode.PUBLIC, risk_book=book, prices=PriceBook(eth_value=ETH_USD))
    # the book needs a few blocks of price history before it can judge volatility (3 prices at least)
    for _ in range(3):
        devnet.node.mine(1)
        head = devnet.w3.eth.block_number
        wait_until(partial(scanned, head), what=f"a scan of block {head}")
    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    market_swap(devnet.w3, devnet.world, pool.address, True, 20_000)

    bot.wait_executor(lambda s: s.mined + s.skipped + s.reverted >= 1, "a decision")
    records: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)
    mined = [r for r in records if r.stage is TradeStage.MINED]
    assert mined, [r.reason for r in records]
    record = mined[0]
    assert record.amount_in * ETH_USD / 10**18 <= limits.max_trade_amount + 1e-6  # sized down by the book
    assert record.realized_profit == record.simulated_profit == record.expected_profit > 0  # still exact
    report: RiskReport = wait_until(
        lambda: (r := Handle(RISK).ask(GetRiskReport(), timeout=2.0)).total_trades >= 1 and r, what="outcome booked")
    assert report.total_pnl > 0  # the outcome reached the book (further trades may be in flight)
