"""assess(): may this opportunity trade, how risky is it, and how much of it.

Pure: data in, a RiskAssessment out. Every input is guarded; whatever is wrong with an
opportunity, a market view or the limits comes back as a rejection with a reason, never as an
exception (the last `except` turns a bug into a rejection that names it).
"""

from __future__ import annotations

import math

from loguru import logger

from amm.resize import at_size
from protocol.risk import MarketView, RiskAssessment, RiskComponents, RiskLimits
from protocol.trading import Opportunity
from risk.book import exposure_by_token, live_open_trades, roll_day
from risk.calendar import zone_problem
from risk.liquidity import UINT112_MAX, LiquidityError, check_leg, liquidity_risk
from risk.market import MarketDataError, market_risk
from risk.state import RiskBookState, TradeStats

# Equal weights: no component is known to dominate the losses of an atomic arbitrage, and equal
# weights keep the score explainable from the four numbers shown next to it.
WEIGHTS = RiskComponents(portfolio=0.25, market=0.25, liquidity=0.25, execution=0.25)
# Revert-rate prior: one revert in ten sends (Beta(1, 9)), so a new book neither assumes
# perfection nor a coin flip.
REVERT_PRIOR_REVERTS, REVERT_PRIOR_SENDS = 1.0, 10.0
RATIO_SCALE = 10**9  # sizing ratio applied to integer wei amounts with this precision
NO_RISK = RiskComponents(0.0, 0.0, 0.0, 0.0)
FULL_RISK = RiskComponents(1.0, 1.0, 1.0, 1.0)


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def limits_problems(limits: RiskLimits) -> list[str]:
    """What is wrong with a set of limits (empty when usable)."""
    problems = []
    for name in ("max_daily_loss", "max_trade_amount", "initial_capital"):
        v = getattr(limits, name)
        if not _finite(v) or v <= 0:
            problems.append(f"limit {name}={v!r} must be a positive finite amount")
    for name in ("max_position_size", "max_drawdown", "emergency_stop_loss", "max_risk_score", "kelly_fraction",
                 "max_gas_share", "max_pool_share"):
        v = getattr(limits, name)
        if not _finite(v) or not 0 < v <= 1:
            problems.append(f"limit {name}={v!r} must be a fraction in (0, 1]")
    for name in ("adverse_move", "volatility_ceiling", "impact_ceiling", "reservation_ttl"):
        v = getattr(limits, name)
        if not _finite(v) or v < 0:
            problems.append(f"limit {name}={v!r} must be a finite number >= 0")
    for name in ("kelly_min_trades", "history_size", "equity_curve_size"):
        v = getattr(limits, name)
        if not _int(v) or v < 1:
            problems.append(f"limit {name}={v!r} must be an integer >= 1")
    if not _int(limits.max_consecutive_losses) or limits.max_consecutive_losses < 1:
        problems.append(f"limit max_consecutive_losses={limits.max_consecutive_losses!r} must be >= 1")
    if not _int(limits.cooldown_period) or limits.cooldown_period < 0:
        problems.append(f"limit cooldown_period={limits.cooldown_period!r} must be >= 0 ms")
    problem = zone_problem(limits.daily_reset_tz)
    if problem:
        problems.append(f"limit daily_reset_tz: {problem}")
    return problems


def opportunity_problems(opp: Opportunity) -> list[str]:
    """What makes an opportunity unassessable: non-finite, negative or overflowing amounts, a broken route."""
    problems = []
    for name in ("amount_in_value", "gross_profit_value", "gas_cost_value", "detected_at"):
        v = getattr(opp, name)
        if not _finite(v):
            problems.append(f"{name}={v!r} is not a finite number")
        elif name != "gross_profit_value" and v < 0:
            problems.append(f"{name}={v!r} is negative")
    if _finite(opp.amount_in_value) and opp.amount_in_value <= 0:
        problems.append("amount_in_value must be positive")
    for name in ("amount_in", "gross_profit", "gas_estimate", "gas_price_wei", "gas_cost_wei", "block_number"):
        v = getattr(opp, name)
        if not _int(v):
            problems.append(f"{name}={v!r} is not an integer")
        elif v < 0:
            problems.append(f"{name}={v} is negative")
        elif v > UINT112_MAX and name != "gas_cost_wei":
            problems.append(f"{name} overflows uint112")
    if _int(opp.amount_in) and opp.amount_in == 0:
        problems.append("amount_in is zero")
    if not opp.route:
        problems.append("route is empty")
        return problems
    for i, leg in enumerate(opp.route):
        try:
            check_leg(i, leg)
        except LiquidityError as exc:
            problems.append(str(exc))
    if opp.route[0].token_in != opp.token or opp.route[-1].token_out != opp.token:
        problems.append(f"route does not start and end in the profit token {opp.token}")
    for i, (a, b) in enumerate(zip(opp.route, opp.route[1:])):
        if a.token_out != b.token_in:
            problems.append(f"leg {i} ends in {a.token_out} but leg {i + 1} starts from {b.token_in}")
    return problems


