"""eth_call lies and head lies behind the real fault proxy: the liar ends QUARANTINED with the evidence in
`inspect`, and callers get correct answers throughout."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator

import pytest

from console.commands import inspect
from devnet.anvil import Anvil
from devnet.fault_proxy import FaultProxy
from rpc.client import endpoint_path
from tests.network_http.conftest import TEST_ROUTING
from tests.waiting import wait_until

SAMPLE_ALL = dataclasses.replace(TEST_ROUTING, consensus_sample_rate=1.0)
#: Priority decides the ranking: e0 serves the reads, e2 only answers cross-checks.
PINNED_SAMPLE_ALL = dataclasses.replace(SAMPLE_ALL, latency_bucket_s=10.0)
#: Init code of a contract whose every call returns the word 42 (runtime: 602a60005260206000f3).
ANSWER_42 = "0x600a600c600039600a6000f3602a60005260206000f3"


def evidence(name: str) -> list[str]:
    """What the console's `inspect /network/rpc:NAME` shows as the endpoint's evidence of lies."""
    shown = inspect(argparse.Namespace(path=endpoint_path(name)))
    found: list[str] = shown["extra"]["evidence"]
    assert shown["breaker"] == "QUARANTINED" and shown["snapshot"]["breaker"] == "QUARANTINED"
    return found


def test_an_endpoint_lying_about_eth_call_is_quarantined_and_callers_always_get_the_truth(
    anvil, fault_proxies, network
) -> None:
    w3 = anvil.web3()
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": ANSWER_42})
    contract = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    w3.provider.make_request("evm_mine", [])  # cross-checks read a block below the tip: let it exist there
    call = [{"to": contract, "data": "0x"}, "latest"]
    truth = w3.provider.make_request("eth_call", call)["result"]
    assert int(truth, 16) == 42
    proxies = fault_proxies(3)
    net = network({f"e{i}": p.url for i, p in enumerate(proxies)}, routing=PINNED_SAMPLE_ALL)
    proxies[2].apply("lie=call")
    answers: list[str] = []

    def quarantined() -> bool:
        answers.append(net.client.request("eth_call", call))
        return net.breaker("e2") == "QUARANTINED"

    wait_until(quarantined, what="e2 quarantined")
    assert proxies[2].calls("eth_call") >= 1  # it was asked (by the cross-checks) and lied
    assert answers and all(a == truth for a in answers)
    assert net.breaker("e0") == net.breaker("e1") == "CLOSED"
    shown = evidence("e2")
    assert shown and shown[-1].startswith("eth_call(")
    assert "where 2 of 3 endpoints (e0, e1) answered" in shown[-1]
    assert net.endpoint("e2").reason.startswith("lying answer: eth_call")
    net.wait_routes({"e0", "e1"})
    assert all(net.client.request("eth_call", call) == truth for _ in range(20))


@pytest.fixture
def mining() -> Iterator[tuple[Anvil, list[FaultProxy]]]:
    """An anvil mining every 0.25 s (the client learns the block interval) and three proxies in front."""
    with Anvil(block_time_s=0.25) as node:
        proxies = [FaultProxy(node.http_url, name=f"h{i}", seed=i).start() for i in range(3)]
        try:
            yield node, proxies
        finally:
            for proxy in proxies:
                proxy.stop()


def test_an_endpoint_lying_about_its_head_is_quarantined_and_callers_never_see_the_lie(mining, network) -> None:
    node, proxies = mining
    net = network({f"e{i}": p.url for i, p in enumerate(proxies)}, routing=dataclasses.replace(
        TEST_ROUTING, latency_bucket_s=10.0))  # e0, the liar to be, carries every read
    w3 = node.web3()
    tracker = net.client.dispatcher.verify.heads
    start = w3.eth.block_number
    wait_until(lambda: int(net.client.request("eth_blockNumber"), 16), what="three blocks seen",
               until=lambda head: head >= start + 3 and tracker.interval_s is not None)
    proxies[0].apply("lie=head")  # its eth_blockNumber answers are 1000 blocks ahead from now on
    seen: list[int] = []

    def quarantined() -> bool:
        before = w3.eth.block_number
        head = int(net.client.request("eth_blockNumber"), 16)
        after = w3.eth.block_number
        assert before - 1 <= head <= after, f"answered {head} while the chain went {before} -> {after}"
        seen.append(head)
        return net.breaker("e0") == "QUARANTINED"

    wait_until(quarantined, what="e0 quarantined")
    assert seen == sorted(seen)
    assert proxies[0].calls("eth_blockNumber") >= 1
    assert net.breaker("e1") == net.breaker("e2") == "CLOSED"
    shown = evidence("e0")
    assert shown and shown[-1].startswith("head ")
    assert "where the others answered" in shown[-1]
    net.wait_routes({"e1", "e2"})
    assert tracker.best is not None and tracker.best <= w3.eth.block_number
