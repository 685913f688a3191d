"""The components an operator can switch off (the seed's enable flags), and what each one takes with it.

| flag (kwarg / [manager] key / env)  | absent from the tree | console commands refused | health component    |
| ----------------------------------- | -------------------- | ------------------------ | ------------------- |
| enable_network_optimization         | /network, /market    | routes, clear, fault(s)  | networkOptimizer    |
| enable_risk_management              | /risk-book, /market  | risk, estop, reset, ...  | riskManager         |
| enable_monitoring                   | /monitor             | errors                   | -                   |
| enable_alerting                     | /alerts              | alerts, silence(s), ...  | -                   |
| enable_performance_analysis         | /sampler             | perf                     | performanceAnalyzer |

What depends on what, and the choices made:

- The market (pool-state, strategy, executor) reads the chain through the network and asks the risk
  book before every trade, so it is built only when both are enabled. Without the risk book nothing
  trades, not even on paper: a paper run without the book's verdicts would record trades the live bot
  would never make. LIVE_MODE=true with the risk book disabled is refused at start (protocol.config).
- Without the network there is nothing to read RPC URLs: configuring them is refused at start. On the
  devnet, anvil and its market simulator still run (the risk book's world is the devnet's).
- Without alerting, a configured channel or rule is refused at start; other actors' alerts are dropped
  at DEBUG (actors.alert_sources never fails its caller).
- Without monitoring, error fingerprints are not aggregated and old audit segments are not pruned;
  the audit trail itself stays (the risk book and audited console commands need it), and traces follow
  TRACING, which is the tracer's, not the monitor actor's.
- Without performance analysis, measurements are drained and dropped (so their buffers stay bounded),
  and the health check marks performanceAnalyzer as disabled.

A disabled component's API (Phase4Manager's methods, `manager.components.<name>`) raises
ComponentDisabled naming the flag; its console commands answer with the same sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.config import ManagerConfig


class ComponentDisabled(Exception):
    """An API of a component this bot was built without; the message names the flag that disabled it."""


@dataclass(frozen=True)
class Component:
    attr: str  # ManagerConfig field: enable_<attr>
    name: str  # the seed's component name (manager.components.<name>, the health check's)
    env: str
    paths: tuple[str, ...]  # tree paths absent when disabled
    commands: tuple[str, ...]  # console commands refused when disabled
    health: str | None  # the health check's component name

    @property
    def flag(self) -> str:
        return f"enable_{self.attr}"

    def disabled_error(self) -> ComponentDisabled:
        return ComponentDisabled(
            f"{self.name} is disabled ({self.flag}=False / {self.env}=false): this bot was started without it")


COMPONENTS: tuple[Component, ...] = (
    Component("network_optimization", "network_optimizer", "ENABLE_NETWORK_OPTIMIZATION", ("/network", "/market"),
              ("routes", "clear", "fault", "faults"), "networkOptimizer"),
    Component("risk_management", "risk_manager", "ENABLE_RISK_MANAGEMENT", ("/risk-book", "/market"),
              ("risk", "estop", "reset", "cancel-inflight"), "riskManager"),
    Component("monitoring", "monitoring", "ENABLE_MONITORING", ("/monitor",), ("errors",), None),
    Component("alerting", "alerting", "ENABLE_ALERTING", ("/alerts",),
              ("alerts", "silence", "silences", "unsilence", "test-alert"), None),
    Component("performance_analysis", "performance_analyzer", "ENABLE_PERFORMANCE_ANALYSIS", ("/sampler",),
              ("perf",), "performanceAnalyzer"),
)
BY_NAME = {c.name: c for c in COMPONENTS}


def enabled(flags: ManagerConfig, name: str) -> bool:
    """Whether component `name` (network_optimizer, risk_manager, ...) is built."""
    return bool(getattr(flags, BY_NAME[name].flag))


def disabled_components(flags: ManagerConfig) -> tuple[Component, ...]:
    return tuple(c for c in COMPONENTS if not getattr(flags, c.flag))


def market_enabled(flags: ManagerConfig) -> bool:
    """The market reads through the network and asks the risk book before every trade: it needs both."""
    return flags.enable_network_optimization and flags.enable_risk_management


def disabled_health(flags: ManagerConfig) -> dict[str, str]:
    """The health check's component name -> the sentence saying it is disabled."""
    return {c.health: f"disabled ({c.env}=false)" for c in disabled_components(flags) if c.health}
