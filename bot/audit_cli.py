"""`python run.py audit verify [PATH]` and `python run.py audit show [--since ...] [--kind ...] [PATH]`.

verify exits 0 when the chain is whole and 1 naming the first bad record otherwise (edited, removed,
inserted or reordered records, a truncated tail). PATH defaults to <DATA_DIR>/audit.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from monitoring import audit
from persistence.audit_trail import read_records, verify_trail

_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """`2h`, `30m`, `7d` (ago) or an ISO 8601 time (UTC when no zone is given) as epoch seconds."""
    m = _AGO.fullmatch(text.strip())
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: expected a duration ago (30m, 2h, 7d) or an ISO time (2025-01-31T03:00)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def default_dir() -> Path:
    return Path(os.environ.get("DATA_DIR") or "var") / "audit"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.py audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    v = sub.add_parser("verify", help="check the hash chain; name the first bad record")
    v.add_argument("path", nargs="?", help="the trail's directory (default <DATA_DIR>/audit)")
    s = sub.add_parser("show", help="print records, oldest first")
    s.add_argument("path", nargs="?", help="the trail's directory (default <DATA_DIR>/audit)")
    s.add_argument("--since", help="only records since: 30m, 2h, 7d ago, or an ISO time")
    s.add_argument("--kind", action="append", help="only records of this kind (repeatable)")
    s.add_argument("--json", action="store_true", help="one JSON record per line, as stored")
    args = parser.parse_args(argv)
    directory = Path(args.path) if args.path else default_dir()
    if not directory.is_dir():
        print(f"audit: no trail at {directory} (not a directory)", file=sys.stderr)
        return 2
    if args.action == "verify":
        verdict = verify_trail(directory)
        span = (f"seq {verdict.first_seq}..{verdict.last_seq}" if verdict.last_seq is not None else "no records")
        if verdict.ok:
            print(f"audit: OK, {verdict.records} records chain ({span}); last hash {verdict.last_hash}")
            return 0
        print(f"audit: BROKEN at {verdict.finding}; {verdict.records} records verified before it ({span})")
        return 1
    try:
        since = parse_since(args.since, time.time()) if args.since else None
    except argparse.ArgumentTypeError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2
    for record in audit.select(read_records(directory), since=since, kinds=args.kind):
        if args.json:
            sys.stdout.write(audit.encode_line(record).decode())
        else:
            body = msgspec.json.encode(record.body).decode()
            trace = f" trace={record.trace_id}" if record.trace_id else ""
            actor = f" {record.actor}" if record.actor else ""
            print(f"{_when(record.at)} #{record.seq} {record.kind}{actor}{trace} {body}")
    return 0
