"""The relay stub against anvil: signature checked, bundles land atomically at their target or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest
from eth_account import Account

from adapters.relay_client import RelayClient, RelayRefused
from devnet.accounts import BOT, MARKET_TRADER
from devnet.deploy import calldata
from devnet.relay_stub import RelayStub
from devnet.session import Devnet
from execution.bundle import SIGNATURE_HEADER, send_bundle_body, sign_body
from protocol.secrets import Secret
from supervision.io_loop import io_loop
from tests.execution.helpers import checksum

GWEI = 10**9


@pytest.fixture
def relay(devnet: Devnet) -> Iterator[RelayStub]:
    with devnet.isolated(), RelayStub(devnet.node.http_url, allowed_signers=[BOT.address]) as stub:
        yield stub


def signed(devnet: Devnet, nonce: int, *, to: str | None = None, data: str = "0x", value: int = 1) -> str:
    tx = {"type": 2, "chainId": devnet.world.chain_id, "nonce": nonce, "to": to or MARKET_TRADER.address,
          "value": value, "gas": 100_000, "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": GWEI, "data": data}
    return "0x" + bytes(Account.from_key(BOT.key).sign_transaction(tx).raw_transaction).hex()


def send(stub: RelayStub, txs: list[str], target: int, key: str = BOT.key) -> str:
    client = RelayClient(Secret(stub.url), Secret(key))

    async def go() -> str:
        try:
            return await client.send_bundle(txs, target)
        finally:
            await client.close()

    return io_loop().submit(go()).result(10)


def test_bundle_lands_at_its_target_block(devnet: Devnet, relay: RelayStub) -> None:
    w3 = devnet.w3
    nonce = w3.eth.get_transaction_count(checksum(BOT.address))
    head = w3.eth.block_number
    txs = [signed(devnet, nonce), signed(devnet, nonce + 1)]
    bundle_hash = send(relay, txs, head + 1)
    [fate] = relay.wait_for_fates(1, 10.0)
    assert fate.included and fate.bundle_hash == bundle_hash and fate.signer == BOT.address
    block = w3.eth.get_block(head + 1, full_transactions=False)
    mined = ["0x" + bytes(h).hex() for h in block["transactions"]]  # type: ignore[arg-type]
    assert mined == list(fate.tx_hashes)  # both, in order, one block


def test_reverting_bundle_is_dropped_without_a_trace(devnet: Devnet, relay: RelayStub) -> None:
    w3 = devnet.w3
    nonce = w3.eth.get_transaction_count(checksum(BOT.address))
    head = w3.eth.block_number
    balance = w3.eth.get_balance(checksum(BOT.address))
    withdraw_too_much = calldata("withdraw(uint256)", ["uint256"], [10**30])
    txs = [signed(devnet, nonce), signed(devnet, nonce + 1, to=devnet.world.weth.address, data=withdraw_too_much,
                                          value=0)]
    send(relay, txs, head + 1)
    [fate] = relay.wait_for_fates(1, 10.0)
    assert not fate.included and fate.reason == f"reverted: {fate.tx_hashes[1]}"
    assert w3.eth.block_number == head  # the built block was thrown away
    devnet.node.mine(1)  # and its transactions are not left in the mempool for a later block
    assert w3.eth.get_transaction_count(checksum(BOT.address)) == nonce
    assert w3.eth.get_balance(checksum(BOT.address)) == balance


def test_bad_or_foreign_signatures_are_refused(devnet: Devnet, relay: RelayStub) -> None:
    head = devnet.w3.eth.block_number
    body = send_bundle_body([signed(devnet, 0)], head + 1)
    header = sign_body(body, Secret(BOT.key))

    async def post(data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as session, session.post(relay.url, data=data, headers=headers) as r:
            return r.status, await r.json()

    status, answer = asyncio.run(post(body + b" ", {SIGNATURE_HEADER: header}))  # one byte more than was signed
    assert status == 403 and "bad X-Flashbots-Signature" in str(answer["error"])
    status, _ = asyncio.run(post(body, {}))
    assert status == 403
    with pytest.raises(RelayRefused, match="not allowed"):
        send(relay, [signed(devnet, 0)], head + 1, key=MARKET_TRADER.key)
    assert len(relay.refused) == 3 and relay.fates == []
    assert devnet.w3.eth.block_number == head
