"""The soak run's faults, each injected and cleared through the product's own mechanisms.

Endpoint faults go through the console's `fault` command (the devnet's fault proxies in front of
anvil); an actor is killed with the console's `kill`; an alert channel's server is the local fake
Discord (devnet.fake_services), stopped and started; "the relay" is what the devnet's executor really
sends through: it runs in public mode (no RELAY_URL: devnet's decide_mode), so its trades leave by the
router's eth_sendRawTransaction broadcast, and that path is taken down at every endpoint at once
(`fault rpc:* only=eth_sendRawTransaction error=503`) while reads are still served. The devnet has no
bundle relay: devnet.relay_stub mines the bundles' blocks itself with evm_snapshot / evm_revert, which
the devnet's interval mining and market simulator cannot share.

A fault is recovered when the component is back as before: the endpoint's breaker CLOSED and the
endpoint routed again, the actor running with one more restart, the channel's breaker CLOSED with
nothing left queued for it, a trade mined after the send path came back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.client import ConsoleClient, ConsoleUnavailable

ENDPOINTS = ("secondary", "tertiary", "primary")
ALL_ENDPOINTS = ("primary", "secondary", "tertiary")
KILL_TARGETS = ("/market/strategy", "/market/executor", "/market/pool-state", "/risk-book", "/alerts/router",
                "/network/router", "/devnet/market-simulator")
#: The rotation, one a fault period.
KINDS = ("endpoint_down", "endpoint_slow", "endpoint_429", "wrong_chain_id", "actor_killed", "alert_server_down",
         "relay_down")


class Console:
    """The console's own client, reconnecting once if the connection dropped."""

    def __init__(self, data_dir: str) -> None:
        self.client = ConsoleClient(data_dir)
        self.client.reconnect()

    def __call__(self, *argv: str) -> Any:
        for attempt in (1, 2):
            try:
                answer = self.client.call(list(argv))
                break
            except (ConsoleUnavailable, OSError, ConnectionError):
                if attempt == 2:
                    raise
                self.client.reconnect()
        if not answer.ok:
            raise RuntimeError(f"console {' '.join(argv)!r} refused: {answer.error}")
        return answer.body

    def inspect(self, path: str) -> dict[str, Any]:
        body = self(*("inspect", path))
        return body if isinstance(body, dict) else {}


@dataclass
class FaultRun:
    kind: str
    target: str
    injected_at_s: float
    cleared_at_s: float | None = None
    recovered_s: float | None = None  # from the clear to recovery; None: not recovered in time
    seen: list[str] = field(default_factory=list)  # what the fault visibly did while it held

    def report(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "at_s": round(self.injected_at_s, 1),
                "recovered": self.recovered_s is not None,
                "recovery_s": None if self.recovered_s is None else round(self.recovered_s, 1),
                "seen": sorted(set(self.seen))}