def revert_probability(stats: TradeStats) -> float:
    return (stats.reverts + REVERT_PRIOR_REVERTS) / (stats.sent + REVERT_PRIOR_SENDS)


def kelly_fraction(stats: TradeStats, min_trades: int) -> tuple[float, int] | None:
    """Full Kelly f* = p - (1 - p) / b from the settled (mined or reverted) trades of the history.

    p = wins / settled, a win being a trade with a positive PnL: reverts and zero-profit trades
    count as losses. b = mean win / mean loss, the mean loss taken over every non-winning trade
    (zero-profit ones included). No non-winning trade gives f* = 1; non-winning trades that lost
    nothing give b = inf, so f* = p. None below min_trades (no measured edge yet).
    """
    n = stats.sent
    if n < max(1, min_trades):
        return None
    p = stats.wins / n
    not_won = n - stats.wins
    if not not_won:
        return 1.0, n
    if not stats.wins:
        return -1.0, n
    if stats.loss_sum <= 0:
        return p, n
    b = (stats.win_sum / stats.wins) / (stats.loss_sum / not_won)
    return p - (1.0 - p) / b, n


def _clamp(x: float) -> float:
    return 0.0 if x <= 0 else 1.0 if x >= 1 else x


def _rejected(
    opp_id: str, reasons: list[str], now: float, components: RiskComponents = FULL_RISK, score: float = 1.0
) -> RiskAssessment:
    return RiskAssessment(
        opportunity_id=opp_id if isinstance(opp_id, str) else repr(opp_id),
        approved=False,
        reasons=tuple(reasons),
        score=score,
        components=components,
        max_size_value=0.0,
        adjusted_size_value=0.0,
        adjusted_amount_in=0,
        max_loss_value=0.0,
        assessed_at=now if _finite(now) else 0.0,
    )


def _sized_gas_problems(sized: Opportunity, limits: RiskLimits) -> list[str]:
    """The gas rules judged at the size approved, not the size found: a trade sized down earns less, and
    pays the same gas (issue 13: trades sized 5-9x smaller all lost money after gas)."""
    gross, gas = sized.gross_profit_value, sized.gas_cost_value
    if gross <= gas:
        return [f"at the size the limits allow ({sized.amount_in_value:.2f}) the gross profit {gross:.4f} "
                f"does not cover gas {gas:.4f}"]
    if gas / gross >= limits.max_gas_share:
        return [f"at the size the limits allow ({sized.amount_in_value:.2f}) gas takes {gas / gross:.0%} of the "
                f"gross profit (limit {limits.max_gas_share:.0%})"]
    return []


def assess(
    state: RiskBookState, opportunity: Opportunity, market: MarketView, limits: RiskLimits, now: float
) -> RiskAssessment:
    """Approve or reject `opportunity` at `now`, with a score, its components and the sizes.

    Sizing: adjusted = min(opportunity size, max size, max size * (1 - score), the Kelly size,
    what the daily loss budget and the emergency-stop loss leave room for). max size =
    min(maxTradeAmount, maxPositionSize * equity - the largest open exposure on a route token).

    The worst case of a trade of notional s is max_loss(s) = gas + (predicted slippage +
    adverseMove) * s: an atomic arbitrage risks that, not its notional. Kelly sizes the capital
    at risk: max_loss(s) <= kellyFraction * max(0, f*) * equity, with f* from kelly_fraction()
    (inputs: the settled trades' win probability, reverts and zero-profit trades counted as
    losses, and their mean win / mean loss), so the Kelly size is
    (kellyFraction * f* * equity - gas) / (slippage + adverseMove); always capped by the limits.
    Loss room: the daily budget (maxDailyLoss - today's loss - open worst cases) and one trade's
    emergencyStopLoss * equity. (The daily window's portfolio loss reaching emergencyStopLoss is
    judged after each outcome, open worst cases included, and stops trading: risk.book.)
    """
    try:
        return _assess(state, opportunity, market, limits, now)
    except Exception as exc:  # the guard of last resort: a bug is a rejection, never a crash, and it is logged
        opp_id = getattr(opportunity, "id", "?")
        logger.opt(exception=exc).error("risk assessment of {} failed, so rejected: {}", opp_id, exc)
        return _rejected(opp_id, [f"assessment failed: {type(exc).__name__}: {exc}"], now)


