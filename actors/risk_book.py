"""The RiskBook actor: the single writer of the risk book's state, a thin shell over risk/.

Every change is saved to the store before the reply that acknowledges it, and its events (stops,
resets, limit hits, cooldowns, rollovers) and every decision are appended to the audit trail
(persistence.audit_trail, fsynced) before that: the trail is the book's one record of what happened.
After each change the actor publishes a RiskSnapshot (limits, stop, cooldown, budget left) that hot-path readers check
with Handle(path).snapshot() without a mailbox hop. Messages are in protocol/risk.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from actors import risk_metrics as metrics
from actors.alert_sources import raise_alert
from persistence import audit_trail
from persistence.store import RiskStore, StateUnreadable, audit_kind
from protocol.alerts import AlertType, Priority
from protocol.risk import (
    AssessTrade,
    GetRiskReport,
    LimitHit,
    MonteCarloProjection,
    ProjectMonteCarlo,
    RecordOutcome,
    RequestRefused,
    ResetEmergencyStop,
    RiskAssessment,
    RiskEvent,
    RiskEventsRecorded,
    RiskLimits,
    RiskReport,
    TriggerEmergencyStop,
)
from risk import apply_outcome, assess, new_state, report, reserve, reset_stop, roll_day, trigger_stop
from risk.book import SETTLED, InvalidOutcome, ResetWithoutReason, apply_shared_daily_loss, live_open_trades
from risk.montecarlo import project
from risk.report import snapshot
from risk.state import RiskBookState
from supervision import ActorContext, SupervisedActor

ROLL_CHECK_S = 30.0  # how often the book looks at the clock for the daily rollover when idle
MAX_PROJECTION_CELLS = 10_000 * 1_000  # paths x trades: about 50 ms in the handler at most


class RollCheck(msgspec.Struct, frozen=True):
    """Timer tick: roll the daily window if midnight (in the limits' zone) has passed."""


class RiskBook(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        limits: RiskLimits,
        open_store: Callable[[], RiskStore],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ctx)
        self.limits = limits
        self.open_store = open_store
        self.clock = clock
        self.store: RiskStore | None = None
        self.audit: audit_trail.AuditTrail | None = None
        self.state: RiskBookState = new_state(limits, clock())

    # --- lifecycle ------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.audit = audit_trail.current()
        self.store = self.open_store()
        now = self.clock()
        events: list[RiskEvent] = []
        try:
            loaded = self.store.load()
        except StateUnreadable as exc:
            # Refuse to trade rather than silently start fresh: the operator must look and reset.
            self.log.error("{}; starting with the emergency stop active", exc)
            loaded = None
            self.state, events = trigger_stop(new_state(self.limits, now), f"state unreadable: {exc}", "risk-book", now)
        if loaded is not None:
            self.state = loaded
        self.state, rolled = roll_day(self.state, self.limits, now)
        self._commit(self.state, [*events, *rolled], force=True)
        self.ctx.send_interval(ROLL_CHECK_S, RollCheck())
        stop = self.state.emergency_stop
        self.log.info(
            "risk book {} at equity {:.2f}, stop {}", self.book_id, self.state.equity,
            stop.reason if stop.active else "off",
        )

    def on_terminate(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    # --- handlers -------------------------------------------------------------------------------

    def receive(self, msg: Any) -> Any:
        match msg:
            case AssessTrade(opportunity=opp, market=market):
                return self._assess(opp, market)
            case RecordOutcome(outcome=outcome):
                return self._record(outcome)
            case TriggerEmergencyStop(reason=reason, by=by):
                now = self.clock()
                state, events = trigger_stop(self.state, reason, by, now)
                if events:
                    self.log.error("EMERGENCY STOP by {}: {}", by, reason)
                    raise_alert(AlertType.RISK, f"EMERGENCY STOP by {by}: {reason}", priority=Priority.CRITICAL,
                                key="emergency-stop", source=self.ctx.path)
                self._commit(state, events)
                return self.state.emergency_stop
            case ResetEmergencyStop(reason=reason, by=by):
                try:
                    state, events = reset_stop(self.state, reason, by, self.clock())
                except ResetWithoutReason as exc:
                    return RequestRefused("ResetEmergencyStop", str(exc))
                if events:
                    self.log.warning("emergency stop reset by {}: {}", by, reason)
                    raise_alert(AlertType.RISK, f"emergency stop reset by {by}: {reason}", priority=Priority.CRITICAL,
                                key="emergency-stop", source=self.ctx.path, resolved=True)
                self._commit(state, events)
                return self.state.emergency_stop
            case GetRiskReport():
                return self._report()
            case ProjectMonteCarlo(horizon_trades=horizon, paths=paths, seed=seed):
                return self._project(horizon, paths, seed)
            case RollCheck():
                now = self.clock()
                state, events = roll_day(self.state, self.limits, now)
                self._commit(state, events)
                metrics.book_changed(self.state, self.limits, now)  # reservations expire without a change
                return None
        return super().receive(msg)

    def _assess(self, opp: Any, market: Any) -> RiskAssessment:
        now = self.clock()
        state, events = roll_day(self.state, self.limits, now)
        answer = assess(state, opp, market, self.limits, now)
        if answer.approved:
            assert self.store is not None
            # the shared budget holds one reservation per id: a re-approval reserves the total
            earlier = sum(t.max_loss_value for t in live_open_trades(state, now) if t.opportunity_id == opp.id)
            fits = self.store.reserve_loss(
                state.day_start, opp.id, earlier + answer.max_loss_value, self.limits.max_daily_loss,
                now + self.limits.reservation_ttl, now,
            )
            if fits:
                state = reserve(state, opp, answer.adjusted_size_value, answer.max_loss_value, self.limits, now)
            else:
                answer = msgspec.structs.replace(
                    answer, approved=False, reasons=("shared daily loss budget exhausted (other processes)",)
                )
        self._commit(state, events)
        self._audit("risk_decision", {
            "opportunity": opp.id, "approved": answer.approved, "reasons": list(answer.reasons),
            "size_offered": opp.amount_in_value, "size_approved": answer.adjusted_size_value,
            "max_loss": answer.max_loss_value, "score": answer.score,
        }, trace_id=opp.id)
        metrics.assessed(answer)
        if answer.approved:
            self.log.bind(trace_id=opp.id, span_id=self.ctx.current_span_id).info(
                "approved {}: size {:.2f} of {:.2f} offered (limit {:.2f}), worst case {:.2f}, score {:.2f}",
                opp.id, answer.adjusted_size_value, opp.amount_in_value, answer.max_size_value,
                answer.max_loss_value, answer.score)
        return answer

    def _record(self, outcome: Any) -> RiskEventsRecorded | RequestRefused:
        assert self.store is not None
        now = self.clock()
        try:
            state, events = apply_outcome(self.state, outcome, self.limits, now)
        except InvalidOutcome as exc:
            self.log.error("outcome refused: {}", exc)
            return RequestRefused("RecordOutcome", str(exc))
        if state is self.state:
            return RiskEventsRecorded(events=())  # a duplicate report: already booked
        pnl = outcome.realized_pnl_value
        if not math.isfinite(pnl):  # booked without PnL and the book stopped: say so loudly
            self.log.error("EMERGENCY STOP: {}", state.emergency_stop.reason)
            raise_alert(AlertType.RISK, f"EMERGENCY STOP: {state.emergency_stop.reason}", priority=Priority.CRITICAL,
                        key="emergency-stop", source=self.ctx.path)
            pnl = 0.0
        shared = self.store.settle_loss(state.day_start, outcome.opportunity_id, pnl, now)
        state, shared_events = apply_shared_daily_loss(state, max(0.0, -shared.realized_pnl), self.limits, now)
        events.extend(shared_events)
        for event in events:
            if isinstance(event, LimitHit):
                metrics.limit_hit(event.limit)
                self.log.warning("limit hit: {} {:.4f} >= {:.4f}", event.limit, event.value, event.threshold)
                raise_alert(AlertType.RISK, f"limit hit: {event.limit}", {"value": event.value,
                            "threshold": event.threshold}, priority=Priority.HIGH, key=f"limit:{event.limit}",
                            source=self.ctx.path)
        self._commit(state, events)
        return RiskEventsRecorded(events=tuple(events))

    def _report(self) -> RiskReport:
        now = self.clock()
        state, _ = roll_day(self.state, self.limits, now)
        return msgspec.structs.replace(report(state, self.limits, now), book=self.book_id)

    @property
    def book_id(self) -> str:
        return str(getattr(self.store, "book_id", "")) if self.store is not None else ""

    def _project(self, horizon: int, paths: int, seed: int) -> MonteCarloProjection | RequestRefused:
        if horizon * paths > MAX_PROJECTION_CELLS:
            too_big = f"{paths} paths x {horizon} trades is over {MAX_PROJECTION_CELLS}"
            return RequestRefused("ProjectMonteCarlo", too_big)
        pnls = [r.pnl_value for r in self.state.history if r.status in SETTLED and r.pnl_unrecorded is None]
        try:
            return project(
                pnls, self.state.equity, self.limits.max_drawdown, horizon, paths, seed,
                peak_equity=self.state.peak_equity,
            )
        except ValueError as exc:  # no settled trade yet, a non-positive equity...
            return RequestRefused("ProjectMonteCarlo", str(exc))

    # --- the one place state changes ------------------------------------------------------------

    def _commit(self, state: RiskBookState, events: Sequence[RiskEvent], force: bool = False) -> None:
        """Save, then adopt: the new state becomes visible only once it is durable."""
        if state is self.state and not events and not force:
            return
        assert self.store is not None
        for event in events:  # write-ahead: the record of what happened is durable before its effect
            self._audit(audit_kind(event), event)
        self.store.save(state)
        self.state = state
        now = self.clock()
        self.publish(snapshot(state, self.limits, now))
        metrics.book_changed(state, self.limits, now)

    def _audit(self, kind: str, body: Any, trace_id: str | None = None) -> None:
        assert self.audit is not None
        self.audit.append(kind, body, actor=self.ctx.path, trace_id=trace_id or self.ctx.current_trace_id)

    def status(self) -> dict[str, Any]:
        s = self.state
        return {
            "book": self.book_id,
            "emergency_stop": s.emergency_stop.reason if s.emergency_stop.active else "off",
            "equity": round(s.equity, 2),
            "drawdown": round(s.drawdown, 4),
            "daily_pnl": round(s.pnl_today, 2),
            "open_trades": len(s.open_trades),
            "version": s.version,
        }


def risk_book_kwargs(limits: RiskLimits, store_factory: Callable[[], RiskStore]) -> dict[str, Any]:
    """The ChildSpec kwargs for a RiskBook (the store is opened in on_start, once per incarnation)."""
    return {"limits": limits, "open_store": store_factory}
