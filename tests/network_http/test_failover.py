"""Failover against real anvil behind fault proxies: kills, restarts, throttling, slowness, lag, broadcast."""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

import pytest
from eth_account import Account

from tests.waiting import wait_until

#: anvil's first default account (a well-known test key, never a real secret).
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

pytestmark = pytest.mark.anvil


def test_endpoint_killed_and_restarted_mid_stream(anvil, fault_proxies, network) -> None:
    by_name = {p.name: p for p in fault_proxies(3)}
    net = network({n: s.url for n, s in by_name.items()})
    account = anvil.web3().eth.accounts[2]
    truth = hex(anvil.web3().eth.get_balance(account))
    victim = net.routes()[0]
    errors: list[BaseException] = []
    wrong: list[object] = []
    reads = 0
    stop = threading.Event()
    killed = threading.Event()

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                answer = net.client.request("eth_getBalance", [account, "latest"])
                if answer != truth:
                    wrong.append(answer)
            except BaseException as e:
                errors.append(e)
            reads += 1
            if reads == 50:
                killed.set()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        assert killed.wait(30)
        by_name[victim].stop()  # connections refused from now on
        wait_until(lambda: net.breaker(victim) in ("OPEN", "HALF_OPEN"), what=f"{victim} opens")
        wait_until(lambda: victim not in net.routes(), what=f"router drops {victim}")
        by_name[victim].start()  # back on the same port
        net.wait_routes(set(by_name))  # the HALF_OPEN probe succeeded and closed it
        done_at = reads
        wait_until(lambda: reads > done_at + 50, what="more reads after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert errors == [] and wrong == []
    assert net.endpoint(victim).errors.get("connection", 0) >= 1


def test_429_parks_the_endpoint_without_opening_its_breaker(anvil, fault_proxies, network) -> None:
    by_name = {p.name: p for p in fault_proxies(3)}
    net = network({n: s.url for n, s in by_name.items()})
    throttled = net.routes()[0]
    by_name[throttled].apply("429=30s")
    account = anvil.web3().eth.accounts[0]
    for _ in range(20):
        net.client.request("eth_getBalance", [account, "latest"])
    # One request met the 429; the park (Retry-After: 30 s) kept every later one away.
    assert by_name[throttled].calls("eth_getBalance") == 1
    snap = wait_until(lambda: (s := net.endpoint(throttled)).parked_until > time.monotonic() + 20 and s,
                      what="park published")
    assert snap.errors.get("rate_limited") == 1
    assert snap.breaker == "CLOSED", "a 429 must never open the breaker"


def test_hedge_fires_and_wins_against_a_slow_endpoint(anvil, fault_proxies, network) -> None:
    by_name = {p.name: p for p in fault_proxies(3)}
    net = network({n: s.url for n, s in by_name.items()})
    slow = net.routes()[0]
    by_name[slow].apply("latency=500ms")
    account = anvil.web3().eth.accounts[0]
    truth = hex(anvil.web3().eth.get_balance(account))
    hedge_target = net.routes()[1]
    fired, won = net.client.hedges.fired, net.client.hedges.won
    won_by = dict(net.client.hedges.won_by)
    assert net.client.request("eth_getBalance", [account, "latest"]) == truth
    assert net.client.hedges.fired == fired + 1 and net.client.hedges.won == won + 1
    assert slow not in net.client.hedges.won_by
    # The answer is the hedge's, sent to the next endpoint in the table, not the slow endpoint's.
    assert net.client.hedges.won_by.get(hedge_target, 0) == won_by.get(hedge_target, 0) + 1
    # The loser is cancelled after the grace period and reported SLOW (not a breaker failure): its error
    # rate rises, so routing moves away from it, while its breaker stays CLOSED.
    wait_until(lambda: net.endpoint(slow).errors.get("slow", 0) >= 1, what="the lost race reported as slow")
    wait_until(lambda: net.routes()[0] != slow, what="slow endpoint demoted")
    assert net.breaker(slow) == "CLOSED"
    assert net.client.hedges.losers_cancelled >= 1


def test_lagging_endpoint_is_excluded_until_it_catches_up(anvil, fault_proxies, network) -> None:
    by_name = {p.name: p for p in fault_proxies(3)}
    net = network({n: s.url for n, s in by_name.items()})
    stale = "e1"
    frozen = by_name[stale].apply("stale").stale_at  # the head is frozen by the time apply returns
    assert frozen == int(anvil.web3().eth.block_number)
    anvil.web3().provider.make_request("anvil_mine", [5])
    wait_until(lambda: net.breaker(stale) == "LAGGING", what=f"{stale} lagging")
    wait_until(lambda: stale not in net.routes(), what=f"router drops {stale}")
    head = int(anvil.web3().eth.block_number)
    for _ in range(10):  # reads never see the frozen head
        assert int(net.client.request("eth_blockNumber"), 16) == head
    by_name[stale].clear()
    net.wait_routes(set(by_name))


def test_send_raw_transaction_reaches_every_healthy_endpoint(anvil, fault_proxies, network) -> None:
    by_name = {p.name: p for p in fault_proxies(3)}
    net = network({n: s.url for n, s in by_name.items()})
    w3 = anvil.web3()
    sender = Account.from_key(ANVIL_KEY_0)
    tx: dict[str, Any] = {"to": w3.eth.accounts[3], "value": 12345, "gas": 21000, "maxFeePerGas": 10**10,
          "maxPriorityFeePerGas": 10**9, "nonce": w3.eth.get_transaction_count(sender.address),
          "chainId": 31337, "type": 2}
    raw = sender.sign_transaction(tx).raw_transaction
    down = "e2"
    by_name[down].apply("error=500")
    tx_hash = net.client.send_raw_transaction(raw)
    assert tx_hash == "0x" + sender.sign_transaction(tx).hash.hex().removeprefix("0x")
    for name, proxy in by_name.items():
        wait_until(partial(proxy.calls, "eth_sendRawTransaction"), what=f"{name} got the tx")
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert receipt["status"] == 1
    # Sending it again: nodes answer "already known" / "nonce too low"; the hash proves it is ours.
    by_name[down].clear()
    assert net.client.send_raw_transaction(raw) == tx_hash


def test_every_endpoint_stalled_fails_within_the_deadline(anvil, fault_proxies, network) -> None:
    from rpc.errors import RpcUnavailable
    from rpc.routing import RoutingPolicy

    proxies = fault_proxies(3)
    policy = RoutingPolicy(attempt_timeout_s=0.2, deadline_s=0.6, hedge_min_s=0.02, hedge_max_s=0.05)
    net = network({p.name: p.url for p in proxies}, routing=policy)
    for proxy in proxies:
        proxy.apply("stall")
    with pytest.raises(RpcUnavailable) as failed:  # the read ends on its own: pytest's timeout is the hang guard
        net.client.request("eth_getBalance", [anvil.web3().eth.accounts[0], "latest"])
    # Every endpoint was tried once (hedges and retries within max_attempts) and each attempt ended on its
    # timeout: the stalled answers were never waited for beyond the attempt timeout and the deadline.
    assert sorted(name for name, _ in failed.value.attempts) == ["e0", "e1", "e2"]
    assert all(kind == "timeout" for _, kind in failed.value.attempts), failed.value.attempts
    assert [proxy.calls("eth_getBalance") for proxy in proxies] == [1, 1, 1]
    assert all(proxy.stats().get("stall", 0) >= 1 for proxy in proxies)  # (health probes stall too)


def test_an_actor_reads_through_a_future_piped_back_as_a_message(anvil, fault_proxies, network) -> None:
    """Inside an actor a read never blocks the handler: request_future + ctx.pipe, answer as a message."""
    import msgspec

    from rpc.client import RpcClient
    from supervision import ActorContext, ChildSpec, Handle, SupervisedActor

    class AskHead(msgspec.Struct, frozen=True):
        pass

    class HeadAnswer(msgspec.Struct, frozen=True):
        value: object

    got: list[object] = []
    answered = threading.Event()

    class HeadWatcher(SupervisedActor):
        def __init__(self, ctx: ActorContext, *, client: RpcClient) -> None:
            super().__init__(ctx)
            self.client = client

        def receive(self, msg: object) -> object:
            match msg:
                case AskHead():
                    self.ctx.pipe(self.client.request_future("eth_blockNumber"), HeadAnswer)
                case HeadAnswer(value=value):
                    got.append(value)
                    answered.set()
            return None

    proxies = fault_proxies(2)
    net = network({p.name: p.url for p in proxies},
                  extra=lambda client: [ChildSpec(id="watcher", start=HeadWatcher, kwargs={"client": client})])
    assert net.client.wait_ready().routes
    Handle("/watcher").tell(AskHead())
    assert answered.wait(10)
    assert got == [hex(anvil.web3().eth.block_number)]
