"""A hypothesis state machine over opportunities, outcomes, stops, resets and clock advances.

Invariants (issue 5): no approved size exceeds maxTradeAmount or maxPositionSize; nothing is
approved while stopped or cooling down; the daily loss never exceeds its limit by more than one
trade's approved maximum loss; the stop fires when its conditions hold. Plus: scores stay in
[0, 1], the state round-trips through its encoding, and its version only grows.
"""

from __future__ import annotations

import re

import msgspec
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from protocol.risk import RiskLimits
from protocol.trading import TradeStatus
from risk import apply_outcome, assess, new_state, reserve, reset_stop, trigger_stop
from risk.book import exposure_by_token
from risk.state import decode_state, encode_state, trade_stats
from tests.risk.factories import T0, calm_market, opportunity, outcome

# Small limits so that sequences of a few dozen steps reach every limit.
LIMITS = RiskLimits(
    max_daily_loss=60.0,
    max_trade_amount=400.0,
    max_position_size=0.25,
    max_drawdown=0.05,
    emergency_stop_loss=0.02,
    max_consecutive_losses=4,
    cooldown_period=60_000,
    initial_capital=2_000.0,
    kelly_min_trades=6,
    reservation_ttl=90.0,
)
EPS = 1e-6


class RiskBookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.state = new_state(LIMITS, self.now)
        self.pending: dict[str, float] = {}  # approved and unsettled: id -> approved max loss
        self.largest_max_loss = 0.0
        self.counter = 0
        self.version = self.state.version

    @rule(
        size=st.floats(min_value=1.0, max_value=3_000.0),
        profit=st.floats(min_value=0.5, max_value=80.0),
        gas=st.floats(min_value=0.0, max_value=12.0),
        mev=st.floats(min_value=0.0, max_value=1.0),
    )
    def opportunity_arrives(self, size, profit, gas, mev):
        self.counter += 1
        oid = f"o{self.counter}"
        opp = opportunity(oid, size_value=size, gross_profit_value=profit, gas_cost_value=gas, detected_at=self.now)
        before = self.state
        a = assess(before, opp, calm_market(mev=mev), LIMITS, self.now)
        assert 0.0 <= a.score <= 1.0
        if not a.approved:
            assert a.reasons
            event("rejected: " + re.sub(r"[-\d.%]+", "N", a.reasons[0].split(":")[0]))
            return
        event("approved")
        assert not before.emergency_stop.active, "approved while stopped"
        assert before.cooldown_until is None or self.now >= before.cooldown_until, "approved while cooling down"
        assert a.adjusted_size_value <= LIMITS.max_trade_amount + EPS
        cap = LIMITS.max_position_size * before.equity
        assert a.adjusted_size_value <= cap + EPS
        held = exposure_by_token(before, self.now)
        for token in opp.tokens:
            assert held.get(token, 0.0) + a.adjusted_size_value <= cap + EPS, "position limit on a token"
        assert a.adjusted_size_value <= size + EPS
        self.state = reserve(before, opp, a.adjusted_size_value, a.max_loss_value, LIMITS, self.now)
        self.pending[oid] = a.max_loss_value
        self.largest_max_loss = max(self.largest_max_loss, a.max_loss_value)

    @rule(
        size=st.floats(min_value=50.0, max_value=800.0),
        gas=st.floats(min_value=0.5, max_value=8.0),
        loss_share=st.one_of(st.just(1.0), st.floats(min_value=0.0, max_value=1.0)),
        lose=st.booleans(),
    )
    def trade_settles_at_once(self, size, gas, loss_share, lose):
        """An approval followed straight by its outcome, so that short runs reach the limits."""
        self.opportunity_arrives(size=size, profit=40.0, gas=gas, mev=0.2)
        oid = f"o{self.counter}"
        if oid in self.pending:
            self._settle(oid, TradeStatus.MINED, -loss_share * self.pending[oid] if lose else 5.0)

    @precondition(lambda self: bool(self.pending))
    @rule(
        data=st.data(),
        loss_share=st.one_of(st.just(1.0), st.floats(min_value=0.0, max_value=1.0)),
        win=st.floats(min_value=0.0, max_value=60.0),
        kind=st.sampled_from(["win", "loss", "loss", "revert", "not_included"]),
    )
    def outcome_arrives(self, data, loss_share, win, kind):
        oid = data.draw(st.sampled_from(sorted(self.pending)))
        max_loss = self.pending[oid]
        status, pnl = {
            "win": (TradeStatus.MINED, win),
            "loss": (TradeStatus.MINED, -loss_share * max_loss),
            "revert": (TradeStatus.REVERTED, -loss_share * max_loss),
            "not_included": (TradeStatus.NOT_INCLUDED, 0.0),
        }[kind]
        self._settle(oid, status, pnl)

    def _settle(self, oid: str, status: TradeStatus, pnl: float) -> None:
        del self.pending[oid]
        equity_before = self.state.equity
        self.state, events = apply_outcome(self.state, outcome(oid, pnl, status), LIMITS, self.now)
        if pnl < 0:
            s = self.state
            should_stop = (
                s.daily_loss >= LIMITS.max_daily_loss
                or s.drawdown >= LIMITS.max_drawdown
                or s.consecutive_losses >= LIMITS.max_consecutive_losses
                or -pnl > LIMITS.emergency_stop_loss * equity_before
            )
            if should_stop:
                event("a stop condition held")
                assert s.emergency_stop.active, f"stop conditions hold but no stop: {events}"
                assert s.cooldown_until is not None and s.cooldown_until >= self.now

    @rule(seconds=st.one_of(st.floats(min_value=0.0, max_value=120.0), st.sampled_from([3_600.0, 86_400.0])))
    def clock_advances(self, seconds):
        self.now += seconds
        # past its reservation the trade's on-chain deadline has passed: it can no longer execute
        for oid in [o for o, t in ((t.opportunity_id, t) for t in self.state.open_trades) if t.expires_at <= self.now]:
            self.pending.pop(oid, None)

    @rule()
    def critical_signal(self):
        self.state, _ = trigger_stop(self.state, "critical: monitor saw a lying node", "monitor", self.now)
        assert self.state.emergency_stop.active

    @precondition(lambda self: self.state.emergency_stop.active)
    @rule()
    def operator_resets(self):
        self.state, events = reset_stop(self.state, "checked the book", "operator", self.now)
        assert not self.state.emergency_stop.active and len(events) == 1

    @invariant()
    def daily_loss_stays_within_one_worst_case_of_its_limit(self):
        assert self.state.daily_loss <= LIMITS.max_daily_loss + self.largest_max_loss + EPS

    @invariant()
    def version_grows_and_state_round_trips(self):
        assert self.state.version >= self.version
        self.version = self.state.version
        assert decode_state(encode_state(self.state)) == self.state
        assert self.state.stats == trade_stats(self.state.history)

    @invariant()
    def equity_is_capital_plus_realized_pnl(self):
        s = self.state
        assert abs(s.equity - (LIMITS.initial_capital + s.total_pnl)) < EPS
        assert s.peak_equity >= s.equity - EPS
        assert msgspec.structs.asdict(s)["open_trades"] is not None


RiskBookMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestRiskBookStateMachine = RiskBookMachine.TestCase
