"""Lying and frozen endpoints behind the real fault proxy, in front of a real anvil."""

from __future__ import annotations

import dataclasses

from tests.network_http.conftest import TEST_ROUTING
from tests.waiting import wait_until

SAMPLE_ALL = dataclasses.replace(TEST_ROUTING, consensus_sample_rate=1.0)


def test_an_endpoint_lying_about_balances_is_quarantined_with_the_evidence(anvil, fault_proxies, network) -> None:
    proxies = fault_proxies(3)
    net = network({f"e{i}": p.url for i, p in enumerate(proxies)}, routing=SAMPLE_ALL)
    account = anvil.web3().eth.accounts[1]
    truth = hex(anvil.web3().eth.get_balance(account))
    proxies[1].apply("lie=balance")

    def quarantined() -> bool:
        net.client.request("eth_getBalance", [account, "latest"])
        return net.breaker("e1") == "QUARANTINED"

    wait_until(quarantined, what="e1 quarantined")
    snap = net.endpoint("e1")
    assert snap.reason.startswith("lying answer: eth_getBalance")
    assert "where 2 of 3 endpoints (e0, e2) answered" in snap.reason
    assert net.breaker("e0") == net.breaker("e2") == "CLOSED"  # the honest majority is never quarantined
    net.wait_routes({"e0", "e2"})
    assert all(net.client.request("eth_getBalance", [account, "latest"]) == truth for _ in range(20))


def test_an_endpoint_lying_about_block_hashes_is_quarantined(anvil, fault_proxies, network) -> None:
    proxies = fault_proxies(3)
    net = network({f"e{i}": p.url for i, p in enumerate(proxies)}, routing=SAMPLE_ALL)
    proxies[2].apply("lie=blockhash")

    def quarantined() -> bool:
        net.client.request("eth_blockNumber")
        return net.breaker("e2") == "QUARANTINED"

    wait_until(quarantined, what="e2 quarantined")
    assert "eth_getBlockByNumber" in net.endpoint("e2").reason
    assert net.breaker("e0") == net.breaker("e1") == "CLOSED"


def test_a_frozen_head_is_never_served_more_than_one_block_behind_nor_backwards(anvil, fault_proxies, network) -> None:
    proxies = fault_proxies(3)
    net = network({f"e{i}": p.url for i, p in enumerate(proxies)})
    first = net.routes()[0]
    proxies[int(first[1:])].apply("freeze_head")
    w3 = anvil.web3()
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    real = w3.eth.block_number
    # The health checks (or any answer) report the real head; from then on nothing more than a block behind.
    wait_until(lambda: net.table().best_head == real, what="the best head reported")
    answers = [int(net.client.request("eth_blockNumber"), 16) for _ in range(50)]
    assert answers == sorted(answers)
    assert min(answers) >= real - 1
    assert net.client.dispatcher.verify.heads.floor == real
