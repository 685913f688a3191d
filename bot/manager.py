"""Phase4Manager: the operator API over a running bot (ARCHITECTURE.md's facade).

It starts the System (devnet or real chain, per config) and answers in protocol types, asking the
actors through stable handles with timeouts: nothing here holds a raw actor reference or can hang.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from bot.system import System
from protocol.config import Config
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
#: How long an operator call waits for the actor that answers it.
CALL_TIMEOUT_S = 5.0


class OperatorRequestRefused(Exception):
    """The bot refused an operator request (e.g. a reset without a reason); nothing was changed."""


class HealthReport(msgspec.Struct, frozen=True):
    healthy: bool
    problems: tuple[str, ...]
    routable_endpoints: tuple[str, ...]
    emergency_stop: bool
    checked_at: float


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
        """The live tree, the routing table, the risk book's and the executor's published state."""
        return {
            "mode": "devnet" if self.system is not None and self.system.devnet is not None else "chain",
            "actors": [msgspec.to_builtins(info) for info in introspect.snapshot_tree()],
            "routing": msgspec.to_builtins(ROUTER.snapshot()),
            "risk": msgspec.to_builtins(RISK_BOOK.snapshot()),
            "executor": msgspec.to_builtins(EXECUTOR.snapshot()),
        }

    def perform_health_check(self) -> HealthReport:
        """Healthy when every actor runs, at least one endpoint is routable and trading is not stopped."""
        problems = [f"{a.path} is {a.state}" + (f" ({a.last_error})" if a.last_error else "")
                    for a in introspect.snapshot_tree() if a.state != "running"]
        table = ROUTER.snapshot()
        routable = tuple(r.name for r in table.routes) if table is not None else ()
        if not routable:
            problems.append("no RPC endpoint is routable" + (f": {table.excluded}" if table is not None else ""))
        risk = RISK_BOOK.snapshot()
        stopped = bool(risk is not None and risk.emergency_stop.active)
        if stopped:
            problems.append(f"emergency stop: {risk.emergency_stop.reason}")
        return HealthReport(not problems, tuple(problems), routable, stopped, time.time())


def _accepted(answer: Any) -> Any:
    if isinstance(answer, RequestRefused):
        raise OperatorRequestRefused(f"{answer.request} refused: {answer.reason}")
    return answer


__all__ = ["ActorError", "HealthReport", "OperatorRequestRefused", "Phase4Manager"]
