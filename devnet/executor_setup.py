"""Devnet set-up of the bot's executor contract: deploy it from the bot's account and fund its inventory.

Uses anvil's unlocked dev accounts (eth_sendTransaction): DEVNET ONLY. On a real chain the operator
deploys and funds the contract and configures its address.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3

from devnet.deploy import calldata

EXECUTOR_ARTIFACT = Path(__file__).resolve().parent.parent / "contracts" / "build" / "Executor.json"


class ExecutorSetupFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"executor set-up failed at {step!r}: {reason}")


def executor_artifact() -> dict[str, Any]:
    return dict(json.loads(EXECUTOR_ARTIFACT.read_text()))


def _transact(w3: Web3, step: str, fields: dict[str, Any]) -> dict[str, Any]:
    answer = w3.provider.make_request("eth_sendTransaction", [fields])  # type: ignore[arg-type]
    if "error" in answer:
        raise ExecutorSetupFailed(step, str(answer["error"]))
    receipt = w3.eth.wait_for_transaction_receipt(answer["result"], timeout=30)
    if receipt["status"] != 1:
        raise ExecutorSetupFailed(step, f"transaction {answer['result']} reverted")
    return dict(receipt)


def deploy_executor(w3: Web3, owner: str, *, weth: str, weth_inventory_wei: int) -> str:
    """Deploy Executor from `owner`, wrap `weth_inventory_wei` of owner's ETH and hand it to the executor."""
    owner = to_checksum_address(owner)
    code = executor_artifact()["bytecode"]
    receipt = _transact(w3, "deploy Executor", {"from": owner, "data": code if code.startswith("0x") else "0x" + code,
                                                "gas": hex(3_000_000)})
    executor = to_checksum_address(receipt["contractAddress"])
    if weth_inventory_wei > 0:
        _transact(w3, "wrap ETH", {"from": owner, "to": weth, "value": hex(weth_inventory_wei),
                                   "data": calldata("deposit()", [], []), "gas": hex(100_000)})
        _transact(w3, "fund executor", {"from": owner, "to": weth, "gas": hex(100_000),
                                        "data": calldata("transfer(address,uint256)", ["address", "uint256"],
                                                         [executor, weth_inventory_wei])})
    return executor
