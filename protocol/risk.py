"""What the risk book is asked and what it answers: limits, assessments, events, reports.

Valuations are floats in the risk numeraire (USD by default); on-chain amounts stay ints in wei.
The report and the limits encode with the seed's camelCase keys (``rename="camel"``), so the
console, the API and the logs show ``overallRiskScore``, ``maxDailyLoss``... as operators know them.
"""

from __future__ import annotations

import msgspec

from protocol.trading import Opportunity, TradeOutcome

# ---------------------------------------------------------------------------------------------
# Limits and inputs
# ---------------------------------------------------------------------------------------------


class RiskLimits(msgspec.Struct, frozen=True, rename="camel"):
    """The operator's limits. Fractions are of current equity; amounts are in the numeraire.

    The first seven are the seed's limits with its defaults; the rest tune the model and have
    defaults chosen so that nothing but the seed's limits rejects an ordinary arbitrage.

    The three loss stops, side by side (each fires the emergency stop and the cooldown):
    - maxDailyLoss, an amount: realized loss in the daily window reaches it (approvals also keep
      today's loss plus the open worst cases below it).
    - emergencyStopLoss, a fraction ("5% emergency stop trigger"): the portfolio's loss within the
      daily window, net, from the window's starting equity, open trades' worst cases included,
      reaches this fraction of that starting equity; a single trade losing more than this fraction
      of the equity before it fires it too (approvals keep both out of reach).
    - maxDrawdown, a fraction: equity falls this far below its all-time running peak.
    """

    max_daily_loss: float = 1000.0  # numeraire; realized loss today plus in-flight worst cases
    max_trade_amount: float = 1000.0  # numeraire; notional of one trade
    max_position_size: float = 0.1  # fraction of equity, per token (open exposure + this trade)
    max_drawdown: float = 0.2  # fraction below the all-time equity peak -> emergency stop
    emergency_stop_loss: float = 0.05  # daily window's net loss incl. open worst cases (or one trade) -> stop
    max_consecutive_losses: int = 5  # -> emergency stop
    cooldown_period: int = 300_000  # ms; every limit hit starts it
    initial_capital: float = 10_000.0  # numeraire; the equity the curve starts from
    daily_reset_tz: str = "UTC"  # IANA zone whose midnight starts the daily window
    max_risk_score: float = 0.8  # reject above this overall score
    kelly_fraction: float = 0.25  # fraction of the full Kelly bet
    kelly_min_trades: int = 20  # below this many settled trades Kelly does not size
    max_gas_share: float = 0.9  # reject when gas eats this share of the gross profit
    adverse_move: float = 0.005  # share of the notional a trade can lose beyond gas and slippage
    volatility_ceiling: float = 0.05  # per-sample log-return std that scores market risk 1
    impact_ceiling: float = 0.05  # price impact that scores liquidity risk 1
    max_pool_share: float = 0.3  # reject a leg that moves more than this share of a reserve
    history_size: int = 1000  # settled trades kept (Kelly, revert rate, Monte Carlo)
    equity_curve_size: int = 1000  # equity points kept for the report
    reservation_ttl: float = 120.0  # s; an approval without an outcome stops counting after this


class MarketView(msgspec.Struct, frozen=True):
    """Recent market data the strategy hands in with an opportunity.

    prices: per token address, recent prices in the numeraire, oldest first, sampled at the same
    instants for every token (so returns line up for the correlation).
    mev_competition: in [0, 1], how contested these pools are (e.g. the share of recent blocks
    where someone else's arbitrage touched them).
    """

    prices: dict[str, tuple[float, ...]]
    mev_competition: float = 0.0


# ---------------------------------------------------------------------------------------------
# Assessment
# ---------------------------------------------------------------------------------------------


class RiskComponents(msgspec.Struct, frozen=True):
    """Each in [0, 1]; 0 is no risk."""

    portfolio: float
    market: float
    liquidity: float
    execution: float


class RiskAssessment(msgspec.Struct, frozen=True):
    """The answer to one opportunity.

    max_size_value: the largest notional the limits allow right now.
    adjusted_size_value: what to trade (<= max_size_value and <= the opportunity's size);
    adjusted_amount_in is the same in the profit token's wei. max_loss_value is the worst case
    of the adjusted trade (gas + predicted slippage + adverse move), reserved from the daily budget.
    """

    opportunity_id: str
    approved: bool
    reasons: tuple[str, ...]
    score: float
    components: RiskComponents
    max_size_value: float
    adjusted_size_value: float
    adjusted_amount_in: int
    max_loss_value: float
    kelly_size_value: float | None = None
    assessed_at: float = 0.0


# ---------------------------------------------------------------------------------------------
# Events (also the audit trail's rows)
# ---------------------------------------------------------------------------------------------


class LimitHit(msgspec.Struct, frozen=True, tag=True):
    limit: str
    value: float
    threshold: float
    at: float


