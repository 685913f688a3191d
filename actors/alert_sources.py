"""How the rest of the bot raises alerts, and the metrics the rules engine reads.

`raise_alert` is a tell to /alerts/router that never blocks and never fails its caller: an actor
whose alerting service is not running (a unit test, a tree without it) logs at DEBUG and goes on.
`read_metrics` reads the published snapshots of the network router, the risk book and the executor
(no mailbox hop) for the rules in `[[alerts.rules]]`; `KNOWN_METRICS` is what a rule may name.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from protocol.alerts import AlertType, Priority, SendAlert
from supervision import ActorError, Handle

ALERT_ROUTER_PATH = "/alerts/router"
_ROUTER = Handle(ALERT_ROUTER_PATH)

KNOWN_METRICS = (
    "routable_endpoints", "excluded_endpoints", "emergency_stop", "equity", "daily_loss_remaining",
    "trades_mined", "trades_reverted", "trades_not_included", "trades_in_flight",
    *(f"alerts_{t.value}_total" for t in AlertType),
)


def raise_alert(type: AlertType, title: str, data: dict[str, Any] | None = None, *,
                priority: Priority = Priority.MEDIUM, source: str = "", key: str = "", resolved: bool = False,
                trace_id: str | None = None) -> None:
    """Tell the alert router (never blocks, never raises)."""
    msg = SendAlert(type=type, title=title, data=data or {}, priority=priority, source=source, key=key,
                    resolved=resolved)
    try:
        _ROUTER.tell(msg, trace_id=trace_id)
    except ActorError as exc:
        logger.debug("alert {!r} not raised: {}", title, exc)


def read_metrics(alert_counts: dict[str, int]) -> dict[str, float]:
    """One sample of every metric a rule may use (missing sources are simply absent)."""
    out: dict[str, float] = {f"alerts_{t}_total": float(n) for t, n in alert_counts.items()}
    table = Handle("/network/router").snapshot()
    if table is not None:
        out["routable_endpoints"] = float(len(table.routes))
        out["excluded_endpoints"] = float(len(table.excluded))
    risk = Handle("/risk-book").snapshot()
    if risk is not None:
        out["emergency_stop"] = 1.0 if risk.emergency_stop.active else 0.0
        out["equity"] = float(risk.equity)
        out["daily_loss_remaining"] = float(risk.daily_loss_remaining)
    executor = Handle("/market/executor").snapshot()
    if executor is not None:
        out["trades_mined"] = float(executor.mined)
        out["trades_reverted"] = float(executor.reverted)
        out["trades_not_included"] = float(executor.not_included)
        out["trades_in_flight"] = float(executor.in_flight)
    return out
