"""Phase4Manager: the operator API over a running bot (ARCHITECTURE.md's facade).

    manager = Phase4Manager(load_config(), enable_alerting=False)   # keyword flags win over [manager] keys
    manager.initialize()                                            # or auto_start=True: started here
    manager.assess_trade_risk(opportunity)
    manager.components.risk_manager.trigger_emergency_stop("why", by="alice")

It starts the System (devnet or real chain, per config) and answers in protocol types, asking the
actors through stable handles with timeouts: nothing here holds a raw actor reference or can hang.
The seed's enable flags choose the components (bot.components: what depends on what); a disabled
component's API raises ComponentDisabled naming its flag. Before initialize() (and after shutdown())
the API that needs the running tree raises ManagerNotStarted; run_backtest needs no tree.

Return values keep the seed's camelCase keys (get_system_status, get_performance_report, the risk
report); the console and the TOML config speak snake_case.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bot.components import BY_NAME, ComponentDisabled, disabled_components, enabled
from bot.system import System
from performance.report import performance_report
from probes.health import health_check
from protocol.config import Config, ManagerConfig, load_config
from protocol.health import HealthCheck
from protocol.performance import PerfSnapshot
from protocol.risk import (
    AssessTrade,
    EmergencyStop,
    GetRiskReport,
    MarketView,
    ProjectMonteCarlo,
    RequestRefused,
    ResetEmergencyStop,
    RiskAssessment,
    RiskReport,
    TriggerEmergencyStop,
)
from protocol.trading import Opportunity
from supervision import ActorError, Handle, introspect

RISK_BOOK = Handle("/risk-book")
ROUTER = Handle("/network/router")
EXECUTOR = Handle("/market/executor")
SAMPLER = Handle("/sampler")
#: How long an operator call waits for the actor that answers it.
CALL_TIMEOUT_S = 5.0


class OperatorRequestRefused(Exception):
    """The bot refused an operator request (e.g. a reset without a reason); nothing was changed."""


class ManagerNotStarted(RuntimeError):
    """An API that needs the running bot was called before initialize() or after shutdown()."""


class Phase4Manager:
    def __init__(self, config: Config | None = None, *, enable_network_optimization: bool | None = None,
                 enable_risk_management: bool | None = None, enable_monitoring: bool | None = None,
                 enable_alerting: bool | None = None, enable_performance_analysis: bool | None = None,
                 auto_start: bool | None = None, **start: Any) -> None:
        """`config` defaults to load_config() (environment and $ARBITER_CONFIG). Each flag left None takes the
        config's [manager] value (all on, auto_start off, by default). `start`: System.start's keyword
        arguments (block_time_s, seed, anvil_port), used by initialize() and by auto_start."""
        config = config if config is not None else load_config()
        given = {"enable_network_optimization": enable_network_optimization,
                 "enable_risk_management": enable_risk_management, "enable_monitoring": enable_monitoring,
                 "enable_alerting": enable_alerting, "enable_performance_analysis": enable_performance_analysis,
                 "auto_start": auto_start}
        flags = msgspec.structs.replace(config.manager, **{k: v for k, v in given.items() if v is not None})
        self.config = check_flags(msgspec.structs.replace(config, manager=flags))
        self.system: System | None = None
        self.components = Components(self)
        self._start = start
        self._trail: Any = None  # the audit trail this manager opened (when the process had none)
        if flags.auto_start:
            self.initialize()

    @property
    def flags(self) -> ManagerConfig:
        return self.config.manager

    # --- lifecycle -------------------------------------------------------------------------------

    def initialize(self, **start: Any) -> Phase4Manager:
        """Start everything (System.start's keyword arguments override the constructor's); raises
        SystemStartError. Opens the configured audit trail first unless the process already has one (run.py
        opens it). Calling it on a started manager is an error, not a second bot."""
        from bot.app import open_audit_trail
        from persistence import audit_trail

        if self.system is not None:
            raise RuntimeError("Phase4Manager is already initialized; shutdown() first")
        try:
            audit_trail.current()
        except audit_trail.AuditTrailMissing:
            self._trail = open_audit_trail(self.config)
        try:
            self.system = System.start(self.config, **{**self._start, **start})
        except Exception:
            self._close_trail()
            raise
        return self

    def shutdown(self, timeout_s: float = 15.0) -> None:
        if self.system is not None:
            self.system.stop(timeout_s)
            self.system = None
        self._close_trail()

    def _close_trail(self) -> None:
        if self._trail is not None:
            from persistence import audit_trail

            audit_trail.install(None)
            self._trail.close()
            self._trail = None

    def require(self, component: str | None = None) -> None:
        """Raise ComponentDisabled if `component` is off, ManagerNotStarted if the bot is not running."""
        if component is not None and not enabled(self.flags, component):
            raise BY_NAME[component].disabled_error()
        if self.system is None:
            raise ManagerNotStarted("the bot is not running: call initialize() first (or auto_start=True)")

    # --- risk --------------------------------------------------------------------------------------

    def assess_trade_risk(self, opportunity: Opportunity, market: MarketView | None = None) -> RiskAssessment:
        self.require("risk_manager")
        answer = RISK_BOOK.ask(AssessTrade(opportunity, market or MarketView(prices={})), timeout=CALL_TIMEOUT_S)
        return _accepted(answer)

    def get_risk_report(self) -> RiskReport:
        self.require("risk_manager")
        return _accepted(RISK_BOOK.ask(GetRiskReport(), timeout=CALL_TIMEOUT_S))

    def project_monte_carlo(self, horizon_trades: int = 1000, paths: int = 10_000, seed: int = 0) -> Any:
        self.require("risk_manager")
        return _accepted(RISK_BOOK.ask(ProjectMonteCarlo(horizon_trades, paths, seed), timeout=CALL_TIMEOUT_S))

    def trigger_emergency_stop(self, reason: str, by: str = "operator") -> EmergencyStop:
        self.require("risk_manager")
        return _accepted(RISK_BOOK.ask(TriggerEmergencyStop(reason, by), timeout=CALL_TIMEOUT_S))

    def reset_emergency_stop(self, reason: str, by: str = "operator") -> EmergencyStop:
        self.require("risk_manager")
        return _accepted(RISK_BOOK.ask(ResetEmergencyStop(reason, by), timeout=CALL_TIMEOUT_S))

    # --- alerts ----------------------------------------------------------------------------------

    def send_alert(self, type: str, data: dict[str, Any], priority: str = "medium", title: str | None = None,
                   key: str = "") -> None:
        """The seed's send_alert(type, data, priority): a tell to /alerts/router, never blocking the caller.

        `type` is trade, system, risk, performance or network; `priority` low, medium, high or critical
        (anything else raises ValueError before anything is sent)."""
        from actors.alert_sources import raise_alert
        from protocol.alerts import AlertType, Priority

        self.require("alerting")
        kind, level = AlertType(type), Priority(priority)
        raise_alert(kind, title or str(data.get("message") or data.get("title") or f"{kind.value} alert"),
                    {k: v for k, v in data.items() if k not in ("message", "title")}, priority=level,
                    source="operator", key=key)

    # --- backtesting -------------------------------------------------------------------------------

    def run_backtest(self, strategy: Any = None, options: Any = None) -> Any:
        """Replay the live strategy and risk rules on history; returns a BacktestReport (report.summary.totalReturn
        is summary.total_return in the JSON's camelCase, likewise sharpeRatio and maxDrawdown).

        strategy: backtest.engine.StrategyParams or a dict of its camelCase fields; options: BacktestOptions,
        or a dict of its fields and bot.backtesting.BacktestRequest's (synthetic, history, firstBlock, lastBlock,
        syntheticSeed, out). Runs in the caller's thread and needs no running tree, whatever is enabled: the
        replay carries the risk rules (risk/) itself.
        """
        from bot.backtesting import run, settings_from

        params, opts, request = settings_from(strategy, options)
        return run(params, opts, request)

    # --- status ----------------------------------------------------------------------------------

    def get_system_status(self) -> dict[str, Any]:
        """The health status, the live tree, memory, the routing table, the risk book's and the executor's
        published state (None for a component that is disabled or not built). `activeComponents`: the paths
        of the actors running now; `disabledComponents`: the components switched off, with their flags."""
        self.require()
        actors = introspect.snapshot_tree()
        health = self.perform_health_check()
        perf = SAMPLER.snapshot()
        system = perf.system if isinstance(perf, PerfSnapshot) else None
        assert self.system is not None

        def published(handle: Handle) -> Any:
            snap = handle.snapshot()
            return msgspec.to_builtins(snap) if snap is not None else None

        return {
            "mode": "devnet" if self.system.devnet is not None else "chain",
            "healthStatus": {"overall": health.overall,
                             "components": {c.name: msgspec.to_builtins(c) for c in health.components}},
            "activeComponents": [a.path for a in actors if a.state == "running"],
            "disabledComponents": {c.name: c.flag for c in disabled_components(self.flags)},
            "memory": {
                "rssBytes": system.rss_bytes if system else None,
                "targetBytes": int(self.config.targets.memory_usage_target_mb * 1024 * 1024),
                "machinePercent": system.machine_memory_pct if system else None,
            },
            "actors": [msgspec.to_builtins(info) for info in actors],
            "routing": published(ROUTER),
            "risk": published(RISK_BOOK),
            "executor": published(EXECUTOR),
        }

    def perform_health_check(self) -> HealthCheck:
        """Every component healthy, degraded, unhealthy or disabled, with its reasons (performance.health)."""
        self.require()
        return health_check(self.config.targets.memory_usage_target_mb)

    def get_performance_report(self) -> dict[str, Any]:
        """The sampler's figures: grade, SLOs and budgets, stage latencies, system, GC, mailboxes, trends,
        bottlenecks; with the seed's keys (overall.performance.grade, components.networkOptimizer.averageLatency,
        components.riskManager.successRate)."""
        self.require("performance_analyzer")
        perf = SAMPLER.snapshot()
        return performance_report(perf if isinstance(perf, PerfSnapshot) else None, self.perform_health_check())


class RiskManagerComponent:
    """manager.components.risk_manager: the seed's RiskManager calls, over /risk-book."""

    def __init__(self, manager: Phase4Manager) -> None:
        self._m = manager

    def trigger_emergency_stop(self, reason: str, by: str = "operator") -> EmergencyStop:
        return self._m.trigger_emergency_stop(reason, by)

    def reset_emergency_stop(self, reason: str, by: str = "operator") -> EmergencyStop:
        return self._m.reset_emergency_stop(reason, by)

    def assess_trade_risk(self, opportunity: Opportunity, market: MarketView | None = None) -> RiskAssessment:
        return self._m.assess_trade_risk(opportunity, market)

    def get_risk_report(self) -> RiskReport:
        return self._m.get_risk_report()


