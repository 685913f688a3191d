"""Issue 13 on a real devnet: nothing net-negative is sent, nothing is sent once a stop is acknowledged,
and trades already in the mempool can be replaced by cancels."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from actors.risk_book import RiskBook
from actors.risk_console import cancel_inflight
from amm.gas import PriceBook
from devnet.accounts import BOT
from devnet.approve_all_book import ApproveAllBook
from devnet.session import Devnet
from persistence import SqliteRiskStore
from protocol.execution import GetTrades, StrategySnapshot, SubmitMode, TradeRecord, TradeStage
from protocol.risk import AssessTrade, GetRiskReport, RiskAssessment, RiskLimits, RiskReport, TriggerEmergencyStop
from supervision import ChildSpec, Handle
from tests.e2e.conftest import EXECUTOR, RISK, STRATEGY, Bot, manual_mining, start_bot
from tests.execution.helpers import market_swap
from tests.waiting import wait_until

ETH_USD = 3000.0
SHRINK = 10**6  # a millionth of the size found: a few 1e13 wei of gross profit, against ~1.5e14 of gas


class ShrinkingBook(ApproveAllBook):
    """Approves every trade at a millionth of its size, as a Kelly or loss-room cut can (issue 13 item 1)."""

    def receive(self, msg: Any) -> Any:
        answer = super().receive(msg)
        if isinstance(msg, AssessTrade) and isinstance(answer, RiskAssessment):
            return msgspec.structs.replace(answer, adjusted_amount_in=max(1, answer.adjusted_amount_in // SHRINK))
        return answer


class StopsRightAfterApproving(RiskBook):
    """The real book, whose stop is acknowledged (saved, published) just after its first approval leaves."""

    def _assess(self, opp: Any, market: Any) -> RiskAssessment:
        answer = super()._assess(opp, market)
        if answer.approved and not self.state.emergency_stop.active:
            self.receive(TriggerEmergencyStop("test: stop right after an approval", "test"))
        return answer


def pending_nonce(devnet: Devnet) -> int:
    return int(devnet.node.rpc("eth_getTransactionCount", BOT.address, "pending"), 16)


def records() -> tuple[TradeRecord, ...]:
    answer: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)
    return answer


def real_book(tmp_path: Path, actor: type = RiskBook) -> ChildSpec:
    return ChildSpec("risk-book", actor, kwargs={
        "limits": RiskLimits(max_trade_amount=1_000.0),
        "open_store": lambda: SqliteRiskStore(str(tmp_path / "risk.sqlite3"), "e2e")})


def with_price_history(devnet: Devnet) -> None:
    """The real book judges volatility from 3 prices at least: let the strategy scan three blocks."""
    for _ in range(3):
        devnet.node.mine(1)
        head = devnet.w3.eth.block_number
        wait_until(partial(scanned, head), what=f"a scan of block {head}")


def scanned(head: int) -> bool:
    snap = Handle(STRATEGY).snapshot()
    return isinstance(snap, StrategySnapshot) and snap.scanned_block >= head


def open_a_gap(devnet: Devnet, share_ppm: int = 20_000, mine: Any = None) -> None:
    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    market_swap(devnet.w3, devnet.world, pool.address, True, share_ppm, mine=mine)


def decided(bot: Bot) -> None:
    bot.wait_executor(lambda s: s.received >= 1 and s.deciding == 0 and s.in_flight == 0, "every trade decided")


def test_a_trade_sized_below_its_gas_is_never_sent(isolated: Devnet) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC, risk_book=ChildSpec("risk-book", ShrinkingBook))
    nonce = pending_nonce(devnet)
    open_a_gap(devnet)
    decided(bot)
    seen = records()
    assert seen and all(r.stage is TradeStage.SKIPPED and r.tx_hash is None for r in seen), seen
    assert any("not worth its gas" in r.reason or "net-negative" in r.reason for r in seen), [r.reason for r in seen]
    assert pending_nonce(devnet) == nonce  # nothing signed and sent
    assert bot.executor().gas_cost_wei == 0


def test_nothing_is_sent_once_a_stop_is_acknowledged(isolated: Devnet, tmp_path: Path) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC, risk_book=real_book(tmp_path, StopsRightAfterApproving),
                    prices=PriceBook(eth_value=ETH_USD))
    with_price_history(devnet)
    nonce = pending_nonce(devnet)
    open_a_gap(devnet)
    snap = bot.wait_executor(lambda s: bool(s.stopped) and s.deciding == 0 and s.in_flight == 0,
                             "the approved trade ended by the stop")
    assert "test: stop right after an approval" in snap.stopped
    approved = [r for r in records() if "emergency stop" in r.reason]
    assert approved and all(r.stage is TradeStage.SKIPPED and r.tx_hash is None for r in approved), records()
    devnet.node.mine(2)
    assert pending_nonce(devnet) == nonce  # approved before the stop, never sent after it
    report: RiskReport = wait_until(
        lambda: (r := Handle(RISK).ask(GetRiskReport(), timeout=2.0)).open_trades == 0 and r,
        what="the skipped trade's outcome released its reservation")
    assert report.emergency_stop.active


def test_a_trade_in_the_mempool_is_reported_and_can_be_cancelled(isolated: Devnet, tmp_path: Path) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC, risk_book=real_book(tmp_path), prices=PriceBook(eth_value=ETH_USD))
    with_price_history(devnet)
    nonce = pending_nonce(devnet)
    with manual_mining(devnet):
        open_a_gap(devnet, share_ppm=20_000, mine=lambda: devnet.node.mine(1))
        bot.wait_executor(lambda s: s.in_flight >= 1, "a trade in the mempool")
        Handle(RISK).ask(TriggerEmergencyStop("operator: test", "test"), timeout=2.0)
        bot.wait_executor(lambda s: bool(s.stopped), "the executor saw the stop")
        answer = cancel_inflight(argparse.Namespace(by="test"))  # the console command's handler
        assert answer["inFlight"] == 1, answer
        # the cancel is handed to the io loop: mine only once the node holds it (else the original is mined)
        cancel = bot.wait_executor(lambda s: len(s.in_flight_trades[0].hashes) == 2, "the cancel signed")
        cancel_hash = cancel.in_flight_trades[0].hashes[1]
        wait_until(lambda: devnet.node.rpc("eth_getTransactionByHash", cancel_hash) is not None,
                   what="the node holds the cancel")
        devnet.node.mine(1)
        snap = bot.wait_executor(lambda s: s.in_flight == 0 and s.deciding == 0, "the cancelled trade ended")
    assert snap.mined == 0
    ended = [r for r in records() if r.tx_hash is not None]
    assert len(ended) == 1 and ended[0].nonce == nonce, records()
    assert ended[0].stage is not TradeStage.MINED and "cancel" in ended[0].reason, ended[0]
    assert pending_nonce(devnet) == nonce + 1  # the cancel took the nonce: nothing else was sent
