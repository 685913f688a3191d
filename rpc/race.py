"""The plan of one hedged read, pure: which endpoint goes next, whether a hedge may still fire,
what to tell the caller when nobody answered.

`rpc.dispatch`'s race on the io loop drives it, for every caller (actors, coroutines, blocking calls
and the web3 providers). The rules:
- endpoints are tried in table order, at most `max_attempts` of them (hedges included);
- a hedge goes to the next endpoint once the last one launched has been out for its hedge delay,
  at most `max_hedges` times;
- a fault moves on to the next endpoint at once (faults are retryable by definition).
"""

from __future__ import annotations

from protocol.network import EndpointRoute
from rpc.routing import RoutingPolicy


class RacePlan:
    __slots__ = ("budget", "failures", "hedges_left", "launched", "routes")

    def __init__(self, routes: list[EndpointRoute], policy: RoutingPolicy, hedge: bool) -> None:
        if not routes:
            raise ValueError("a race needs at least one endpoint")
        self.routes = routes
        self.budget = min(policy.max_attempts, len(routes))
        self.hedges_left = policy.max_hedges if hedge and policy.hedge_reads else 0
        self.launched = 0
        self.failures: list[tuple[str, str]] = []

    @property
    def can_launch(self) -> bool:
        return self.launched < self.budget

    def launch(self) -> EndpointRoute:
        """The next endpoint to send to (call only when `can_launch`)."""
        route = self.routes[self.launched]
        self.launched += 1
        return route

    def hedge_delay(self) -> float | None:
        """After a launch: how long to wait before hedging, or None if no hedge may follow."""
        if self.hedges_left <= 0 or not self.can_launch:
            return None
        return self.routes[self.launched - 1].hedge_delay_s

    def take_hedge(self) -> EndpointRoute | None:
        """The endpoint a due hedge goes to, or None if none may fire any more."""
        if self.hedges_left <= 0 or not self.can_launch:
            return None
        self.hedges_left -= 1
        return self.launch()

    def failed(self, endpoint: str, kind: str) -> EndpointRoute | None:
        """Record a fault; the endpoint to retry on at once, or None when the budget is spent."""
        self.failures.append((endpoint, kind))
        return self.launch() if self.can_launch else None

    def unanswered(self) -> list[tuple[str, str]]:
        """Launched endpoints with no fault recorded: still out when the deadline passed."""
        failed = {name for name, _ in self.failures}
        return [(r.name, "timeout") for r in self.routes[: self.launched] if r.name not in failed]
