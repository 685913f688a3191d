"""The risk book's transitions: outcomes, approvals, stops, resets and the daily rollover.

Each function takes a state and returns the next one plus the events it caused; nothing here
reads a clock or touches a disk. The rules, in one table:

| after an outcome with a loss                  | limit hit              | effect                    |
|-----------------------------------------------|------------------------|---------------------------|
| loss > the trade's approved max               | approved_max_loss      | cooldown                  |
| window loss >= emergencyStopLoss * day equity | emergency_stop_loss    | cooldown + emergency stop |
|   or one trade's loss > emergencyStopLoss * equity before it |         |                           |
| daily loss >= maxDailyLoss (an amount)        | max_daily_loss         | cooldown + emergency stop |
| drawdown from peak >= maxDrawdown             | max_drawdown           | cooldown + emergency stop |
| losses in a row >= max                        | max_consecutive_losses | cooldown + emergency stop |

The window loss is the portfolio's loss within the daily window, net, from the window's starting
equity, with the worst cases of the trades still open: day_start_equity - equity + their max
losses (portfolio_window_loss). A late outcome (after its reservation expired) is still judged
against its approved worst case: expired reservations are kept LATE_OUTCOME_WINDOW seconds after
expiry, whatever else happens meanwhile, and no longer count as exposure or budget.

An outcome whose PnL is not a finite number cannot be booked as a loss or a gain; it fails closed:
the trade is recorded with its raw amounts (gas in wei, tx, block) and no PnL, and the emergency
stop fires with that reason (unrecordable_outcome).
A critical signal from another component is trigger_stop(). Only reset_stop() with a stated
reason clears the stop; it also clears the losing streak (else the next loss re-stops at once)
but not the cooldown, and the daily loss still counts against the budget until the day rolls.
"""

from __future__ import annotations

import math

from protocol.risk import (
    CooldownStarted,
    DailyRollover,
    EmergencyStop,
    EmergencyStopReset,
    EmergencyStopTriggered,
    LimitHit,
    RiskEvent,
    RiskLimits,
)
from protocol.trading import Opportunity, TradeOutcome, TradeStatus
from risk.calendar import day_start, next_day_start
from risk.state import EquityPoint, OpenTrade, RiskBookState, TradeRecord, trade_stats

SETTLED = (TradeStatus.MINED, TradeStatus.REVERTED)
LATE_OUTCOME_WINDOW = 86_400.0  # s an expired reservation is kept after expiry to judge a late outcome


class InvalidOutcome(ValueError):
    """An outcome the book refuses to record (a notional that is not a finite amount >= 0); the state
    is left as it was. A non-finite PnL is not refused: it stops trading (see apply_outcome)."""


class ResetWithoutReason(ValueError):
    """reset_stop() needs a non-empty reason and operator."""


def live_open_trades(state: RiskBookState, now: float) -> tuple[OpenTrade, ...]:
    return tuple(t for t in state.open_trades if t.expires_at > now)


def kept_open_trades(state: RiskBookState, now: float) -> tuple[OpenTrade, ...]:
    """Live reservations and expired ones still awaiting a late outcome (LATE_OUTCOME_WINDOW)."""
    return tuple(t for t in state.open_trades if t.expires_at + LATE_OUTCOME_WINDOW > now)


def portfolio_window_loss(state: RiskBookState, now: float) -> float:
    """The daily window's net loss from its starting equity, the open trades' worst cases included."""
    open_worst = sum(t.max_loss_value for t in live_open_trades(state, now))
    return max(0.0, state.day_start_equity - state.equity) + open_worst


def exposure_by_token(state: RiskBookState, now: float) -> dict[str, float]:
    """Open notional per token: every live approved trade counts fully on each token it touches."""
    exposure: dict[str, float] = {}
    for trade in live_open_trades(state, now):
        for token in trade.tokens:
            exposure[token] = exposure.get(token, 0.0) + trade.size_value
    return exposure


def roll_day(state: RiskBookState, limits: RiskLimits, now: float) -> tuple[RiskBookState, list[RiskEvent]]:
    """Start a new daily window when `now` is past the current one (today's PnL and count reset)."""
    if now < next_day_start(state.day_start, limits.daily_reset_tz):
        return state, []
    start = day_start(now, limits.daily_reset_tz)
    event = DailyRollover(day_start=start, previous_day_pnl=state.pnl_today, at=now)
    rolled = _next(
        state,
        day_start=start,
        day_start_equity=state.equity,
        pnl_today=0.0,
        trades_today=0,
        open_trades=kept_open_trades(state, now),
    )
    return rolled, [event]


