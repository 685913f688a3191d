"""web3 through ArbiterProvider answers exactly as web3 straight to anvil; metrics are served per endpoint."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import pytest
from eth_account import Account
from web3 import AsyncWeb3, Web3
from web3.exceptions import ContractLogicError

from rpc import metrics
from rpc.errors import RpcUnavailable
from rpc.provider import ArbiterProvider, AsyncArbiterProvider, jsonable
from tests.network_http.test_failover import ANVIL_KEY_0

pytestmark = pytest.mark.anvil

def test_web3_through_provider_matches_web3_direct(anvil, fault_proxies, network) -> None:
    proxies = fault_proxies(2)
    net = network({p.name: p.url for p in proxies})
    direct = anvil.web3()
    routed = Web3(ArbiterProvider(net.client))
    assert routed.is_connected()
    account = direct.eth.accounts[5]
    assert routed.eth.chain_id == direct.eth.chain_id == 31337
    assert routed.eth.block_number == direct.eth.block_number
    assert routed.eth.get_balance(account) == direct.eth.get_balance(account)
    assert routed.eth.get_transaction_count(account) == direct.eth.get_transaction_count(account)
    assert routed.eth.get_block("latest") == direct.eth.get_block("latest")
    assert routed.eth.gas_price == direct.eth.gas_price
    # A transaction sent through the provider is broadcast and mined; both views agree on its receipt.
    sender = Account.from_key(ANVIL_KEY_0)
    tx: dict[str, Any] = {"to": account, "value": 7, "gas": 21000, "maxFeePerGas": 10**10,
                          "maxPriorityFeePerGas": 10**9, "nonce": direct.eth.get_transaction_count(sender.address),
                          "chainId": 31337, "type": 2}
    tx_hash = routed.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    assert routed.eth.wait_for_transaction_receipt(tx_hash, timeout=10) == direct.eth.get_transaction_receipt(tx_hash)
    # Batches go through the client's batch path.
    with routed.batch_requests() as batch:
        batch.add(routed.eth.get_balance(account))
        batch.add(routed.eth.get_block(0))
        got = batch.execute()
    assert got == [direct.eth.get_balance(account), direct.eth.get_block(0)]


def test_a_revert_reaches_web3_as_a_revert_not_a_failover(anvil, fault_proxies, network) -> None:
    proxies = fault_proxies(2)
    net = network({p.name: p.url for p in proxies})
    direct = anvil.web3()
    # runtime: mstore the Error("no") payload and revert with it
    payload = "08c379a0" + f"{32:064x}" + f"{2:064x}" + b"no".hex().ljust(64, "0")
    runtime = ""
    for i in range(0, len(payload) // 2, 32):
        word = payload[i * 2:(i + 32) * 2].ljust(64, "0")
        runtime += "7f" + word + "60" + f"{i:02x}" + "52"  # PUSH32 word, PUSH1 offset, MSTORE
    runtime += "60" + f"{len(payload) // 2:02x}" + "6000fd"  # PUSH1 len, PUSH1 0, REVERT
    size = len(runtime) // 2
    init = "60" + f"{size:02x}" + "600c60003960" + f"{size:02x}" + "6000f3" + runtime
    sender = Account.from_key(ANVIL_KEY_0)
    tx: dict[str, Any] = {"data": "0x" + init, "gas": 500000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9,
          "nonce": direct.eth.get_transaction_count(sender.address), "chainId": 31337, "type": 2}
    receipt = direct.eth.wait_for_transaction_receipt(
        direct.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction), timeout=10)
    contract = receipt["contractAddress"]
    routed = Web3(ArbiterProvider(net.client))
    call: Any = {"to": contract, "data": "0x"}
    served_before = sum(p.calls("eth_call") for p in proxies)
    with pytest.raises(ContractLogicError, match="no"):
        routed.eth.call(call)
    with pytest.raises(ContractLogicError, match="no"):
        direct.eth.call(call)
    # Exactly one endpoint was asked: a revert is an answer, never a reason to fail over.
    assert sum(p.calls("eth_call") for p in proxies) == served_before + 1


def test_async_provider_from_another_event_loop(anvil, fault_proxies, network) -> None:
    proxies = fault_proxies(2)
    net = network({p.name: p.url for p in proxies})
    direct = anvil.web3()

    async def main() -> tuple[int, int, bool]:
        w3 = AsyncWeb3(AsyncArbiterProvider(net.client))
        return await w3.eth.chain_id, await w3.eth.get_balance(direct.eth.accounts[6]), await w3.is_connected()

    assert asyncio.run(main()) == (31337, direct.eth.get_balance(direct.eth.accounts[6]), True)


def test_jsonable_turns_bytes_into_hex() -> None:
    assert jsonable({"data": b"\x01\xff", "list": (b"", 3)}) == {"data": "0x01ff", "list": ["0x", 3]}


def test_metrics_are_served_per_endpoint_on_loopback(anvil, fault_proxies, network) -> None:
    proxies = fault_proxies(2)
    net = network({p.name: p.url for p in proxies})
    net.client.request("eth_blockNumber")
    port = metrics.start_metrics_server(0)
    assert metrics.start_metrics_server(0) == port  # idempotent
    from tests.waiting import wait_until

    def scraped() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())

    text = wait_until(lambda: (t := scraped()) and 'arbiter_rpc_requests_total{endpoint="e0"}' in t and t,
                      what="e0 metrics")
    for name in ("arbiter_rpc_latency_seconds_bucket", 'arbiter_rpc_breaker_state{endpoint="e1",state="CLOSED"} 1.0'):
        assert name in text


def test_endpoint_credentials_never_reach_snapshots_status_console_or_logs(anvil, network) -> None:
    from loguru import logger

    from console.registry import CommandRegistry
    from devnet.fault_proxy import FaultProxy
    from rpc.client import endpoint_path
    from rpc.commands import register_network_commands
    from supervision import Handle
    from supervision.introspect import snapshot_tree

    key, password = "abcdef0123456789abcdef", "hunter2hunter2"
    proxy = FaultProxy(anvil.http_url, name="keyed").start()
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{message} {extra}")
    try:
        secret_url = f"http://user:{password}@127.0.0.1:{proxy.port}/v3/{key}"
        net = network({"keyed": secret_url, "plain": proxy.url})
        assert net.client.request("eth_chainId") == "0x7a69"
        proxy.apply("error=500")  # faults produce log lines, breaker reasons and error messages too
        errors = []
        for _ in range(5):
            try:
                net.client.request("eth_chainId")
            except RpcUnavailable as e:
                errors.append(str(e))
        assert errors
        console = CommandRegistry()
        register_network_commands(console)
        shown = [
            repr(net.endpoint("keyed")),
            repr(Handle(endpoint_path("keyed")).snapshot()),
            repr(console.run(["routes"])),
            repr([info for info in snapshot_tree() if "keyed" in info.path]),
            *lines,
            *errors,
        ]
    finally:
        logger.remove(sink)
        proxy.stop()
    for text in shown:
        assert key not in text and password not in text, text
    assert "/v3/***" in net.endpoint("keyed").url
