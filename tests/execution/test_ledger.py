"""Pure decisions around a trade: inclusion verdicts, settlement from receipts, strategy helpers."""

from __future__ import annotations

import dataclasses

import eth_abi
from hypothesis import given, settings
from hypothesis import strategies as st

from amm.selection import market_view, pick
from execution.answers import receipt_of
from execution.ledger import Verdict, new_trade, outcome_of, settle, verdict
from execution.receipts import EXECUTED_TOPIC, TRANSFER_TOPIC
from protocol.execution import SubmitMode, TradeStage
from protocol.trading import Leg, Opportunity, TradeStatus

EXECUTOR = "0x" + "ee" * 20
WETH = "0x" + "11" * 20
OTHER = "0x" + "22" * 20


def opportunity(pools: tuple[str, ...] = ("0xa", "0xb"), oid: str = "t") -> Opportunity:
    legs = tuple(Leg(p, "dex", WETH if i == 0 else OTHER, OTHER if i == 0 else WETH, 10, 10, 100, 100)
                 for i, p in enumerate(pools))
    return Opportunity(id=oid, block_number=5, token=WETH, token_symbol="WETH", route=legs, amount_in=10,
                       gross_profit=3, gas_estimate=1, gas_price_wei=1, gas_cost_wei=100, amount_in_value=10.0,
                       gross_profit_value=3.0, gas_cost_value=1.0, detected_at=0.0)


def sent(mode: SubmitMode, hashes: tuple[str, ...] = ("0x01",), sent_block: int = 5, target: int | None = None):
    trade = new_trade(opportunity(), mode)
    trade = dataclasses.replace(trade, hashes=hashes, sent_block=sent_block)
    return trade.at(TradeStage.SUBMITTED, target_block=target, tx_hash=hashes[0])


def topic(address: str) -> str:
    return "0x" + address[2:].rjust(64, "0")


def receipt(status: int, profit: int = 0) -> dict[str, object]:
    logs = []
    if status:
        data = eth_abi.encode(["uint256", "uint256", "uint256", "bool"], [10, profit, 2, False]).hex()
        logs = [
            {"address": WETH, "topics": [TRANSFER_TOPIC, topic(EXECUTOR), topic("0x" + "aa" * 20)],
             "data": "0x" + f"{10:064x}"},
            {"address": WETH, "topics": [TRANSFER_TOPIC, topic("0x" + "bb" * 20), topic(EXECUTOR)],
             "data": "0x" + f"{10 + profit:064x}"},
            {"address": EXECUTOR, "topics": [EXECUTED_TOPIC, topic(WETH)], "data": "0x" + data},
        ]
    return {"status": hex(status), "gasUsed": hex(100_000), "effectiveGasPrice": hex(7), "blockNumber": hex(6),
            "logs": logs}


def test_verdicts() -> None:
    public = sent(SubmitMode.PUBLIC)
    assert verdict(public, {"0x01": receipt(1)}, 6, SubmitMode.PUBLIC, 3) == (Verdict.INCLUDED, "0x01")
    assert verdict(public, {"0x01": None}, 7, SubmitMode.PUBLIC, 3) == (Verdict.WAIT, None)
    assert verdict(public, {}, 8, SubmitMode.PUBLIC, 3) == (Verdict.CANCEL, None)
    cancelled = dataclasses.replace(public, hashes=("0x01", "0x02"))
    assert verdict(cancelled, {}, 20, SubmitMode.PUBLIC, 3) == (Verdict.WAIT, None)  # cancelled once only
    assert verdict(cancelled, {"0x02": receipt(1)}, 20, SubmitMode.PUBLIC, 3) == (Verdict.INCLUDED, "0x02")
    bundle = sent(SubmitMode.PRIVATE, target=6)
    assert verdict(bundle, {}, 5, SubmitMode.PRIVATE, 3) == (Verdict.WAIT, None)
    assert verdict(bundle, {}, 6, SubmitMode.PRIVATE, 3) == (Verdict.NOT_INCLUDED, None)


def test_settlement_from_receipts() -> None:
    trade = sent(SubmitMode.PUBLIC)
    mined = settle(trade, "0x01", receipt_of(receipt(1, profit=3)), EXECUTOR)
    record = mined.record
    assert (record.stage, record.realized_profit, record.gas_cost_wei) == (TradeStage.MINED, 3, 700_000)
    assert outcome_of(mined).status is TradeStatus.MINED
    reverted = settle(trade, "0x01", receipt_of(receipt(0)), EXECUTOR)
    assert reverted.record.stage is TradeStage.REVERTED and reverted.record.gas_used == 100_000
    assert outcome_of(reverted).realized_pnl_value == -700_000 * (1.0 / 100)  # the gas, valued
    replaced = settle(dataclasses.replace(trade, hashes=("0x01", "0x02")), "0x02", receipt_of(receipt(1)), EXECUTOR)
    assert replaced.record.stage is TradeStage.NOT_INCLUDED and replaced.record.reason == "replaced by a cancellation"


@settings(max_examples=50, deadline=None)
@given(routes=st.lists(st.lists(st.sampled_from("abcdefgh"), min_size=2, max_size=3, unique=True), max_size=12),
       limit=st.integers(1, 6))
def test_pick_never_shares_a_pool_keeps_order_and_accounts_for_each_left_out(
        routes: list[list[str]], limit: int) -> None:
    opps = [opportunity(tuple(r), oid=str(i)) for i, r in enumerate(routes)]
    result = pick(opps, limit)
    picked = result.opportunities
    assert len(picked) <= limit
    assert len(picked) + result.shares_a_pool + result.over_limit == len(opps)  # each one counted once
    assert result.over_limit == 0 or len(picked) == limit
    seen: set[str] = set()
    for opp in picked:
        pools = {leg.pool for leg in opp.route}
        assert not pools & seen
        seen |= pools
    assert [int(o.id) for o in picked] == sorted(int(o.id) for o in picked)  # best (first) kept first
    if opps:
        assert picked[0] is opps[0]


def test_market_view_lines_up_samples() -> None:
    history = [{WETH: 1.0}, {WETH: 1.0, OTHER: 2.0}, {WETH: 1.1, OTHER: 2.2}]
    view = market_view(history, (WETH, OTHER))
    assert view.prices == {WETH: (1.0, 1.1), OTHER: (2.0, 2.2)}  # only blocks where both were priced
