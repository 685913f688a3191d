"""ApproveAllBook: a stand-in risk book that approves every trade at its full size. DEVNET AND TESTS ONLY.

It answers the same messages as actors/risk_book.py (AssessTrade -> RiskAssessment, RecordOutcome ->
RiskEventsRecorded) so the executor is wired exactly as against the real book, and it keeps the
outcomes it was told so tests can check what the executor reported.
"""

from __future__ import annotations

import time
from typing import Any

from protocol.risk import AssessTrade, RecordOutcome, RiskAssessment, RiskComponents, RiskEventsRecorded
from protocol.trading import TradeOutcome
from supervision import ActorContext, SupervisedActor

NO_RISK = RiskComponents(portfolio=0.0, market=0.0, liquidity=0.0, execution=0.0)


class ApproveAllBook(SupervisedActor):
    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.outcomes: list[TradeOutcome] = []

    def receive(self, msg: Any) -> Any:
        match msg:
            case AssessTrade(opportunity=opp):
                return RiskAssessment(
                    opportunity_id=opp.id, approved=True, reasons=(), score=0.0, components=NO_RISK,
                    max_size_value=opp.amount_in_value, adjusted_size_value=opp.amount_in_value,
                    adjusted_amount_in=opp.amount_in, max_loss_value=opp.gas_cost_value, assessed_at=time.time(),
                )
            case RecordOutcome(outcome=outcome):
                self.outcomes.append(outcome)
                self.publish(tuple(self.outcomes))
                return RiskEventsRecorded(events=())
        return super().receive(msg)
