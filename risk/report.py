"""report(): the seed's get_risk_report(), from a state and the limits."""

from __future__ import annotations

from protocol.risk import RiskLimits, RiskReport, RiskSnapshot
from risk.book import exposure_by_token, live_open_trades
from risk.state import RiskBookState


def daily_loss_remaining(state: RiskBookState, limits: RiskLimits, now: float) -> float:
    reserved = sum(t.max_loss_value for t in live_open_trades(state, now))
    return max(0.0, limits.max_daily_loss - state.daily_loss - reserved)


def overall_risk_score(state: RiskBookState, limits: RiskLimits, now: float) -> float:
    """How close the book is to its nearest limit, in [0, 1]; 1 when stopped.

    The largest of: drawdown / maxDrawdown, daily loss / maxDailyLoss, losing streak /
    maxConsecutiveLosses, largest open exposure / (maxPositionSize * equity).
    """
    if state.emergency_stop.active:
        return 1.0
    equity = state.equity
    if equity <= 0:
        return 1.0
    exposure = max(exposure_by_token(state, now).values(), default=0.0)
    use = max(
        state.drawdown / limits.max_drawdown,
        state.daily_loss / limits.max_daily_loss,
        state.consecutive_losses / limits.max_consecutive_losses,
        exposure / (limits.max_position_size * equity),
    )
    return min(1.0, max(0.0, use))


def report(state: RiskBookState, limits: RiskLimits, now: float) -> RiskReport:
    stats = state.stats
    return RiskReport(
        overall_risk_score=overall_risk_score(state, limits, now),
        current_drawdown=state.drawdown,
        max_drawdown_limit=limits.max_drawdown,
        emergency_stop=state.emergency_stop,
        equity=state.equity,
        peak_equity=state.peak_equity,
        daily_pnl=state.pnl_today,
        total_pnl=state.total_pnl,
        daily_loss_remaining=daily_loss_remaining(state, limits, now),
        consecutive_losses=state.consecutive_losses,
        cooldown_until=state.cooldown_until,
        in_cooldown=state.cooldown_until is not None and now < state.cooldown_until,
        trades_today=state.trades_today,
        total_trades=state.total_trades,
        win_rate=stats.wins / stats.sent if stats.sent else None,
        revert_rate=stats.reverts / stats.sent if stats.sent else None,
        exposure=exposure_by_token(state, now),
        positions=dict(state.positions),
        open_trades=len(live_open_trades(state, now)),
        day_start=state.day_start,
        limits=limits,
        generated_at=now,
    )


def snapshot(state: RiskBookState, limits: RiskLimits, now: float) -> RiskSnapshot:
    """The immutable view hot-path readers check without a mailbox hop."""
    return RiskSnapshot(
        limits=limits,
        emergency_stop=state.emergency_stop,
        cooldown_until=state.cooldown_until,
        daily_loss_remaining=daily_loss_remaining(state, limits, now),
        equity=state.equity,
        version=state.version,
        equity_curve=state.equity_curve,
    )
