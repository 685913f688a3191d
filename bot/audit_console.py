"""The console's `audit`: the running bot's audit trail, `audit [--last N] [--kind K] [--since 2h]` and
`audit verify` (the same checks as `python run.py audit verify`, on the trail this process writes)."""

from __future__ import annotations

import argparse
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import msgspec

from bot.audit_cli import parse_since
from console.registry import CommandError, CommandRegistry, count_of
from console.wire import Table
from monitoring import audit
from persistence import audit_trail

#: `audit` with no --last shows this many records, newest last.
DEFAULT_LAST = 20
BODY_WIDTH = 100


def _since(text: str) -> float:
    return parse_since(text, time.time())


def _trail() -> audit_trail.AuditTrail:
    try:
        return audit_trail.current()
    except audit_trail.AuditTrailMissing as exc:
        raise CommandError(str(exc)) from None


def audit_command(args: argparse.Namespace) -> Any:
    trail = _trail()
    if args.action == "verify":
        verdict = audit_trail.verify_trail(trail.directory)
        body: dict[str, Any] = msgspec.to_builtins(verdict)
        body["directory"] = str(trail.directory)
        if not verdict.ok:
            raise CommandError(f"audit trail BROKEN at {verdict.finding}; {verdict.records} records verified "
                               f"before it ({trail.directory})")
        return body
    found = deque(audit.select(trail.records(), since=args.since, kinds=args.kind), maxlen=args.last)
    rows = []
    for r in found:
        text = msgspec.json.encode(r.body).decode()
        rows.append([r.seq, datetime.fromtimestamp(r.at, UTC).strftime("%H:%M:%S"), r.kind, r.actor or "-",
                     text if len(text) <= BODY_WIDTH else text[: BODY_WIDTH - 1] + "…"])
    return Table(columns=["SEQ", "AT (UTC)", "KIND", "ACTOR", "BODY"], rows=rows,
                 title=f"the last {len(rows)} audit records in {trail.directory}; `audit verify` checks the chain")


def register_audit_commands(registry: CommandRegistry) -> None:
    p = argparse.ArgumentParser(prog="audit", description="The audit trail's latest records, or `audit verify`.")
    p.add_argument("action", nargs="?", choices=["verify"], help="verify: check the hash chain")
    p.add_argument("--last", type=count_of("records"), default=DEFAULT_LAST, metavar="N",
                   help=f"show N records (default {DEFAULT_LAST})")
    p.add_argument("--kind", action="append", help="only records of this kind, e.g. risk_decision (repeatable)")
    p.add_argument("--since", type=_since, help="only records since: 30m, 2h, 7d ago, or an ISO time")
    registry.register_command("audit", p, audit_command)
