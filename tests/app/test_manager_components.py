"""Phase4Manager with each component disabled in turn, over a real in-process bot on its devnet: the
component is absent from the tree, its API and console commands raise an error naming the flag, the
health check shows it as disabled, and everything else still answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.components import ComponentDisabled
from bot.manager import ManagerNotStarted, Phase4Manager
from console.registry import COMMANDS
from performance import recorder
from performance.recorder import record
from protocol.config import ConfigError, load_config
from protocol.health import DISABLED
from supervision import current_tree, introspect
from supervision.registry import clear
from tests.risk.factories import calm_market, opportunity
from tests.waiting import wait_until

START_S = 60.0


@pytest.fixture
def started(tmp_path: Path) -> Iterator[object]:
    managers: list[Phase4Manager] = []

    def start(**flags: bool) -> Phase4Manager:
        manager = Phase4Manager(load_config({"DATA_DIR": str(tmp_path)}), block_time_s=1.0, **flags)
        managers.append(manager.initialize())
        return manager

    yield start
    for manager in managers:
        manager.shutdown()
    clear()
    assert current_tree() is None


def _paths() -> set[str]:
    return {a.path for a in introspect.snapshot_tree()}


def _console(*argv: str) -> tuple[bool, str]:
    answer = COMMANDS.run(list(argv))
    return answer.ok, str(answer.error or answer.body)


def _health_component(manager: Phase4Manager, name: str) -> object:
    found = manager.perform_health_check().component(name)
    assert found is not None
    return found


def test_without_risk_management_no_book_no_market_and_its_api_names_the_flag(started) -> None:
    manager = started(enable_risk_management=False)
    paths = _paths()
    assert "/risk-book" not in paths and not any(p.startswith("/market") for p in paths)
    assert {"/network/router", "/sampler", "/monitor", "/alerts/router"} <= paths
    for call in (lambda: manager.assess_trade_risk(opportunity(), calm_market()),
                 lambda: manager.trigger_emergency_stop("drill"), lambda: manager.get_risk_report(),
                 lambda: manager.components.risk_manager):
        with pytest.raises(ComponentDisabled, match="enable_risk_management=False"):
            call()
    ok, said = _console("estop", "drill")
    assert not ok and "ENABLE_RISK_MANAGEMENT=false" in said
    risk = _health_component(manager, "riskManager")
    assert risk.status == DISABLED  # type: ignore[attr-defined]
    status = manager.get_system_status()
    assert status["risk"] is None and status["disabledComponents"] == {"risk_manager": "enable_risk_management"}
    # the rest still works: the network routes, the sampler reports
    wait_until(lambda: manager.get_system_status()["routing"], START_S, "a routing table",
               until=lambda r: r is not None and r["routes"])
    assert manager.get_performance_report()["overall"]["health"] in ("healthy", "degraded")


def test_without_alerting_send_alert_raises_and_the_alert_tree_is_absent(started) -> None:
    manager = started(enable_alerting=False)
    assert not any(p.startswith("/alerts") for p in _paths())
    with pytest.raises(ComponentDisabled, match="enable_alerting=False"):
        manager.send_alert("system", {"message": "hello"})
    with pytest.raises(ComponentDisabled, match="alerting is disabled"):
        manager.components.alerting.send_alert("system", {"message": "hello"})
    ok, said = _console("alerts")
    assert not ok and "ENABLE_ALERTING=false" in said
    # the risk book still decides and the stop still works
    assert manager.components.risk_manager.trigger_emergency_stop("drill", by="pytest").active
    assert not manager.components.risk_manager.reset_emergency_stop("drill over", by="pytest").active


def test_without_performance_analysis_no_sampler_and_no_report(started) -> None:
    manager = started(enable_performance_analysis=False)
    assert "/sampler" not in _paths()
    with pytest.raises(ComponentDisabled, match="enable_performance_analysis=False"):
        manager.get_performance_report()
    ok, said = _console("perf")
    assert not ok and "ENABLE_PERFORMANCE_ANALYSIS=false" in said
    health = wait_until(manager.perform_health_check, START_S, "a routable endpoint",
                        until=lambda h: h.routable_endpoints)
    assert health.component("performanceAnalyzer").status == DISABLED  # type: ignore[union-attr]
    assert health.overall != "unhealthy", health.problems
    # nothing samples, yet the measurement buffers every thread writes stay bounded: they are drained
    record("test.measurement", 0.001)
    wait_until(lambda: not recorder._local.buf, 30, "this thread's measurements drained and dropped")


def test_without_monitoring_no_monitor_and_errors_names_the_flag(started) -> None:
    manager = started(enable_monitoring=False)
    assert "/monitor" not in _paths() and "/risk-book" in _paths()
    with pytest.raises(ComponentDisabled, match="enable_monitoring=False"):
        manager.components.monitoring.errors()
    ok, said = _console("errors")
    assert not ok and "ENABLE_MONITORING=false" in said
    ok, said = _console("audit", "verify")  # the audit trail is not the monitor's: it stays
    assert ok, said


def test_without_network_optimization_no_network_no_market_but_the_book_assesses(started) -> None:
    manager = started(enable_network_optimization=False)
    paths = _paths()
    assert not any(p.startswith(("/network", "/market")) for p in paths) and "/risk-book" in paths
    with pytest.raises(ComponentDisabled, match="enable_network_optimization=False"):
        manager.components.network_optimizer.routing_table()
    for command in ("routes", "fault", "clear"):
        ok, said = _console(command, "rpc:primary")
        assert not ok and "ENABLE_NETWORK_OPTIMIZATION=false" in said, (command, said)
    assessment = manager.assess_trade_risk(opportunity(), calm_market())
    assert assessment.approved, assessment.reasons
    assert manager.perform_health_check().component("networkOptimizer").status == DISABLED  # type: ignore[union-attr]


def test_auto_start_starts_in_the_constructor_and_calls_before_start_are_refused(tmp_path: Path) -> None:
    config = load_config({"DATA_DIR": str(tmp_path)})
    idle = Phase4Manager(config)
    with pytest.raises(ManagerNotStarted, match="initialize"):
        idle.get_system_status()
    assert current_tree() is None
    manager = Phase4Manager(config, auto_start=True, block_time_s=1.0, enable_alerting=False,
                            enable_monitoring=False)
    try:
        assert current_tree() is not None and manager.get_system_status()["mode"] == "devnet"
        with pytest.raises(RuntimeError, match="already initialized"):
            manager.initialize()
    finally:
        manager.shutdown()
        clear()


def test_flags_that_would_leave_a_setting_unused_are_refused_at_construction(tmp_path: Path) -> None:
    key = "0x" + "11" * 32
    live = load_config({"DATA_DIR": str(tmp_path), "LIVE_MODE": "true", "PRIVATE_KEY": key})
    with pytest.raises(ConfigError, match="ENABLE_RISK_MANAGEMENT=false but LIVE_MODE=true"):
        Phase4Manager(live, enable_risk_management=False)
    discord = load_config({"DATA_DIR": str(tmp_path), "ENABLE_DISCORD_ALERTS": "true",
                           "DISCORD_WEBHOOK_URL": "https://discord.example/api/webhooks/1/x"})
    with pytest.raises(ConfigError, match="ENABLE_ALERTING=false but ENABLE_DISCORD_ALERTS=true"):
        Phase4Manager(discord, enable_alerting=False)
    with pytest.raises(ConfigError, match="ENABLE_NETWORK_OPTIMIZATION=false but RPC_URL_PRIMARY"):
        load_config({"RPC_URL_PRIMARY": "http://127.0.0.1:1", "ENABLE_NETWORK_OPTIMIZATION": "false"})
    flags = load_config({"ENABLE_MONITORING": "false", "AUTO_START": "true"}).manager
    assert not flags.enable_monitoring and flags.auto_start and flags.enable_alerting
