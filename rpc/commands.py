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


def clear(args: argparse.Namespace, *_: Any) -> dict[str, Any]:
    """Tell a QUARANTINED endpoint that an operator has checked it; it re-runs its health check at once."""
    name = _endpoint_name(args.target)
    network = getattr(args, "network", NETWORK_PATH)
    handle = Handle(endpoint_path(name, network))
    before = handle.snapshot()
    if not isinstance(before, EndpointSnapshot):
        table = Handle(router_path(network)).snapshot()
        known = sorted([r.name for r in table.routes] + list(table.excluded)) if isinstance(table, RoutingTable) else []
        raise ValueError(f"no RPC endpoint rpc:{name} (known: {', '.join('rpc:' + k for k in known) or 'none'})")
    handle.tell(ClearQuarantine(endpoint=name))
    return {"endpoint": f"rpc:{name}", "was": before.breaker, "reason": before.reason, "sent": "ClearQuarantine"}


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
