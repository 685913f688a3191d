"""A real anvil with the real Uniswap V2 factory/pair bytecode, three ERC20s and our Executor.

One node per test module (anvil starts in ~50 ms, deploying takes a few hundred ms); every test
runs inside an evm_snapshot that is reverted afterwards, so tests never see each other's trades.
The node is stopped even when a test fails (devnet.anvil.Anvil is a context manager and also
kills its process group at exit).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from devnet import artifacts
from devnet.anvil import Anvil

REPO = Path(__file__).resolve().parents[2]
EXECUTOR_ARTIFACT = REPO / "contracts" / "build" / "Executor.json"
SUPPLY = 10**36


def v2_artifact(name: str) -> dict[str, Any]:
    """A @uniswap/v2-core artifact (through the devnet's loader) in the form World.deploy takes."""
    artifact = artifacts.uniswap_v2(name)
    return {"abi": artifact.abi, "bytecode": artifact.bytecode}


def executor_artifact() -> dict[str, Any]:
    return json.loads(EXECUTOR_ARTIFACT.read_text())


@dataclass
class World:
    """Handles on the deployed contracts; owner deployed everything, stranger owns nothing."""

    anvil: Anvil
    w3: Web3
    owner: str
    stranger: str
    factories: dict[str, Contract]  # dex name -> factory
    tokens: list[Contract]  # three ERC20s, sorted by address (tokens[0] < tokens[1] < tokens[2])
    executor: Contract
    pair_abi: list[dict[str, Any]]
    erc20_abi: list[dict[str, Any]]

    def send(self, call: Any, sender: str | None = None, gas: int | None = None) -> Any:
        """Transact and wait for the receipt; raises if it reverted (with the reason, replayed)."""
        tx_hash = call.transact({"from": sender or self.owner} | ({} if gas is None else {"gas": gas}))
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
        if receipt["status"] != 1:
            tx: Any = self.w3.eth.get_transaction(tx_hash)
            replay = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
            try:
                self.w3.eth.call(replay, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
                reason = "no revert when replayed on the parent block"
            except Exception as exc:
                reason = str(exc)
            raise AssertionError(f"transaction reverted ({reason}), gas {receipt['gasUsed']} of {tx['gas']}")
        return receipt

    def deploy(self, artifact: dict[str, Any], *args: Any, sender: str | None = None) -> Contract:
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.send(factory.constructor(*args), sender)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])

    def pair(self, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=self.pair_abi)

    def token(self, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=self.erc20_abi)

    def create_pool(self, dex: str, token_a: Contract, token_b: Contract, amount_a: int, amount_b: int) -> Contract:
        """createPair on the dex's factory and seed it (transfer both sides, then mint)."""
        factory = self.factories[dex]
        self.send(factory.functions.createPair(token_a.address, token_b.address))
        pair = self.pair(factory.functions.getPair(token_a.address, token_b.address).call())
        self.send(token_a.functions.transfer(pair.address, amount_a))
        self.send(token_b.functions.transfer(pair.address, amount_b))
        self.send(pair.functions.mint(self.owner))
        return pair

    def next_block_later(self, seconds: int = 12) -> None:
        """Make the next block's timestamp differ from every earlier one.

        A pair accumulates its TWAP prices (two SSTOREs) on the first reserve change in a block
        with a new timestamp. Whether that happens must not depend on whether the wall clock
        ticked between two automined blocks, or gas figures (and eth_estimateGas) turn flaky.
        """
        self.anvil.rpc("evm_increaseTime", seconds)

    def age(self, *pairs: Contract) -> None:
        """Give fresh pairs a price history (non-zero cumulative prices), like pairs in service."""
        self.next_block_later()
        for pair in pairs:
            self.send(pair.functions.sync())

    def reserves(self, pair: Contract) -> tuple[int, int]:
        reserves: Any = pair.functions.getReserves().call()
        return int(reserves[0]), int(reserves[1])

    def balance(self, token: Contract, holder: str) -> int:
        return token.functions.balanceOf(holder).call()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Anvil(block_time_s=None) as anvil:
        w3 = anvil.web3()
        accounts: Any = w3.eth.accounts
        owner, stranger = accounts[0], accounts[3]
        erc20 = v2_artifact("ERC20")
        pair = v2_artifact("UniswapV2Pair")
        probe = World(anvil, w3, owner, stranger, {}, [], None, pair["abi"], erc20["abi"])  # type: ignore[arg-type]
        factory_artifact = v2_artifact("UniswapV2Factory")
        probe.factories = {dex: probe.deploy(factory_artifact, owner) for dex in ("uniswap", "sushiswap")}
        tokens = [probe.deploy(erc20, SUPPLY) for _ in range(3)]
        probe.tokens = sorted(tokens, key=lambda t: int(t.address, 16))
        probe.executor = probe.deploy(executor_artifact())
        yield probe


@pytest.fixture
def chain(world: World) -> Iterator[World]:
    """The world, with every change made by the test reverted afterwards."""
    with world.anvil.isolated():
        yield world
