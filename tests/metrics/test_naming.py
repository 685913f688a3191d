"""Every metric the bot exports on a devnet run follows the naming rules of tests/metrics/naming.py."""

from __future__ import annotations

import pytest

from tests.metrics.conftest import RunningBot
from tests.metrics.naming import families, violations

#: One family per component at least: a component whose metrics stopped being exported fails here.
EXPECTED = {
    "arbiter_rpc_requests_total": "counter", "arbiter_rpc_latency_seconds": "histogram",
    "arbiter_rpc_breaker_state": "gauge", "arbiter_risk_equity_numeraire": "gauge", "arbiter_risk_score": "gauge",
    "arbiter_risk_realized_pnl_numeraire": "gauge", "arbiter_opportunities_found_total": "counter",
    "arbiter_opportunities_skipped_total": "counter", "arbiter_opportunities_sent_total": "counter",
    "arbiter_trades_total": "counter", "arbiter_trade_gas_spent_wei_total": "counter",
    "arbiter_trade_realized_pnl_wei": "gauge", "arbiter_actor_restarts_total": "counter",
}


@pytest.mark.anvil
def test_every_exported_metric_follows_the_scheme(running_bot: RunningBot) -> None:
    exported = families(running_bot.scrape())
    ours = {name: kind for name, kind in exported.items() if name.startswith("arbiter_")}
    assert {name: ours.get(name) for name in EXPECTED} == EXPECTED
    # nothing else on the endpoint but ours and the client library's own process/platform/GC families
    foreign = sorted(n for n in exported if n not in ours and not n.startswith(("process_", "python_")))
    assert foreign == []
    wrong = {name: why for name, kind in sorted(ours.items()) if (why := violations(name, kind))}
    assert wrong == {}


@pytest.mark.parametrize(("name", "kind", "wrong"), [
    ("arbiter_rpc_requests_total", "counter", ""),
    ("arbiter_trade_gas_spent_wei_total", "counter", ""),
    ("arbiter_rpc_latency_seconds", "histogram", ""),
    ("arbiter_risk_drawdown_ratio", "gauge", ""),
    ("arbiter_rpc_breaker_state", "gauge", ""),
    ("arbiter_rpc_requests", "counter", "must end in _total"),
    ("arbiter_risk_equity_total", "gauge", "only counters end in _total"),
    ("arbiter_risk_equity", "gauge", "must end in its base unit"),
    ("arbiter_rpc_latency_ms", "histogram", "scaled or currency unit (ms)"),
    ("arbiter_gas_spent_gwei_total", "counter", "scaled or currency unit (gwei)"),
    ("arbiter_cpu_percent", "gauge", "scaled or currency unit (percent)"),
    ("rpc_requests_total", "counter", "arbiter_ prefix"),
    ("arbiter_RPC_requests_total", "counter", "lower snake case"),
    ("arbiter_trades_created", "gauge", "reserved"),
])
def test_the_rules(name: str, kind: str, wrong: str) -> None:
    found = violations(name, kind)
    assert (any(wrong in why for why in found) if wrong else found == []), found


def test_families_reads_type_lines() -> None:
    text = ("# HELP arbiter_trades_total Final trades\n# TYPE arbiter_trades_total counter\n"
            'arbiter_trades_total{outcome="mined"} 2.0\n# TYPE arbiter_risk_score gauge\narbiter_risk_score 0.1\n')
    assert families(text) == {"arbiter_trades_total": "counter", "arbiter_risk_score": "gauge"}
