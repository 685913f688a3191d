"""The console's `fault` and `faults` commands over a set of running proxies."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import devnet.fault_proxy as package
from devnet.fault_proxy.proxy import FaultProxy
from devnet.fault_proxy.spec import FaultSpecError


def _fault_help() -> str:
    doc = package.__doc__ or ""
    return doc.split("The fault language", 1)[1] if "The fault language" in doc else ""


def _proxy_for(proxies: Mapping[str, FaultProxy], endpoint: str) -> tuple[str, FaultProxy] | None:
    """`rpc:secondary`, `ws:secondary` and `secondary` all name the proxy in front of that endpoint."""
    bare = endpoint.split(":", 1)[1] if endpoint.startswith(("rpc:", "ws:")) else endpoint
    for key in (endpoint, bare, f"rpc:{bare}", f"ws:{bare}"):
        if key in proxies:
            return key, proxies[key]
    return None


def register_fault_commands(registry: Any, proxies_by_endpoint_name: Mapping[str, FaultProxy]) -> None:
    """Register `fault` and `faults` on the console's `register_command(name, parser, handler)` registry.

    `fault rpc:secondary latency=300ms@10% error=500@20%` adds faults, `fault rpc:secondary clear`
    removes them, `fault rpc:secondary` shows them; `fault rpc:secondary down` stops the endpoint
    (connections refused) and `fault rpc:secondary up` brings it back on the same port; `faults`
    lists every proxied endpoint.
    """
    from console.registry import CommandError

    fault_parser = argparse.ArgumentParser(
        prog="fault",
        description="Inject faults into the proxy in front of a devnet endpoint (HTTP and WebSocket).",
        epilog="The fault language" + _fault_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fault_parser.add_argument("endpoint", help="rpc:<name>, ws:<name> or <name>")
    fault_parser.add_argument("faults", nargs="*", help="fault tokens, or `down` / `up` (the endpoint stops "
                              "listening / listens again); none: show the current faults")

    def fault(args: argparse.Namespace) -> str:
        found = _proxy_for(proxies_by_endpoint_name, args.endpoint)
        if found is None:
            known = ", ".join(sorted(proxies_by_endpoint_name)) or "none"
            raise CommandError(f"no fault proxy in front of {args.endpoint!r} (proxied endpoints: {known})")
        name, proxy = found
        if args.faults in (["down"], ["up"]):
            (proxy.stop if args.faults == ["down"] else proxy.start)()
            return f"{name}: {'down (connections refused)' if not proxy.running else 'up'}; {proxy.faults.describe()}"
        try:
            spec = proxy.apply(" ".join(args.faults)) if args.faults else proxy.faults
        except FaultSpecError as e:
            raise CommandError(str(e)) from None
        return f"{name}: {spec.describe()}"

    def faults(_: argparse.Namespace) -> str:
        return "\n".join(f"{n}: {p.faults.describe()}{'' if p.running else ' (down)'}"
                         for n, p in sorted(proxies_by_endpoint_name.items()))

    registry.register_command("fault", fault_parser, fault, audited=True)
    listing = argparse.ArgumentParser(prog="faults", description="The faults injected at every devnet endpoint.")
    registry.register_command("faults", listing, faults)