class NetworkOptimizerComponent:
    """manager.components.network_optimizer: the routing table and each endpoint's published state."""

    def __init__(self, manager: Phase4Manager) -> None:
        self._m = manager

    def routing_table(self) -> Any:
        self._m.require("network_optimizer")
        return ROUTER.snapshot()


class AlertingComponent:
    """manager.components.alerting: send_alert, as on the manager."""

    def __init__(self, manager: Phase4Manager) -> None:
        self._m = manager

    def send_alert(self, type: str, data: dict[str, Any], priority: str = "medium", title: str | None = None,
                   key: str = "") -> None:
        self._m.send_alert(type, data, priority, title, key)


class MonitoringComponent:
    """manager.components.monitoring: the error groups the monitor aggregates."""

    def __init__(self, manager: Phase4Manager) -> None:
        self._m = manager

    def errors(self) -> Any:
        from actors.monitor import MONITOR_PATH, GetErrors

        self._m.require("monitoring")
        return Handle(MONITOR_PATH).ask(GetErrors(None), timeout=CALL_TIMEOUT_S)


class PerformanceAnalyzerComponent:
    """manager.components.performance_analyzer: the sampler's report."""

    def __init__(self, manager: Phase4Manager) -> None:
        self._m = manager

    def get_performance_report(self) -> dict[str, Any]:
        return self._m.get_performance_report()


