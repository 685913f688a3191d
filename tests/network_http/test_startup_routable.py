"""An endpoint becomes routable soon after it can answer, whatever its health interval.

Two start-up gaps, each reproduced deterministically with a real anvil behind real fault proxies:
- an endpoint whose first check passes while the router is still starting (its snapshots read, its
  on_start not returned) must reach it: the router's path is bound before its on_start runs, so the
  tell waits in its mailbox (before the supervision fix it was refused and, with a 60 s health
  interval, nothing told the router again for a minute);
- an endpoint down (or too slow) at its first check waited a whole health interval for the next.
"""

from __future__ import annotations

import dataclasses
import time

import msgspec

from actors.router import Router, network_children
from protocol.network import EndpointConfig, EndpointSnapshot
from rpc.client import RpcClient, endpoint_path
from supervision import Handle, start_tree, supervisor_spec
from tests.network_http.conftest import CHAIN_ID, TEST_BREAKER, TEST_ROUTING, Network, start_network
from tests.waiting import wait_until

#: Longer than any wait below: an endpoint routable within them did not get there by its periodic check.
LONG_INTERVAL_S = 60.0
#: Failures never open this breaker and its reset is long: only the start-up retries can make it routable.
NEVER_OPENS = msgspec.structs.replace(TEST_BREAKER, failure_threshold=1000, window_min_calls=20,
                                  window_error_rate=0.99, reset_timeout_s=120.0, max_reset_timeout_s=120.0)
#: A hang guard well under LONG_INTERVAL_S (the retries reach it in about 2 s; the rest is a loaded box's slack).
ROUTABLE_WITHIN_S = 20.0


def _checked(path: str) -> bool:
    snap = Handle(path).snapshot()
    return isinstance(snap, EndpointSnapshot) and snap.checked


def test_an_endpoint_checked_while_the_router_starts_is_routable_without_waiting_for_its_next_check(
    anvil, fault_proxies
) -> None:
    (proxy,) = fault_proxies(1)
    proxy.apply("latency=2s")  # e0's first check answers well after the router has read the snapshots
    path = endpoint_path("e0")
    read_at_start: dict[str, EndpointSnapshot] = {}

    class RouterSlowToStart(Router):
        """Reads the endpoints' snapshots, then returns from on_start only once e0 has published its first
        check: e0's tell comes while the router is still starting (a start on a loaded machine)."""

        def on_start(self) -> None:
            super().on_start()
            read_at_start.update(self.snapshots)
            wait_until(lambda: _checked(path), 15.0, "e0's first check published")

    children = network_children([EndpointConfig(name="e0", url=proxy.url, chain_id=CHAIN_ID)], CHAIN_ID,
                                routing=TEST_ROUTING, breaker=TEST_BREAKER, health_interval_s=LONG_INTERVAL_S,
                                health_timeout_s=10.0)
    children[-1] = dataclasses.replace(children[-1], start=RouterSlowToStart)
    client = RpcClient(policy=TEST_ROUTING)
    start_tree(supervisor_spec("root", [supervisor_spec("network", children)]))
    net = Network(["e0"], client)
    try:
        assert not read_at_start["e0"].checked  # the order this test is about: read, then checked, then bound
        net.wait_routes({"e0"}, ROUTABLE_WITHIN_S)
        assert proxy.calls("eth_chainId") == 1  # its one start-up check did it: no periodic one came in between
    finally:
        net.stop()


def test_an_endpoint_down_at_start_is_routable_soon_after_it_comes_up_whatever_the_health_interval(
    anvil, fault_proxies
) -> None:
    live, down = fault_proxies(2)
    down.stop()  # refuses connections; it comes back on the same port
    net = start_network({"e0": live.url, "e1": down.url}, breaker=NEVER_OPENS, health_interval_s=LONG_INTERVAL_S,
                        health_timeout_s=1.0, expect_routes={"e0"})
    try:
        wait_until(lambda: net.endpoint("e1").errors.get("connection", 0), what="e1's first check refused",
                   until=lambda n: n >= 1)
        down.start()
        up_at = time.monotonic()
        net.wait_routes({"e0", "e1"}, ROUTABLE_WITHIN_S)
        assert time.monotonic() - up_at < LONG_INTERVAL_S
        assert net.breaker("e1") == "CLOSED"
    finally:
        net.stop()


def test_start_up_retries_do_not_open_the_breaker_sooner(anvil, fault_proxies) -> None:
    """TEST_BREAKER opens after 3 failures; the retries are many more, but only the periodic checks count."""
    live, down = fault_proxies(2)
    down.stop()
    net = start_network({"e0": live.url, "e1": down.url}, breaker=TEST_BREAKER, health_interval_s=LONG_INTERVAL_S,
                        health_timeout_s=1.0, expect_routes={"e0"})
    try:
        wait_until(lambda: net.endpoint("e1").errors.get("connection", 0), what="four refused checks of e1",
                   until=lambda n: n >= TEST_BREAKER.failure_threshold + 1, timeout=ROUTABLE_WITHIN_S)
        assert net.breaker("e1") == "STARTING" and net.endpoint("e1").state_changes == 0  # never OPEN
        down.start()
        net.wait_routes({"e0", "e1"}, ROUTABLE_WITHIN_S)
    finally:
        net.stop()


def test_an_endpoint_too_slow_for_its_first_check_is_routable_once_it_answers_in_time(
    anvil, fault_proxies
) -> None:
    live, slow = fault_proxies(2)
    slow.apply("stall")  # every request hangs: the first check times out
    net = start_network({"e0": live.url, "e1": slow.url}, breaker=NEVER_OPENS, health_interval_s=LONG_INTERVAL_S,
                        health_timeout_s=0.5, expect_routes={"e0"})
    try:
        wait_until(lambda: net.endpoint("e1").errors.get("timeout", 0), what="e1's first check timed out",
                   until=lambda n: n >= 1)
        slow.clear()
        net.wait_routes({"e0", "e1"}, ROUTABLE_WITHIN_S)
        assert net.breaker("e1") == "CLOSED"
    finally:
        net.stop()
