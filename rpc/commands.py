"""Console commands of the network layer: `clear rpc:NAME` and `routes`.

`register_network_commands(registry)` adds them to the console's registry
(`registry.register_command(name, argparse parser, handler)`); a handler takes the parsed
arguments and returns a JSON-able answer for the console to print.
"""

from __future__ import annotations

import argparse
from typing import Any

from protocol.network import ClearQuarantine, EndpointSnapshot, RoutingTable
from rpc.client import NETWORK_PATH, endpoint_path, router_path
from supervision import Handle


def _endpoint_name(target: str) -> str:
    name = target.removeprefix("rpc:")
    if not name or "/" in name:
        raise ValueError(f"expected rpc:NAME, got {target!r}")
    return name


#: How long `clear` waits for the endpoint's health check after the clear (a check times out well within it).
CLEAR_WAIT_S = 15.0
CLEAR_POLL_S = 0.05


class ClearFailed(Exception):
    """The endpoint was cleared but its health check put it straight back (or never answered)."""


def clear_outcome(before: EndpointSnapshot, now: EndpointSnapshot) -> str | None:
    """What became of a clear, from the endpoint's snapshots before and after: None while undecided.

    OperatorClear moves any state to CLOSED with `checked` false, and the health check that follows
    confirms it (`checked`, still CLOSED or LAGGING) or puts it back (QUARANTINED, OPEN)."""
    if now.state_changes <= before.state_changes and not (now.checked and before.breaker != "QUARANTINED"):
        return None
    if now.breaker in ("QUARANTINED", "OPEN"):
        return "failed"
    if now.checked and now.breaker in ("CLOSED", "LAGGING"):
        return "passed"
    return None


def clear(args: argparse.Namespace, *_: Any) -> dict[str, Any]:
    """Tell a QUARANTINED endpoint that an operator has checked it; it re-runs its health check at once, and
    the answer waits for that check's outcome: back in service, or put straight back (a ClearFailed error)."""
    import threading
    import time

    name = _endpoint_name(args.target)
    network = getattr(args, "network", NETWORK_PATH)
    handle = Handle(endpoint_path(name, network))
    before = handle.snapshot()
    if not isinstance(before, EndpointSnapshot):
        table = Handle(router_path(network)).snapshot()
        known = sorted([r.name for r in table.routes] + list(table.excluded)) if isinstance(table, RoutingTable) else []
        raise ValueError(f"no RPC endpoint rpc:{name} (known: {', '.join('rpc:' + k for k in known) or 'none'})")
    handle.tell(ClearQuarantine(endpoint=name))
    wait_s = float(getattr(args, "wait_s", CLEAR_WAIT_S))
    deadline, pause, now = time.monotonic() + wait_s, threading.Event(), before
    outcome = None
    while outcome is None and time.monotonic() < deadline:
        pause.wait(CLEAR_POLL_S)  # the endpoint publishes each state change; nothing to ask it
        snap = handle.snapshot()
        now = snap if isinstance(snap, EndpointSnapshot) else now
        outcome = clear_outcome(before, now)
    if outcome == "failed":
        raise ClearFailed(f"rpc:{name} was cleared but its health check failed: {now.breaker} again "
                          f"({now.reason}); fix the endpoint, then `clear rpc:{name}` once more")
    if outcome is None:
        raise ClearFailed(f"rpc:{name} was cleared but its health check gave no verdict within {wait_s:g} s "
                          f"(now {now.breaker}: {now.reason or 'no reason'}); `routes` shows it")
    return {"endpoint": f"rpc:{name}", "was": before.breaker, "reason": before.reason, "now": now.breaker,
            "outcome": "health check passed: back in service"}


def routes(args: argparse.Namespace, *_: Any) -> dict[str, Any]:
    """The router's current table and each endpoint's figures, from published snapshots (no mailbox hop)."""
    network = getattr(args, "network", NETWORK_PATH)
    table = Handle(router_path(network)).snapshot()
    if not isinstance(table, RoutingTable):
        return {"error": "the router has not published a routing table"}
    rows = []
    for name in [r.name for r in table.routes] + sorted(table.excluded):
        snap = Handle(endpoint_path(name, network)).snapshot()
        if not isinstance(snap, EndpointSnapshot):
            continue
        rows.append({
            "endpoint": f"rpc:{name}",
            "breaker": snap.breaker,
            "reason": snap.reason,
            "head": snap.head,
            "ewma_ms": None if snap.ewma_s is None else round(snap.ewma_s * 1000, 3),
            "p95_ms": None if snap.p95_s is None else round(snap.p95_s * 1000, 3),
            "error_rate": round(snap.error_rate, 3),
            "errors": snap.errors,
            "in_flight": snap.in_flight,
        })
    return {"routes": [r.name for r in table.routes], "excluded": table.excluded, "best_head": table.best_head,
            "endpoints": rows}


def register_network_commands(registry: Any) -> None:
    clear_parser = argparse.ArgumentParser(prog="clear", description="Clear a QUARANTINED RPC endpoint.")
    clear_parser.add_argument("target", help="the endpoint, as rpc:NAME")
    registry.register_command("clear", clear_parser, clear, audited=True)
    routes_parser = argparse.ArgumentParser(prog="routes", description="Show the RPC routing table.")
    registry.register_command("routes", routes_parser, routes)
