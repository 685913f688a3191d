"""What each final trade adds to the executor's metrics: its outcome, why it was skipped, its PnL in ETH wei.

Pure: a final TradeRecord (and its opportunity) in, label values and amounts out. The label sets are
small and fixed (Prometheus labels must be): a skip's full reason stays in the record and the log line,
its metric label is the kind of reason below.

    outcome        when
    mined          included and succeeded
    reverted       included and reverted: the gas is lost
    cancelled      our cancellation took the nonce (a public transaction stuck past its deadline)
    not_included   a bundle past its target block: nothing lost
    skipped        never sent; `skip_kind` says why
"""

from __future__ import annotations

import re

from amm.resize import eth_wei_per_token
from execution.ledger import REPLACED_BY_CANCELLATION
from execution.resume import RESTARTED_BEFORE_SENDING
from protocol.execution import Sent, TradeRecord, TradeStage
from protocol.trading import Opportunity

OUTCOMES = ("mined", "reverted", "cancelled", "not_included", "skipped")

#: (kind, pattern) in order: the first pattern found in a skip's reason names its kind. Each pattern
#: matches the text of the rule that skips (execution.pipeline, .sending, .halting, .resume, and the
#: errors of execution.profitability and .transaction); tests/execution/test_pipeline.py checks that
#: every skip the pipeline produces has a kind here.
SKIP_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("emergency stop", r"^emergency stop"),
    ("executor not ready", r"^executor not ready$"),
    ("stale", r"^stale: "),
    ("bundle in flight", r"^a bundle is in flight$"),
    ("no inventory", r"^no inventory of "),
    ("inventory committed", r" inventory committed$"),
    ("gas unpriceable", r"^opportunity \S+ has no ETH -> "),
    ("bad route", r"^opportunity \S+: (a route needs|leg into|route does not return|amount_in )"),
    ("not worth its gas", r"^not worth its gas "),
    ("risk book unavailable", r"^risk book unavailable: "),
    ("risk rejected", r"^risk: "),
    ("simulation failed", r"^simulation failed: "),
    ("simulation reverted", r"^simulation reverted: "),
    ("net-negative", r"^net-negative at the size sent: "),
    ("paper mode", r"^paper mode: "),
    ("wrong chain", r"^refusing to sign for chain id "),
    ("send failed", r"^send failed: "),
    ("nonce resync failed", r"^nonce resync failed: "),
    ("restarted before sending", "^" + re.escape(RESTARTED_BEFORE_SENDING) + "$"),
))
OTHER = "other"


def outcome(record: TradeRecord) -> str:
    """The `outcome` label of a final trade (see the table above)."""
    if not record.stage.final:
        raise ValueError(f"trade {record.opportunity_id} is not final ({record.stage})")
    if record.stage is TradeStage.NOT_INCLUDED and record.reason == REPLACED_BY_CANCELLATION:
        return "cancelled"
    return record.stage.value


def skip_kind(reason: str) -> str:
    """The `reason` label of a skipped trade: the kind of its reason, OTHER if none matches."""
    return next((kind for kind, pattern in SKIP_KINDS if pattern.search(reason)), OTHER)


def net_pnl_wei(record: TradeRecord, opportunity: Opportunity) -> int | None:
    """Realized profit net of gas in ETH wei, the profit valued at the opportunity's detection-time rate
    (the trade line's valuation, execution.trade_log); None when a profit has no ETH rate to be valued at."""
    realized = record.realized_profit or 0
    if realized == 0:
        return -record.gas_cost_wei
    rate = eth_wei_per_token(opportunity)
    if rate is None:
        return None
    return round(realized * rate) - record.gas_cost_wei


def accepted(sent: Sent) -> bool:
    """A trade's own transaction (not a cancellation) the node or relay took."""
    return not sent.cancellation and not isinstance(sent.result, BaseException)