def reserve(
    state: RiskBookState, opportunity: Opportunity, size_value: float, max_loss_value: float,
    limits: RiskLimits, now: float,
) -> RiskBookState:
    """Record an approved trade as open: its exposure and worst case count until it settles.

    A second approval for an id that is still live adds to it (size and worst case), so assessing
    the same opportunity again can never shrink the exposure the book counts.
    """
    earlier = next(
        (t for t in live_open_trades(state, now) if t.opportunity_id == opportunity.id), None
    )
    tokens = opportunity.tokens
    if earlier is not None:
        size_value += earlier.size_value
        max_loss_value += earlier.max_loss_value
        tokens = tuple(dict.fromkeys((*earlier.tokens, *tokens)))
    trade = OpenTrade(
        opportunity_id=opportunity.id,
        tokens=tokens,
        size_value=size_value,
        max_loss_value=max_loss_value,
        approved_at=now if earlier is None else earlier.approved_at,
        expires_at=now + limits.reservation_ttl,
    )
    kept = tuple(t for t in kept_open_trades(state, now) if t.opportunity_id != opportunity.id)
    return _next(state, open_trades=(*kept, trade))


def apply_outcome(
    state: RiskBookState, outcome: TradeOutcome, limits: RiskLimits, now: float
) -> tuple[RiskBookState, list[RiskEvent]]:
    """Book a trade's outcome and fire the limits it crosses (see the module's table).

    An outcome already in the history is ignored (executors retry reports). Raises InvalidOutcome
    for a notional that is not a finite amount >= 0. A PnL that is not a finite number fails closed
    (see _unrecordable_outcome): the trade is recorded without PnL and the emergency stop fires.
    """
    pnl = outcome.realized_pnl_value
    notional = outcome.amount_in_value
    if not isinstance(notional, (int, float)) or not math.isfinite(notional) or notional < 0:
        raise InvalidOutcome(f"outcome {outcome.opportunity_id}: amount_in_value {notional!r} is invalid")
    if any(r.opportunity_id == outcome.opportunity_id for r in state.history):
        return state, []
    if not isinstance(pnl, (int, float)) or isinstance(pnl, bool) or not math.isfinite(pnl):
        return _unrecordable_outcome(state, outcome, limits, now)

    state, events = roll_day(state, limits, now)
    open_trade = next((t for t in state.open_trades if t.opportunity_id == outcome.opportunity_id), None)
    equity_before = state.equity
    total_pnl = state.total_pnl + pnl
    equity = state.initial_capital + total_pnl
    streak = state.consecutive_losses + 1 if pnl < 0 else 0 if pnl > 0 else state.consecutive_losses
    token = outcome.tokens[0] if outcome.tokens else "unknown"
    positions = dict(state.positions)
    positions[token] = positions.get(token, 0.0) + pnl
    settled = outcome.status in SETTLED
    record = TradeRecord(
        outcome.opportunity_id, outcome.status, pnl, notional, now,
        gas_used=outcome.gas_used, gas_cost_wei=outcome.gas_cost_wei, tx_hash=outcome.tx_hash,
        block_number=outcome.block_number,
    )
    history = (*state.history, record)[-limits.history_size :]
    state = _next(
        state,
        pnl_today=state.pnl_today + pnl,
        total_pnl=total_pnl,
        peak_equity=max(state.peak_equity, equity),
        trades_today=state.trades_today + settled,
        total_trades=state.total_trades + settled,
        consecutive_losses=streak,
        positions=positions,
        open_trades=tuple(t for t in state.open_trades if t.opportunity_id != outcome.opportunity_id),
        history=history,
        stats=trade_stats(history),
        equity_curve=(*state.equity_curve, EquityPoint(now, equity))[-limits.equity_curve_size :],
    )
    if pnl >= 0:
        return state, events

    loss = -pnl
    hits: list[tuple[LimitHit, bool]] = []  # (the hit, does it stop trading)
    if open_trade is not None and loss > open_trade.max_loss_value * (1 + 1e-9):
        hits.append((LimitHit("approved_max_loss", loss, open_trade.max_loss_value, now), False))
    window_loss = portfolio_window_loss(state, now)
    window_limit = limits.emergency_stop_loss * state.day_start_equity
    if loss > limits.emergency_stop_loss * equity_before:
        hits.append((LimitHit("emergency_stop_loss", loss, limits.emergency_stop_loss * equity_before, now), True))
    elif window_loss >= window_limit:
        hits.append((LimitHit("emergency_stop_loss", window_loss, window_limit, now), True))
    if state.daily_loss >= limits.max_daily_loss:
        hits.append((LimitHit("max_daily_loss", state.daily_loss, limits.max_daily_loss, now), True))
    if state.drawdown >= limits.max_drawdown:
        hits.append((LimitHit("max_drawdown", state.drawdown, limits.max_drawdown, now), True))
    if streak >= limits.max_consecutive_losses:
        hits.append((LimitHit("max_consecutive_losses", streak, limits.max_consecutive_losses, now), True))
    state, hit_events = _limits_hit(state, hits, limits, now)
    return state, events + hit_events


