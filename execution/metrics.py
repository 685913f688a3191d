"""The executor's Prometheus metrics (exported by the process's metrics server, rpc.metrics).

prometheus_client appends `_total` to a counter's name: `arbiter_trade_reverts` is scraped as
`arbiter_trade_reverts_total{cause}`, one series per execution.revert_cause cause (a bounded set).
"""

from __future__ import annotations

from prometheus_client import Counter

from protocol.execution import RevertCause

TRADE_REVERTS = Counter("arbiter_trade_reverts", "Trades reverted on chain, by cause (execution.revert_cause)",
                        ["cause"])
for _cause in RevertCause:  # every cause is scraped from the start, at 0, so a rate() over it is defined
    TRADE_REVERTS.labels(cause=_cause.value)
