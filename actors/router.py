"""router — turns the endpoints' snapshots into the routing table every caller reads.

The router decides, the `RpcClient` acts: reads of the table cost no mailbox hop. The table is
rebuilt when an endpoint reports a change (state, head, statistics at most every 100 ms) or a
WebSocket stream announces a higher head (`StreamHead`, for the clients' head trackers), and
replaced, never mutated. `network_children` builds the network supervisor's child specs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from actors.alert_sources import raise_alert
from protocol.alerts import AlertType, Priority
from protocol.network import (
    ClearQuarantine,
    EndpointConfig,
    EndpointSnapshot,
    RoutingStatus,
    RoutingTable,
    StreamHead,
)
from rpc.client import ROUTER_ID, endpoint_path
from rpc.routing import RoutingPolicy, build_table
from supervision import ActorContext, ChildSpec, Handle, Restart, SupervisedActor
from supervision.breaker import BreakerPolicy


class Router(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        chain_id: int,
        endpoints: Sequence[EndpointConfig],
        policy: RoutingPolicy | None = None,
    ) -> None:
        super().__init__(ctx)
        self.chain_id = chain_id
        self.endpoints = tuple(e.name for e in endpoints)
        self.urls = {e.name: e.url for e in endpoints}  # the real URLs; snapshots carry masked ones
        self.policy = policy or RoutingPolicy()
        self.network_path = ctx.path.rsplit("/", 1)[0] or "/"
        self.snapshots: dict[str, EndpointSnapshot] = {}
        self.stream_heads: dict[str, tuple[int, float]] = {}  # endpoint -> (its WebSocket's best head, when)
        self.table = RoutingTable(chain_id=chain_id, routes=())

    def on_start(self) -> None:
        # A restarted router must not wait for the next change to know the endpoints.
        for name in self.endpoints:
            snap = Handle(endpoint_path(name, self.network_path)).snapshot()
            if isinstance(snap, EndpointSnapshot):
                self.snapshots[name] = snap
        self._rebuild(force=True)

    def receive(self, msg: object) -> object:
        match msg:
            case EndpointSnapshot(name=name):
                previous = self.snapshots.get(name)
                if previous is None or previous.published_at <= msg.published_at:
                    self.snapshots[name] = msg
                    self._rebuild()
            case StreamHead(endpoint=name, head=head):
                seen = self.stream_heads.get(name)
                if seen is None or head > seen[0]:
                    self.stream_heads[name] = (head, time.monotonic())
                    self._rebuild()
            case RoutingStatus():
                return self.table
            case ClearQuarantine(endpoint=name):
                Handle(endpoint_path(name, self.network_path)).tell(msg)
            case _:
                self.log.warning("unexpected message {}", type(msg).__name__)
        return None

    def status(self) -> dict[str, Any]:
        table = self.table
        return {
            "routes": [r.name for r in table.routes],
            "excluded": dict(table.excluded),
            "best_head": table.best_head,
            "stream_heads": {name: head for name, (head, _) in table.stream_heads.items()},
            "version": table.version,
        }

    def _rebuild(self, force: bool = False) -> None:
        chain_id = self.chain_id or adopted_chain_id(self.snapshots.values())
        table = build_table(chain_id, self.snapshots.values(), self.policy, self.table.version + 1, self.urls,
                            self.stream_heads)
        unchanged = (
            table.routes == self.table.routes
            and table.excluded == self.table.excluded
            and table.best_head == self.table.best_head
            and table.stream_heads == self.table.stream_heads
        )
        if unchanged and not force:
            return
        names = [r.name for r in table.routes]
        if set(names) != {r.name for r in self.table.routes} or table.excluded != self.table.excluded:
            self.log.info("routes: {} excluded: {}", names, table.excluded)
        elif names != [r.name for r in self.table.routes]:
            # equally fast endpoints swap places every few seconds: worth a debug line, not an operator's attention
            self.log.debug("routes reordered: {}", names)
        if self.table.routes and not table.routes:
            raise_alert(AlertType.NETWORK, "no RPC endpoint is routable", dict(table.excluded),
                        priority=Priority.CRITICAL, key="all-endpoints-down", source=self.ctx.path)
        elif table.routes and not self.table.routes and self.table.version > 1:
            raise_alert(AlertType.NETWORK, "RPC endpoints routable again", {"routes": ", ".join(names)},
                        priority=Priority.CRITICAL, key="all-endpoints-down", source=self.ctx.path, resolved=True)
        self.table = table
        self.publish(table)


def adopted_chain_id(snapshots: Iterable[EndpointSnapshot]) -> int:
    """With no chain configured (0): the chain most checked endpoints report; ties go to the better priority."""
    votes: dict[int, list[int]] = {}
    for snap in snapshots:
        if snap.checked and snap.chain_id:
            votes.setdefault(snap.chain_id, []).append(snap.priority)
    if not votes:
        return 0
    return max(votes, key=lambda chain: (len(votes[chain]), -min(votes[chain])))


def network_children(
    endpoints: Sequence[EndpointConfig],
    chain_id: int,
    *,
    routing: RoutingPolicy | None = None,
    breaker: BreakerPolicy | None = None,
    health_interval_s: float | None = None,
    health_timeout_s: float | None = None,
) -> list[ChildSpec]:
    """Child specs for the network supervisor: one `rpc:<name>` per endpoint, then the router.

    chain_id 0 means "not configured": the router adopts the chain the checked endpoints agree on.
    """
    from actors.rpc_endpoint import DEFAULT_HEALTH_INTERVAL_S, DEFAULT_HEALTH_TIMEOUT_S, RpcEndpoint

    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise ValueError(f"endpoint names must be unique, got {names}")
    specs = [
        ChildSpec(
            id=f"rpc:{e.name}",
            start=RpcEndpoint,
            kwargs={
                "config": e,
                "breaker_policy": breaker,
                "health_interval_s": health_interval_s or DEFAULT_HEALTH_INTERVAL_S,
                "health_timeout_s": health_timeout_s or DEFAULT_HEALTH_TIMEOUT_S,
            },
            restart=Restart.PERMANENT,
        )
        for e in endpoints
    ]
    specs.append(
        ChildSpec(
            id=ROUTER_ID,
            start=Router,
            kwargs={"chain_id": chain_id, "endpoints": list(endpoints), "policy": routing},
            restart=Restart.PERMANENT,
        )
    )
    return specs