def _assess(
    state: RiskBookState, opp: Opportunity, market: MarketView, limits: RiskLimits, now: float
) -> RiskAssessment:
    if not _finite(now):
        return _rejected(opp.id, [f"clock reading {now!r} is not finite"], 0.0)
    problems = limits_problems(limits) + opportunity_problems(opp)
    if not _finite(market.mev_competition) or not 0 <= market.mev_competition <= 1:
        problems.append(f"mev_competition={market.mev_competition!r} must be in [0, 1]")
    if problems:
        return _rejected(opp.id, problems, now)

    state, _ = roll_day(state, limits, now)
    reasons: list[str] = []
    if state.emergency_stop.active:
        reasons.append(f"emergency stop active: {state.emergency_stop.reason}")
    if state.cooldown_until is not None and now < state.cooldown_until:
        reasons.append(f"cooling down for {state.cooldown_until - now:.1f} s after a limit hit")

    equity = state.equity
    if equity <= 0:
        return _rejected(opp.id, [*reasons, f"equity {equity:.2f} is exhausted"], now)
    size = float(opp.amount_in_value)
    tokens = opp.tokens
    position_cap = limits.max_position_size * equity
    exposure = exposure_by_token(state, now)
    held = max((exposure.get(t, 0.0) for t in tokens), default=0.0)
    max_size = max(0.0, min(limits.max_trade_amount, position_cap - held))
    if max_size <= 0:
        reasons.append(f"position limit reached: {held:.2f} open on a route token, cap {position_cap:.2f}")

    # --- the four components -------------------------------------------------------------
    share = size / position_cap
    concentration = (held + size) / position_cap
    portfolio = _clamp(0.5 * share + 0.5 * concentration)
    try:
        market_score, _vol, _corr = market_risk(tokens, market.prices, limits.volatility_ceiling)
    except MarketDataError as exc:
        return _rejected(opp.id, [*reasons, str(exc)], now)
    liquidity, _impact, slippage, pool_share = liquidity_risk(opp.route, opp.amount_in, limits.impact_ceiling)
    if pool_share > limits.max_pool_share:
        reasons.append(f"trade takes {pool_share:.0%} of a pool's reserve (limit {limits.max_pool_share:.0%})")
    if opp.gross_profit_value <= 0:
        reasons.append(f"no gross profit ({opp.gross_profit_value:.4f})")
        gas_share = 1.0
    else:
        gas_share = opp.gas_cost_value / opp.gross_profit_value
        if gas_share >= limits.max_gas_share:
            reasons.append(f"gas takes {gas_share:.0%} of the gross profit (limit {limits.max_gas_share:.0%})")
    execution = _clamp(
        0.4 * _clamp(gas_share) + 0.4 * revert_probability(state.stats) + 0.2 * market.mev_competition
    )
    components = RiskComponents(portfolio, market_score, liquidity, execution)
    score = _clamp(
        WEIGHTS.portfolio * portfolio
        + WEIGHTS.market * market_score
        + WEIGHTS.liquidity * liquidity
        + WEIGHTS.execution * execution
    )
    if score > limits.max_risk_score:
        reasons.append(f"risk score {score:.2f} above {limits.max_risk_score:.2f}")

    # --- sizing ------------------------------------------------------------------------------
    adjusted = min(size, max_size, max_size * (1.0 - score))
    # The worst case grows with size: gas (fixed) + (slippage + adverse move) * notional.
    per_unit = slippage + limits.adverse_move
    kelly_size = None
    kelly = kelly_fraction(state.stats, limits.kelly_min_trades)
    if kelly is not None:
        f_star, n = kelly
        at_risk = limits.kelly_fraction * max(0.0, f_star) * equity  # capital Kelly lets this trade risk
        if f_star <= 0:
            reasons.append(f"no measured edge: Kelly fraction {f_star:.2f} over {n} trades")
        elif opp.gas_cost_value >= at_risk:
            reasons.append(f"no measured edge for this gas: Kelly risks {at_risk:.2f}, gas {opp.gas_cost_value:.2f}")
        kelly_size = max(0.0, at_risk - opp.gas_cost_value) / per_unit if per_unit > 0 else max_size
        adjusted = min(adjusted, kelly_size)
    open_worst = sum(t.max_loss_value for t in live_open_trades(state, now))
    budget = limits.max_daily_loss - state.daily_loss - open_worst
    stop_loss = limits.emergency_stop_loss * equity  # one trade must not be able to lose this much
    loss_room = min(budget, stop_loss)
    if opp.gas_cost_value >= stop_loss:
        reasons.append(f"gas alone ({opp.gas_cost_value:.2f}) reaches the single-trade stop loss {stop_loss:.2f}")
    elif opp.gas_cost_value >= budget:
        reasons.append(f"daily loss budget exhausted: gas {opp.gas_cost_value:.2f} > room {max(budget, 0):.2f}")
    elif per_unit > 0:
        adjusted = min(adjusted, (loss_room - opp.gas_cost_value) / per_unit)
    adjusted = max(0.0, adjusted)
    ratio = min(1.0, adjusted / size)
    amount = opp.amount_in if ratio >= 1.0 else opp.amount_in * round(ratio * RATIO_SCALE) // RATIO_SCALE
    if not reasons and amount <= 0:
        reasons.append("adjusted size rounds to nothing")
    elif not reasons and amount < opp.amount_in:
        reasons += _sized_gas_problems(at_size(opp, amount), limits)
    max_loss = opp.gas_cost_value + adjusted * per_unit
    if reasons:
        return _rejected(opp.id, reasons, now, components, score)
    return RiskAssessment(
        opportunity_id=opp.id,
        approved=True,
        reasons=(),
        score=score,
        components=components,
        max_size_value=max_size,
        adjusted_size_value=adjusted,
        adjusted_amount_in=amount,
        max_loss_value=max_loss,
        kelly_size_value=kelly_size,
        assessed_at=now,
    )
