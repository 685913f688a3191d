"""Console commands of the risk book: `risk`, `estop REASON`, `reset REASON`, and `cancel-inflight`.

`estop` returns once the book has saved and published the stop: from then on the executor signs and
sends nothing (it reads the published stop before every step and every send). Trades already in the
mempool are listed in the log; `cancel-inflight` asks the executor to replace each with a zero-value
self-transfer at its nonce (it works with or without a stop).

`register_risk_commands(registry)` adds them to the console's registry
(`registry.register_command(name, argparse parser, handler)`); a handler takes the parsed
arguments and returns a JSON-able answer (the report with the seed's camelCase keys).
"""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from protocol.execution import CancelInFlight, ExecutorSnapshot
from protocol.risk import EmergencyStop, GetRiskReport, RequestRefused, ResetEmergencyStop, TriggerEmergencyStop
from supervision import Handle

RISK_BOOK_PATH = "/risk-book"
EXECUTOR_PATH = "/market/executor"
ASK_TIMEOUT_S = 5.0


def _book(args: argparse.Namespace) -> Handle:
    return Handle(getattr(args, "path", RISK_BOOK_PATH))


def _answer(value: Any) -> Any:
    if isinstance(value, RequestRefused):
        return {"refused": value.request, "reason": value.reason}
    return msgspec.to_builtins(value)


def risk_view(args: argparse.Namespace, *_: Any) -> Any:
    """The risk report: overallRiskScore, currentDrawdown, emergencyStop, limits..."""
    return _answer(_book(args).ask(GetRiskReport(), timeout=ASK_TIMEOUT_S))


def estop(args: argparse.Namespace, *_: Any) -> Any:
    reason = " ".join(args.reason).strip()
    answer = _book(args).ask(TriggerEmergencyStop(reason=reason, by=args.by), timeout=ASK_TIMEOUT_S)
    return {"emergencyStop": _answer(answer)}


def reset(args: argparse.Namespace, *_: Any) -> Any:
    reason = " ".join(args.reason).strip()
    answer = _book(args).ask(ResetEmergencyStop(reason=reason, by=args.by), timeout=ASK_TIMEOUT_S)
    if isinstance(answer, EmergencyStop):
        return {"emergencyStop": _answer(answer), "resetReason": reason}
    return _answer(answer)


def cancel_inflight(args: argparse.Namespace, *_: Any) -> Any:
    executor = Handle(EXECUTOR_PATH)
    executor.ask(CancelInFlight(by=args.by), timeout=ASK_TIMEOUT_S)  # answered once the cancels are handed out
    snap = executor.snapshot()
    in_flight = snap.in_flight if isinstance(snap, ExecutorSnapshot) else None
    return {"cancelInFlight": "cancellations sent for the trades in the mempool", "inFlight": in_flight}


def _audited_parser(prog: str, description: str, reason_help: str) -> argparse.ArgumentParser:
    """A command whose reason and author go into the risk book's audit trail."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("reason", nargs="+", help=reason_help)
    parser.add_argument("--by", default="console", help="who (recorded in the audit trail)")
    return parser


def register_risk_commands(registry: Any) -> None:
    risk_parser = argparse.ArgumentParser(prog="risk", description="Show the risk book's report.")
    registry.register_command("risk", risk_parser, risk_view)
    estop_parser = _audited_parser("estop", "Stop all trading until a reset.", "why (recorded in the audit trail)")
    registry.register_command("estop", estop_parser, estop, audited=True)
    reset_parser = _audited_parser(
        "reset", "Reset the emergency stop, stating why.", "why it is safe to trade again (recorded)"
    )
    registry.register_command("reset", reset_parser, reset, audited=True)
    cancel_parser = argparse.ArgumentParser(
        prog="cancel-inflight",
        description="Replace every trade in the mempool with a zero-value self-transfer at its nonce.")
    cancel_parser.add_argument("--by", default="console", help="who (logged)")
    registry.register_command("cancel-inflight", cancel_parser, cancel_inflight, audited=True)
