"""Phase4Manager: the operator API over a running bot (ARCHITECTURE.md's facade).

It starts the System (devnet or real chain, per config) and answers in protocol types, asking the
actors through stable handles with timeouts: nothing here holds a raw actor reference or can hang.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bot.system import System
from performance.report import performance_report
from probes.health import health_check
from protocol.config import Config
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


class Phase4Manager:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.system: System | None = None
        self._trail: Any = None  # the audit trail this manager opened (when the process had none)

    # --- lifecycle -------------------------------------------------------------------------------

    def initialize(self, **start: Any) -> Phase4Manager:
        """Start everything (see System.start for the keyword arguments); raises SystemStartError.
        Opens the configured audit trail first unless the process already has one (run.py opens it)."""
        from bot.app import open_audit_trail
        from persistence import audit_trail

        try:
            audit_trail.current()
        except audit_trail.AuditTrailMissing:
            self._trail = open_audit_trail(self.config)
        self.system = System.start(self.config, **start)
        return self

    def shutdown(self, timeout_s: float = 15.0) -> None:
        if self.system is not None:
            self.system.stop(timeout_s)
            self.system = None
        if self._trail is not None:
            from persistence import audit_trail

            audit_trail.install(None)
            self._trail.close()
            self._trail = None

    # --- risk --------------------------------------------------------------------------------------

    def assess_trade_risk(self, opportunity: Opportunity, market: MarketView | None = None) -> RiskAssessment:
        answer = RISK_BOOK.ask(AssessTrade(opportunity, market or MarketView(prices={})), timeout=CALL_TIMEOUT_S)
        return _accepted(answer)

    def get_risk_report(self) -> RiskReport:
        return _accepted(RISK_BOOK.ask(GetRiskReport(), timeout=CALL_TIMEOUT_S))

    def project_monte_carlo(self, horizon_trades: int = 1000, paths: int = 10_000, seed: int = 0) -> Any:
        return _accepted(RISK_BOOK.ask(ProjectMonteCarlo(horizon_trades, paths, seed), timeout=CALL_TIMEOUT_S))

    def trigger_emergency_stop(self, reason: str, by: str = "operator") -> EmergencyStop:
        return _accepted(RISK_BOOK.ask(TriggerEmergencyStop(reason, by), timeout=CALL_TIMEOUT_S))

    def reset_emergency_stop(self, reason: str, by: str = "operator") -> EmergencyStop:
        return _accepted(RISK_BOOK.ask(ResetEmergencyStop(reason, by), timeout=CALL_TIMEOUT_S))

    # --- alerts ----------------------------------------------------------------------------------

    def send_alert(self, type: str, data: dict[str, Any], priority: str = "medium", title: str | None = None,
                   key: str = "") -> None:
        """The seed's send_alert(type, data, priority): a tell to /alerts/router, never blocking the caller.

        `type` is trade, system, risk, performance or network; `priority` low, medium, high or critical."""
        from actors.alert_sources import raise_alert
        from protocol.alerts import AlertType, Priority

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
        syntheticSeed, out). Runs in the caller's thread and needs no running tree.
        """
        from bot.backtesting import run, settings_from

        params, opts, request = settings_from(strategy, options)
        return run(params, opts, request)

    # --- status ----------------------------------------------------------------------------------

    def get_system_status(self) -> dict[str, Any]:
        """The health status, the live tree, memory, the routing table, the risk book's and the executor's
        published state. `activeComponents`: the paths of the actors running now."""
        actors = introspect.snapshot_tree()
        health = self.perform_health_check()
        perf = SAMPLER.snapshot()
        system = perf.system if isinstance(perf, PerfSnapshot) else None
        return {
            "mode": "devnet" if self.system is not None and self.system.devnet is not None else "chain",
            "healthStatus": {"overall": health.overall,
                             "components": {c.name: msgspec.to_builtins(c) for c in health.components}},
            "activeComponents": [a.path for a in actors if a.state == "running"],
            "memory": {
                "rssBytes": system.rss_bytes if system else None,
                "targetBytes": int(self.config.targets.memory_usage_target_mb * 1024 * 1024),
                "machinePercent": system.machine_memory_pct if system else None,
            },
            "actors": [msgspec.to_builtins(info) for info in actors],
            "routing": msgspec.to_builtins(ROUTER.snapshot()),
            "risk": msgspec.to_builtins(RISK_BOOK.snapshot()),
            "executor": msgspec.to_builtins(EXECUTOR.snapshot()),
        }

    def perform_health_check(self) -> HealthCheck:
        """Every component healthy, degraded or unhealthy with its reasons (performance.health's table)."""
        return health_check(self.config.targets.memory_usage_target_mb)

    def get_performance_report(self) -> dict[str, Any]:
        """The sampler's figures: grade, SLOs and budgets, stage latencies, system, GC, mailboxes, trends,
        bottlenecks; with the seed's keys (overall.performance.grade, components.networkOptimizer.averageLatency,
        components.riskManager.successRate)."""
        perf = SAMPLER.snapshot()
        return performance_report(perf if isinstance(perf, PerfSnapshot) else None, self.perform_health_check())


def _accepted(answer: Any) -> Any:
    if isinstance(answer, RequestRefused):
        raise OperatorRequestRefused(f"{answer.request} refused: {answer.reason}")
    return answer


__all__ = ["ActorError", "HealthCheck", "OperatorRequestRefused", "Phase4Manager"]