class Components:
    """manager.components.<name>; reading a disabled one raises ComponentDisabled naming its flag."""

    def __init__(self, manager: Phase4Manager) -> None:
        self._m = manager

    def _get(self, name: str, value: Any) -> Any:
        if not enabled(self._m.flags, name):
            raise BY_NAME[name].disabled_error()
        return value

    @property
    def risk_manager(self) -> RiskManagerComponent:
        return self._get("risk_manager", RiskManagerComponent(self._m))  # type: ignore[no-any-return]

    @property
    def network_optimizer(self) -> NetworkOptimizerComponent:
        return self._get("network_optimizer", NetworkOptimizerComponent(self._m))  # type: ignore[no-any-return]

    @property
    def alerting(self) -> AlertingComponent:
        return self._get("alerting", AlertingComponent(self._m))  # type: ignore[no-any-return]

    @property
    def monitoring(self) -> MonitoringComponent:
        return self._get("monitoring", MonitoringComponent(self._m))  # type: ignore[no-any-return]

    @property
    def performance_analyzer(self) -> PerformanceAnalyzerComponent:
        return self._get("performance_analyzer", PerformanceAnalyzerComponent(self._m))  # type: ignore[no-any-return]


def check_flags(config: Config) -> Config:
    """The [manager] flags' start-time checks (protocol.config's), re-run after keyword flags changed them."""
    from protocol.config import check_components

    check_components(config)
    return config


def _accepted(answer: Any) -> Any:
    if isinstance(answer, RequestRefused):
        raise OperatorRequestRefused(f"{answer.request} refused: {answer.reason}")
    return answer


__all__ = ["ActorError", "ComponentDisabled", "HealthCheck", "ManagerNotStarted", "OperatorRequestRefused",
           "Phase4Manager"]
