"""The risk book's Prometheus metrics, all in one place; the RiskBook actor feeds them.

Valuations are in the risk numeraire (USD by default, the `NUMERAIRE_TOKEN` on a real chain), so their
names end in `_numeraire`; fractions of equity end in `_ratio`. Every gauge is set from the book's
state after each change (`book_changed`), so what a scrape shows is what the book last saved.
"""

from __future__ import annotations

import math

from prometheus_client import Counter, Gauge, Histogram

from protocol.risk import RiskAssessment, RiskLimits
from risk.report import overall_risk_score
from risk.state import RiskBookState

EQUITY = Gauge("arbiter_risk_equity_numeraire", "Equity, in the risk numeraire")
DRAWDOWN = Gauge("arbiter_risk_drawdown_ratio", "Fraction of equity below its all-time peak")
DAILY_PNL = Gauge("arbiter_risk_daily_pnl_numeraire",
                  "Realized PnL net of gas in the current daily window, in the risk numeraire")
REALIZED_PNL = Gauge("arbiter_risk_realized_pnl_numeraire",
                     "Realized PnL net of gas since the book was created, in the risk numeraire")
STOP_ACTIVE = Gauge("arbiter_risk_emergency_stop_active", "1 while the emergency stop is active, else 0")
SCORE = Gauge("arbiter_risk_score", "How close the book is to its nearest limit, 0 to 1 (1 when stopped)")
TRADE_SCORE = Histogram("arbiter_risk_trade_score", "Risk score of each assessed trade, 0 to 1",
                        buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
ASSESSMENTS = Counter("arbiter_risk_assessments_total", "Trade assessments by result and reason",
                      ["result", "reason"])
LIMIT_HITS = Counter("arbiter_risk_limit_hits_total", "Limits hit, by limit", ["limit"])

# Rejection reasons start with one of these phrases; the metric label is the phrase (bounded
# cardinality), the full reason stays in the assessment and the logs.
REASON_KINDS = (
    "emergency stop active",
    "cooling down",
    "position limit reached",
    "shared daily loss budget exhausted",
    "daily loss budget exhausted",
    "risk score",
    "gas takes",
    "gas alone",
    "no gross profit",
    "no measured edge",
    "trade takes",
    "token",
    "equity",
    "assessment failed",
    "adjusted size rounds to nothing",
)


def reason_kind(reason: str) -> str:
    return next((kind for kind in REASON_KINDS if reason.startswith(kind)), "invalid input")


def assessed(answer: RiskAssessment) -> None:
    """One answer of the book: its result, each rejection reason's kind, its score."""
    for reason in answer.reasons:
        ASSESSMENTS.labels("rejected", reason_kind(reason)).inc()
    if answer.approved:
        ASSESSMENTS.labels("approved", "").inc()
    if math.isfinite(answer.score):
        TRADE_SCORE.observe(answer.score)


def limit_hit(limit: str) -> None:
    LIMIT_HITS.labels(limit).inc()


def book_changed(state: RiskBookState, limits: RiskLimits, now: float) -> None:
    """The gauges, from the state just saved (and from the clock: open trades' reservations expire)."""
    EQUITY.set(state.equity)
    DRAWDOWN.set(state.drawdown)
    DAILY_PNL.set(state.pnl_today)
    REALIZED_PNL.set(state.total_pnl)
    STOP_ACTIVE.set(1 if state.emergency_stop.active else 0)
    SCORE.set(overall_risk_score(state, limits, now))
