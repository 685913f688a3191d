"""The operator API (Phase4Manager) over a real in-process bot on its devnet."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.manager import OperatorRequestRefused, Phase4Manager
from protocol.config import load_config
from supervision import current_tree
from supervision.registry import clear
from tests.risk.factories import calm_market, opportunity
from tests.waiting import wait_until


def test_operator_api_status_health_stop_and_reset(tmp_path: Path) -> None:
    manager = Phase4Manager(load_config({"DATA_DIR": str(tmp_path)})).initialize(block_time_s=1.0)
    try:
        # healthy needs one routable endpoint; the other two may still be on their first check
        health = wait_until(manager.perform_health_check, 20, "every endpoint's first health check",
                            until=lambda h: h.healthy and len(h.routable_endpoints) == 3)
        assert health.healthy, health.problems
        assert set(health.routable_endpoints) == {"primary", "secondary", "tertiary"}
        status = manager.get_system_status()
        assert status["mode"] == "devnet" and status["risk"]["emergency_stop"]["active"] is False
        assert {"/network/router", "/risk-book", "/market/executor"} <= {a["path"] for a in status["actors"]}

        stop = manager.trigger_emergency_stop("fire drill", by="pytest")
        assert stop.active and stop.reason == "fire drill"
        assessment = manager.assess_trade_risk(opportunity(), calm_market())
        assert not assessment.approved and any("stop" in r for r in assessment.reasons), assessment.reasons
        health = manager.perform_health_check()
        assert not health.healthy and health.emergency_stop and "emergency stop: fire drill" in health.problems

        with pytest.raises(OperatorRequestRefused, match="reason"):
            manager.reset_emergency_stop("", by="pytest")
        assert manager.get_risk_report().emergency_stop.active, "a refused reset changed nothing"
        assert not manager.reset_emergency_stop("drill over", by="pytest").active
        assert not manager.get_risk_report().emergency_stop.active
    finally:
        manager.shutdown()
        clear()
    assert current_tree() is None