class CooldownStarted(msgspec.Struct, frozen=True, tag=True):
    until: float
    reason: str
    at: float


class EmergencyStopTriggered(msgspec.Struct, frozen=True, tag=True):
    reason: str
    by: str
    at: float


class EmergencyStopReset(msgspec.Struct, frozen=True, tag=True):
    reason: str
    by: str
    at: float


class DailyRollover(msgspec.Struct, frozen=True, tag=True):
    day_start: float
    previous_day_pnl: float
    at: float


RiskEvent = LimitHit | CooldownStarted | EmergencyStopTriggered | EmergencyStopReset | DailyRollover


class EmergencyStop(msgspec.Struct, frozen=True, rename="camel"):
    active: bool = False
    reason: str | None = None
    since: float | None = None
    by: str | None = None


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


class MonteCarloProjection(msgspec.Struct, frozen=True, rename="camel"):
    """PnL over horizon_trades, bootstrapped with replacement from realized outcomes.

    VaR/CVaR are unclipped, positive for losses (a VaR of 120 means a 5% chance to lose 120 or
    more); a negative VaR means the 5th percentile is a gain (VaR = -p05, CVaR = -mean(PnL <= p05)).
    prob_max_drawdown is the share of paths whose equity fell max_drawdown below its running peak,
    that peak starting at the book's real peak: the probability of reaching the stop's limit.
    """

    paths: int
    horizon_trades: int
    sample_size: int
    seed: int
    expected_pnl: float
    pnl_p05: float
    pnl_p50: float
    pnl_p95: float
    var_95: float
    cvar_95: float
    var_99: float
    cvar_99: float
    prob_max_drawdown: float
    median_max_drawdown: float


class RiskReport(msgspec.Struct, frozen=True, rename="camel"):
    """The seed's get_risk_report(), camelCase on the wire."""

    overall_risk_score: float
    current_drawdown: float
    max_drawdown_limit: float
    emergency_stop: EmergencyStop
    equity: float
    peak_equity: float
    daily_pnl: float
    total_pnl: float
    daily_loss_remaining: float
    consecutive_losses: int
    cooldown_until: float | None
    in_cooldown: bool
    trades_today: int
    total_trades: int
    win_rate: float | None
    revert_rate: float | None
    exposure: dict[str, float]
    positions: dict[str, float]
    open_trades: int
    day_start: float
    limits: RiskLimits
    generated_at: float
    book: str = ""  # which book is loaded: mode:chain id:genesis:account (risk.world.BookWorld.book_id)


class EquityPoint(msgspec.Struct, frozen=True, array_like=True):
    """One point of the equity curve (numeraire): the risk book's state keeps them, its snapshot shows them."""

    at: float
    equity: float


class RiskSnapshot(msgspec.Struct, frozen=True):
    """What the risk book publishes for hot-path readers (no mailbox hop to check the stop)."""

    limits: RiskLimits
    emergency_stop: EmergencyStop
    cooldown_until: float | None
    daily_loss_remaining: float
    equity: float
    version: int
    equity_curve: tuple[EquityPoint, ...] = ()  # the state's own tuple (not copied), oldest first

    def may_trade(self, now: float) -> bool:
        return not self.emergency_stop.active and (self.cooldown_until is None or now >= self.cooldown_until)


# ---------------------------------------------------------------------------------------------
# Messages to the RiskBook actor
# ---------------------------------------------------------------------------------------------


class AssessTrade(msgspec.Struct, frozen=True):
    """-> RiskAssessment. An approval reserves the trade's max loss from the daily budget."""

    opportunity: Opportunity
    market: MarketView


class RecordOutcome(msgspec.Struct, frozen=True):
    """-> RiskEventsRecorded (the events the outcome caused) or RequestRefused."""

    outcome: TradeOutcome


class TriggerEmergencyStop(msgspec.Struct, frozen=True):
    """-> EmergencyStop. Also the critical signal another component sends."""

    reason: str
    by: str


class ResetEmergencyStop(msgspec.Struct, frozen=True):
    """-> EmergencyStop, or RequestRefused without a reason. Only an operator action with a
    stated reason clears the stop."""

    reason: str
    by: str


class GetRiskReport(msgspec.Struct, frozen=True):
    """-> RiskReport."""


class ProjectMonteCarlo(msgspec.Struct, frozen=True):
    """-> MonteCarloProjection."""

    horizon_trades: int = 1000
    paths: int = 10_000
    seed: int = 0


class RiskEventsRecorded(msgspec.Struct, frozen=True):
    events: tuple[RiskEvent, ...]


class RequestRefused(msgspec.Struct, frozen=True):
    """The answer to a request the risk book will not carry out (a reset without a reason, an
    outcome with a non-finite PnL...). An answer, not an exception, so a bad tell never crashes
    the book; the recorded state is unchanged."""

    request: str
    reason: str