class Faults:
    """Inject, clear and check the recovery of each kind of fault, rotating their targets."""

    def __init__(self, console: Console, alert_server: Any) -> None:
        self.console = console
        self.alert_server = alert_server
        self.turn = 0
        self._restarts_before = 0
        self._mined_before = 0

    def target(self, kind: str) -> str:
        n = self.turn // len(KINDS)
        if kind == "actor_killed":
            return KILL_TARGETS[n % len(KILL_TARGETS)]
        if kind == "alert_server_down":
            return "discord"
        if kind == "relay_down":
            return "eth_sendRawTransaction"
        return ENDPOINTS[n % len(ENDPOINTS)]

    def inject(self, kind: str, target: str) -> None:
        c = self.console
        match kind:
            case "endpoint_down":
                c("fault", f"rpc:{target}", "down")
            case "endpoint_slow":
                c("fault", f"rpc:{target}", "latency=800ms")
            case "endpoint_429":
                c("fault", f"rpc:{target}", "429=2s")
            case "wrong_chain_id":
                c("fault", f"rpc:{target}", "chainid=5")
            case "actor_killed":
                self._restarts_before = int(c.inspect(target).get("restarts_total") or 0)
                c("kill", target)
            case "alert_server_down":
                self.alert_server.down()
                c("test-alert", "discord")  # something to deliver while it is down
            case "relay_down":
                self._mined_before = self._mined()
                for name in ALL_ENDPOINTS:
                    c("fault", f"rpc:{name}", "only=eth_sendRawTransaction", "error=503")

    def observe(self, kind: str, target: str) -> str | None:
        """What the fault is doing now, as the bot shows it (None: nothing visible yet)."""
        c = self.console
        if kind in ("endpoint_down", "endpoint_slow", "endpoint_429", "wrong_chain_id"):
            snap = c.inspect(f"/network/rpc:{target}")
            routes = c("routes")
            routed = target in (routes.get("routes") or []) if isinstance(routes, dict) else True
            breaker = snap.get("breaker")
            return f"breaker {breaker}" + ("" if routed else ", not routed")
        if kind == "actor_killed":
            snap = c.inspect(target)
            return f"{snap.get('state')}, restarts {snap.get('restarts_total')}"
        if kind == "alert_server_down":
            row = self._channel("discord")
            return f"discord breaker {row[1]}, queued {row[2]}, failed {row[4]}" if row else None
        if kind == "relay_down":
            return f"executor in flight {c.inspect('/market/executor').get('extra', {}).get('in_flight')}"
        return None

    def clear(self, kind: str, target: str) -> None:
        c = self.console
        match kind:
            case "endpoint_down":
                c("fault", f"rpc:{target}", "up")
            case "endpoint_slow" | "endpoint_429":
                c("fault", f"rpc:{target}", "clear")
            case "wrong_chain_id":
                c("fault", f"rpc:{target}", "clear")
                c("clear", f"rpc:{target}")  # only an operator clears a quarantine
            case "alert_server_down":
                self.alert_server.up()
            case "relay_down":
                for name in ALL_ENDPOINTS:
                    c("fault", f"rpc:{name}", "clear")

    def recovered(self, kind: str, target: str) -> bool:
        c = self.console
        if kind in ("endpoint_down", "endpoint_slow", "endpoint_429", "wrong_chain_id"):
            routes = c("routes")
            return (c.inspect(f"/network/rpc:{target}").get("breaker") == "CLOSED"
                    and isinstance(routes, dict) and target in (routes.get("routes") or []))
        if kind == "actor_killed":
            snap = c.inspect(target)
            return snap.get("state") == "running" and int(snap.get("restarts_total") or 0) > self._restarts_before
        if kind == "alert_server_down":
            row = self._channel("discord")
            return row is not None and row[1] == "CLOSED" and int(row[2]) == 0
        if kind == "relay_down":
            closed = all(c.inspect(f"/network/rpc:{n}").get("breaker") == "CLOSED" for n in ALL_ENDPOINTS)
            return closed and self._mined() > self._mined_before
        raise ValueError(f"no fault {kind}")

    def _mined(self) -> int:
        return int(self.console.inspect("/market/executor").get("extra", {}).get("mined") or 0)

    def _channel(self, name: str) -> list[Any] | None:
        body = self.console("alerts", "--limit", "1")
        rows = body.get("channels", {}).get("rows", []) if isinstance(body, dict) else []
        return next((r for r in rows if r and r[0] == name), None)

    def run_one(self, started: float, hold_s: float, recover_within_s: float,
                poll: Callable[[float], None] = time.sleep) -> FaultRun:
        """Inject the next fault in the rotation, hold it, clear it, wait for its recovery."""
        kind = KINDS[self.turn % len(KINDS)]
        target = self.target(kind)
        self.turn += 1
        run = FaultRun(kind, target, time.monotonic() - started)
        self.inject(kind, target)
        until = time.monotonic() + hold_s
        while time.monotonic() < until:
            seen = self.observe(kind, target)
            if seen:
                run.seen.append(seen)
            poll(1.0)
        self.clear(kind, target)
        cleared = time.monotonic()
        run.cleared_at_s = cleared - started
        deadline = cleared + recover_within_s
        while time.monotonic() < deadline:
            if self.recovered(kind, target):
                run.recovered_s = time.monotonic() - cleared
                break
            poll(0.5)
        return run
