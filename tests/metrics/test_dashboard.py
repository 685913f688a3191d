"""The Grafana dashboard in the repo (deploy/grafana/arbiter-dashboard.json) queries only series the bot exports.

Its PromQL is also run through the real Prometheus server in test_prometheus.py, so a query that does
not parse fails there.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.app.conftest import REPO
from tests.metrics.conftest import RunningBot
from tests.metrics.naming import families

DASHBOARD = REPO / "deploy" / "grafana" / "arbiter-dashboard.json"
_NAME = re.compile(r"\barbiter_[a-z0-9_]+")
_SERIES_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel."""
    board = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", ())]


def family_of(series: str, exported: dict[str, str]) -> str:
    """A histogram's `_bucket` / `_sum` / `_count` series belong to its family."""
    base = _SERIES_SUFFIX.sub("", series)
    return base if base != series and exported.get(base) == "histogram" else series


def test_every_panel_queries_something() -> None:
    board = json.loads(DASHBOARD.read_text())
    charts = [p for p in board["panels"] if p["type"] != "row"]
    assert charts and all(p.get("targets") for p in charts)
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"]), "panel ids are unique"


@pytest.mark.anvil
def test_every_series_the_dashboard_queries_is_exported(running_bot: RunningBot) -> None:
    exported = families(running_bot.scrape())
    used = {(title, family_of(name, exported)) for title, expr in dashboard_queries() for name in _NAME.findall(expr)}
    missing = sorted((title, name) for title, name in used if name not in exported)
    assert missing == [], f"the dashboard queries series the bot does not export: {missing}"
    # the areas the issue names are all on it
    names = {name for _, name in used}
    for needed in ("arbiter_rpc_latency_seconds", "arbiter_rpc_breaker_state", "arbiter_opportunities_found_total",
                   "arbiter_trades_total", "arbiter_trade_realized_pnl_wei", "arbiter_risk_drawdown_ratio",
                   "arbiter_risk_score", "arbiter_slo_error_budget_remaining_ratio", "arbiter_actor_mailbox_depth",
                   "arbiter_process_cpu_ratio", "arbiter_process_resident_memory_bytes", "arbiter_gc_pause_seconds"):
        assert needed in names, needed
