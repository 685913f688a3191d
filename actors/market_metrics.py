"""The market branch's Prometheus metrics, all in one place: opportunities and trades.

The strategy counts what its scans find and what it does not hand on; the executor counts what it skips
(by the kind of reason, execution.tally), what the node or relay accepted, each final trade by outcome,
the gas our included transactions paid and the realized PnL net of gas. Amounts on chain are ETH wei;
the same PnL in the risk numeraire is the risk book's (`arbiter_risk_realized_pnl_numeraire`).

Counters start at the bot's start; every label value is created at import, so each series exists from
the first scrape (a rate over a series that appears late misses its first increment).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from execution import tally
from protocol.execution import SubmitMode, TradeRecord, TradeStage
from protocol.trading import Opportunity

#: The strategy's own reasons for not handing an opportunity on (the executor's are execution.tally's).
SHARES_A_POOL = "shares a pool with a better one"
OVER_BLOCK_LIMIT = "over the per-block limit"
EXECUTOR_UNAVAILABLE = "executor unavailable"

FOUND = Counter("arbiter_opportunities_found_total", "Opportunities the strategy's scans found")
SKIPPED = Counter("arbiter_opportunities_skipped_total", "Opportunities not traded, by the kind of reason",
                  ["reason"])
SENT = Counter("arbiter_opportunities_sent_total", "Trades whose transaction the node or relay accepted, by mode",
               ["mode"])
TRADES = Counter("arbiter_trades_total", "Final trades, by outcome (mined, reverted, cancelled, not_included, skipped)",
                 ["outcome"])
GAS_SPENT = Counter("arbiter_trade_gas_spent_wei_total",
                    "Gas our included transactions paid (trades and cancellations), in ETH wei")
PNL = Gauge("arbiter_trade_realized_pnl_wei",
            "Realized PnL of final trades net of gas since the bot started, in ETH wei at detection-time rates")
UNVALUED = Counter("arbiter_trade_pnl_unvalued_total",
                   "Final trades with a profit that has no ETH rate, left out of arbiter_trade_realized_pnl_wei")

for _reason in (SHARES_A_POOL, OVER_BLOCK_LIMIT, EXECUTOR_UNAVAILABLE, *(k for k, _ in tally.SKIP_KINDS), tally.OTHER):
    SKIPPED.labels(_reason)
for _mode in (SubmitMode.PUBLIC, SubmitMode.PRIVATE):
    SENT.labels(_mode.value)
for _outcome in tally.OUTCOMES:
    TRADES.labels(_outcome)


def scanned(found: int, shares_a_pool: int, over_limit: int) -> None:
    """One scan of the strategy: what it found, and what it left out and why."""
    FOUND.inc(found)
    SKIPPED.labels(SHARES_A_POOL).inc(shares_a_pool)
    SKIPPED.labels(OVER_BLOCK_LIMIT).inc(over_limit)


def not_handed(count: int) -> None:
    SKIPPED.labels(EXECUTOR_UNAVAILABLE).inc(count)


def sent(mode: SubmitMode) -> None:
    SENT.labels(mode.value).inc()


def trade_finished(record: TradeRecord, opportunity: Opportunity) -> None:
    """A final trade (once per trade: the pipeline's Finished)."""
    TRADES.labels(tally.outcome(record)).inc()
    if record.stage is TradeStage.SKIPPED:
        SKIPPED.labels(tally.skip_kind(record.reason)).inc()
    if record.gas_cost_wei:
        GAS_SPENT.inc(record.gas_cost_wei)
    pnl = tally.net_pnl_wei(record, opportunity)
    if pnl is None:
        UNVALUED.inc()
    elif pnl:
        PNL.inc(pnl)
