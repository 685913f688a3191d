"""Console commands of the risk book: `risk`, `estop REASON`, `reset REASON`.

`register_risk_commands(registry)` adds them to the console's registry
(`registry.register_command(name, argparse parser, handler)`); a handler takes the parsed
arguments and returns a JSON-able answer (the report with the seed's camelCase keys).
"""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from protocol.risk import EmergencyStop, GetRiskReport, RequestRefused, ResetEmergencyStop, TriggerEmergencyStop
from supervision import Handle

RISK_BOOK_PATH = "/risk-book"
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
    registry.register_command("estop", estop_parser, estop)
    reset_parser = _audited_parser(
        "reset", "Reset the emergency stop, stating why.", "why it is safe to trade again (recorded)"
    )
    registry.register_command("reset", reset_parser, reset)
