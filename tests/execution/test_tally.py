"""execution.tally: the outcome and skip-reason labels of final trades, and their PnL in ETH wei.

The pipeline's own skips are checked against the kinds in tests/execution/test_pipeline.py (every
skip of the random runs has one); here, the reasons that come from errors raised outside the table.
"""

from __future__ import annotations

import msgspec
import pytest

from execution import tally
from execution.ledger import REPLACED_BY_CANCELLATION, new_trade
from execution.profitability import GasUnpriceable, wei_in_token
from execution.resume import RESTARTED_BEFORE_SENDING
from execution.transaction import BadRoute, WrongChain, execute_call
from protocol.execution import SubmitMode, TradeStage
from tests.execution.test_pipeline import POOLS, opportunity

OPP = opportunity("o1", (POOLS[0], POOLS[1]), 10, 1_000)  # 10**7 ETH wei of gas is 1 token wei


def final(stage: TradeStage, **fields: object):
    return new_trade(OPP, SubmitMode.PUBLIC).at(stage, **fields).record


@pytest.mark.parametrize(("stage", "reason", "label"), [
    (TradeStage.MINED, "", "mined"),
    (TradeStage.REVERTED, "reverted on chain", "reverted"),
    (TradeStage.NOT_INCLUDED, REPLACED_BY_CANCELLATION, "cancelled"),
    (TradeStage.NOT_INCLUDED, "bundle not included in block 12", "not_included"),
    (TradeStage.SKIPPED, "stale: detected at block 9, head is 10", "skipped"),
])
def test_outcome_labels(stage: TradeStage, reason: str, label: str) -> None:
    assert tally.outcome(final(stage, reason=reason)) == label
    assert label in tally.OUTCOMES


def test_a_trade_not_final_has_no_outcome() -> None:
    with pytest.raises(ValueError, match="not final"):
        tally.outcome(final(TradeStage.SUBMITTED))


def _raised(error: type[Exception], call) -> str:
    with pytest.raises(error) as raised:
        call()
    return str(raised.value)


def test_reasons_from_errors_raised_outside_the_table_have_their_kind() -> None:
    one_leg = msgspec.structs.replace(OPP, route=OPP.route[:1])
    no_rate = msgspec.structs.replace(OPP, gas_cost_token=0)
    reasons = {
        "bad route": _raised(BadRoute, lambda: execute_call(one_leg, amount_in=1, head_block=1)),
        "gas unpriceable": _raised(GasUnpriceable, lambda: wei_in_token(no_rate, 10)),
        "wrong chain": str(WrongChain(31337, 5)),
        "restarted before sending": RESTARTED_BEFORE_SENDING,
    }
    assert {kind: tally.skip_kind(reason) for kind, reason in reasons.items()} == {k: k for k in reasons}


def test_an_unknown_reason_is_other_and_the_label_set_is_bounded() -> None:
    assert tally.skip_kind("the moon is full") == tally.OTHER
    kinds = [kind for kind, _ in tally.SKIP_KINDS]
    assert len(kinds) == len(set(kinds)) and tally.OTHER not in kinds


def test_net_pnl_in_eth_wei_at_the_detection_rate() -> None:
    # 3 token wei of profit at 10**7 ETH wei each, less 2 * 10**6 wei of gas
    mined = final(TradeStage.MINED, realized_profit=3, gas_cost_wei=2 * 10**6)
    assert tally.net_pnl_wei(mined, OPP) == 3 * 10**7 - 2 * 10**6
    reverted = final(TradeStage.REVERTED, realized_profit=0, gas_cost_wei=5 * 10**6)
    assert tally.net_pnl_wei(reverted, OPP) == -5 * 10**6
    unvalued = msgspec.structs.replace(OPP, gas_cost_token=0, net_profit_wei=0)
    assert tally.net_pnl_wei(mined, unvalued) is None  # a profit with no ETH rate is not guessed
