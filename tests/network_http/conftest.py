"""Fixtures: a real anvil, the project's fault proxies in front of it, and a running network subtree with its client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.router import network_children
from actors.subscriptions import SubscriptionManager
from actors.ws_endpoint import WsEndpoint
from devnet.anvil import Anvil
from devnet.fault_proxy import FaultProxy
from protocol.network import EndpointConfig, EndpointSnapshot, RoutingTable
from rpc.client import RpcClient, endpoint_path, router_path
from rpc.routing import RoutingPolicy
from supervision import ChildSpec, Handle, start_tree, stop_tree, supervisor_spec
from supervision.breaker import BreakerPolicy
from tests.waiting import wait_until

CHAIN_ID = 31337

#: Breakers tuned for tests: trip after 3 failures, probe after 0.2 s, re-check the head often.
TEST_BREAKER = BreakerPolicy(
    failure_threshold=3, window_size=20, window_min_calls=10, reset_timeout_s=0.2, max_reset_timeout_s=1.0,
    probe_timeout_s=1.0, max_lag_blocks=2, stale_head_s=1.0, default_park_s=0.5,
)
TEST_ROUTING = RoutingPolicy(attempt_timeout_s=1.0, deadline_s=3.0, hedge_min_s=0.02, hedge_max_s=0.1,
                             max_attempts=3)


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with Anvil(block_time_s=None) as node:
        yield node


@pytest.fixture
def fault_proxies(anvil: Anvil) -> Iterator[Callable[[int], list[FaultProxy]]]:
    """`fault_proxies(n)`: n running fault proxies in front of anvil (devnet.fault_proxy), stopped after the test."""
    made: list[FaultProxy] = []

    def make(n: int) -> list[FaultProxy]:
        proxies = [FaultProxy(anvil.http_url, name=f"e{i}", seed=i) for i in range(n)]
        for proxy in proxies:
            made.append(proxy.start())
        return proxies

    yield make
    for proxy in made:
        proxy.stop()


class Network:
    """A running network subtree and helpers to look at it."""

    def __init__(self, names: list[str], client: RpcClient) -> None:
        self.names = names
        self.client = client

    def table(self) -> RoutingTable:
        table = Handle(router_path()).snapshot()
        assert isinstance(table, RoutingTable)
        return table

    def endpoint(self, name: str) -> EndpointSnapshot:
        snap = Handle(endpoint_path(name)).snapshot()
        assert isinstance(snap, EndpointSnapshot)
        return snap

    def breaker(self, name: str) -> str:
        return self.endpoint(name).breaker

    def routes(self) -> list[str]:
        return [r.name for r in self.table().routes]

    def wait_routes(self, expected: set[str], timeout: float = 30.0) -> None:
        """A set-up wait: it returns as soon as the routes are there; the bound is for a loaded 2-core CI box."""
        wait_until(lambda: set(self.routes()) == expected, timeout, f"routes == {sorted(expected)}")

    def stop(self) -> None:
        stop_tree()
        self.client.close()


def start_network(
    urls: dict[str, str], *, routing: RoutingPolicy = TEST_ROUTING, breaker: BreakerPolicy = TEST_BREAKER,
    health_interval_s: float = 0.1, health_timeout_s: float = 0.5, regions: dict[str, str] | None = None,
    extra: Callable[[RpcClient], list[ChildSpec]] | None = None,
    chain_id: int = CHAIN_ID, expect_routes: set[str] | None = None, ws_urls: dict[str, str] | None = None,
) -> Network:
    """Start a tree with a network supervisor over these endpoints; wait until all are routable.

    `extra` adds children under the root, built with the client (actors that read through it);
    `ws_urls` (endpoint name -> WebSocket URL) adds ws:<name> actors and the subscription manager."""
    configs = [
        EndpointConfig(name=n, url=u, chain_id=chain_id, region=(regions or {}).get(n, ""), priority=i)
        for i, (n, u) in enumerate(urls.items())
    ]
    children = network_children(configs, chain_id, routing=routing, breaker=breaker,
                                health_interval_s=health_interval_s, health_timeout_s=health_timeout_s)
    if ws_urls:
        children += [ChildSpec(id=f"ws:{n}", start=WsEndpoint, kwargs={"name": n, "url": u})
                     for n, u in ws_urls.items()]
        children.append(ChildSpec(id="subscriptions", start=SubscriptionManager,
                                  kwargs={"endpoints": list(ws_urls), "stall_after_s": None}))
    client = RpcClient(policy=routing)
    start_tree(supervisor_spec("root", [supervisor_spec("network", children), *(extra(client) if extra else [])]))
    net = Network(list(urls), client)
    try:
        net.wait_routes(expect_routes if expect_routes is not None else set(urls))
    except BaseException:
        net.stop()
        raise
    return net


@pytest.fixture
def network() -> Iterator[Callable[..., Network]]:
    started: list[Network] = []

    def start(urls: dict[str, str], **kwargs: Any) -> Network:
        net = start_network(urls, **kwargs)
        started.append(net)
        return net

    yield start
    for net in started:
        net.stop()