def _unrecordable_outcome(
    state: RiskBookState, outcome: TradeOutcome, limits: RiskLimits, now: float
) -> tuple[RiskBookState, list[RiskEvent]]:
    """Fail closed on a PnL that is not a number: record the trade and its raw amounts (gas in wei,
    tx, block) with no PnL (pnl_value 0, pnl_unrecorded set), close its reservation, and stop."""
    pnl = outcome.realized_pnl_value
    state, events = roll_day(state, limits, now)
    record = TradeRecord(
        outcome.opportunity_id, outcome.status, 0.0, float(outcome.amount_in_value), now,
        gas_used=outcome.gas_used, gas_cost_wei=outcome.gas_cost_wei, tx_hash=outcome.tx_hash,
        block_number=outcome.block_number, pnl_unrecorded=repr(pnl),
    )
    history = (*state.history, record)[-limits.history_size :]
    settled = outcome.status in SETTLED
    state = _next(
        state,
        trades_today=state.trades_today + settled,
        total_trades=state.total_trades + settled,
        open_trades=tuple(t for t in state.open_trades if t.opportunity_id != outcome.opportunity_id),
        history=history,
        stats=trade_stats(history),
    )
    hit = LimitHit("unrecordable_outcome", 0.0, 0.0, now)  # the value is not a number: the reason names it
    reason = (
        f"unrecordable outcome {outcome.opportunity_id}: realized_pnl_value {pnl!r} is not a finite number "
        f"(gas {outcome.gas_cost_wei} wei, tx {outcome.tx_hash})"
    )
    state, stop_events = trigger_stop(state, reason, "risk-book", now)
    until = now + limits.cooldown_period / 1000.0
    if state.cooldown_until is None or until > state.cooldown_until:
        state = _next(state, cooldown_until=until)
    cooldown = CooldownStarted(until=state.cooldown_until or until, reason=hit.limit, at=now)
    return state, [*events, hit, *stop_events, cooldown]


def apply_shared_daily_loss(
    state: RiskBookState, shared_loss: float, limits: RiskLimits, now: float
) -> tuple[RiskBookState, list[RiskEvent]]:
    """Several processes share one daily budget: their loss together reaching maxDailyLoss stops
    this book too (as its own daily loss would), and starts the cooldown."""
    if shared_loss < limits.max_daily_loss or state.emergency_stop.active:
        return state, []
    hit = LimitHit("shared_max_daily_loss", shared_loss, limits.max_daily_loss, now)
    return _limits_hit(state, [(hit, True)], limits, now)


def _limits_hit(
    state: RiskBookState, hits: list[tuple[LimitHit, bool]], limits: RiskLimits, now: float
) -> tuple[RiskBookState, list[RiskEvent]]:
    """Record the hits, stop for those that stop trading, and start (or extend) the cooldown."""
    events: list[RiskEvent] = []
    for hit, stops in hits:
        events.append(hit)
        if stops:
            state, stop_events = trigger_stop(state, f"limit hit: {hit.limit}", "risk-book", now)
            events.extend(stop_events)
    if hits:
        until = now + limits.cooldown_period / 1000.0
        if state.cooldown_until is None or until > state.cooldown_until:
            state = _next(state, cooldown_until=until)
        events.append(CooldownStarted(until=state.cooldown_until or until, reason=hits[0][0].limit, at=now))
    return state, events


def trigger_stop(state: RiskBookState, reason: str, by: str, now: float) -> tuple[RiskBookState, list[RiskEvent]]:
    """Stop all trading. A stop already active keeps its first reason (the root cause)."""
    if state.emergency_stop.active:
        return state, []
    stop = EmergencyStop(active=True, reason=reason or "unspecified", since=now, by=by or "unknown")
    event = EmergencyStopTriggered(reason=stop.reason or "", by=stop.by or "", at=now)
    return _next(state, emergency_stop=stop), [event]


def reset_stop(state: RiskBookState, reason: str, by: str, now: float) -> tuple[RiskBookState, list[RiskEvent]]:
    """The operator clears the stop, stating why. A reset while not stopped changes nothing."""
    if not isinstance(reason, str) or not reason.strip():
        raise ResetWithoutReason("resetting the emergency stop needs a reason")
    if not isinstance(by, str) or not by.strip():
        raise ResetWithoutReason("resetting the emergency stop needs the operator's name")
    if not state.emergency_stop.active:
        return state, []
    reset = _next(state, emergency_stop=EmergencyStop(), consecutive_losses=0)
    return reset, [EmergencyStopReset(reason=reason.strip(), by=by.strip(), at=now)]


def _next(state: RiskBookState, **changes: object) -> RiskBookState:
    from msgspec import structs

    return structs.replace(state, version=state.version + 1, **changes)
