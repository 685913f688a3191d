"""Send the market's swaps to the chain: transfer tokenIn to the pair, then pair.swap(...). I/O.

No router is deployed: a Uniswap V2 pair takes as input whatever its balance exceeds its reserve
by, so a swap is two transactions from the same account, back to back (consecutive nonces keep
them in order). Between the two, a third party's swap on the same pair would absorb the
transferred tokens; the trader pays a higher priority fee than the bot's default so both land
first in a shared block, and a swap that still reverts is reported, not hidden.

Transactions are signed locally with the trader's key (a public anvil dev key, never the bot's),
with explicit nonce, gas and fees: one eth_sendRawTransaction each, no estimate round trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec
from eth_account import Account
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from devnet.accounts import DevAccount
from devnet.deploy import GET_RESERVES, calldata
from devnet.market import SwapOrder, swap_outputs
from devnet.world import DevnetWorld, PoolInfo

GAS_TRANSFER = 80_000
GAS_SWAP = 150_000
MAX_FEE_PER_GAS = 100 * 10**9
TRADER_PRIORITY_FEE = 3 * 10**9  # above the bot's usual tip, so transfer+swap are not split


class SwapFailed(Exception):
    def __init__(self, pool: str, reason: str) -> None:
        super().__init__(f"market swap on {pool} failed: {reason}")
        self.pool = pool
        self.reason = reason


class SwapSubmitted(msgspec.Struct, frozen=True):
    pool: str  # label, e.g. "sushiswap:WETH/USDC"
    order: SwapOrder
    transfer_tx: str
    swap_tx: str


def read_reserves(w3: Web3, pool: str, block: str = "pending") -> tuple[int, int]:
    """getReserves() of one pair; `pending` sees swaps already sent but not yet mined."""
    answer = w3.provider.make_request("eth_call", [{"to": pool, "data": GET_RESERVES}, block])  # type: ignore[arg-type]
    if "error" in answer:
        raise SwapFailed(pool, f"getReserves: {answer['error']}")
    raw = bytes.fromhex(answer["result"][2:])
    if len(raw) < 96:
        raise SwapFailed(pool, f"getReserves answered {len(raw)} bytes, expected 96")
    return int.from_bytes(raw[0:32], "big"), int.from_bytes(raw[32:64], "big")


def read_all_reserves(w3: Web3, world: DevnetWorld, block: str = "pending") -> dict[str, tuple[int, int]]:
    return {p.address: read_reserves(w3, p.address, block) for p in world.pools}


class LiveReserves(Mapping[str, tuple[int, int]]):
    """Reserves read from the chain when looked up: the generator touches one pool per step, so
    handing it this instead of a full snapshot costs one eth_call per step instead of one per pool."""

    def __init__(self, w3: Web3, pools: Iterable[str], block: str = "pending") -> None:
        self._w3 = w3
        self._pools = tuple(pools)
        self._block = block

    def __getitem__(self, pool: str) -> tuple[int, int]:
        if pool not in self._pools:
            raise KeyError(pool)
        return read_reserves(self._w3, pool, self._block)

    def __iter__(self) -> Iterator[str]:
        return iter(self._pools)

    def __len__(self) -> int:
        return len(self._pools)


class SwapTrader:
    """Signs and sends market swaps from one account; the only user of that account's nonces."""

    def __init__(
        self,
        w3: Web3,
        world: DevnetWorld,
        account: DevAccount,
        *,
        priority_fee_wei: int = TRADER_PRIORITY_FEE,
        max_fee_per_gas: int = MAX_FEE_PER_GAS,
    ) -> None:
        self.w3 = w3
        self.world = world
        self.account = account
        self.address = to_checksum_address(account.address)
        self._signer = Account.from_key(account.key)  # derive the public key once, not per signature
        self.priority_fee_wei = priority_fee_wei
        self.max_fee_per_gas = max_fee_per_gas
        self._pools = {p.address: p for p in world.pools}
        self._nonce: int | None = None

    def submit(self, order: SwapOrder) -> SwapSubmitted:
        """Send the transfer and the swap of `order`; returns at once with both hashes (no mining wait)."""
        pool = self._pools.get(order.pool)
        if pool is None:
            raise SwapFailed(order.pool, "not a pool of this devnet")
        token_in = pool.token0 if order.zero_for_one else pool.token1
        out0, out1 = swap_outputs(order.zero_for_one, order.amount_out)
        transfer = calldata("transfer(address,uint256)", ["address", "uint256"], [pool.address, order.amount_in])
        swap = calldata(
            "swap(uint256,uint256,address,bytes)",
            ["uint256", "uint256", "address", "bytes"],
            [out0, out1, self.address, b""],
        )
        transfer_tx = self._send(pool, token_in, transfer, GAS_TRANSFER)
        swap_tx = self._send(pool, pool.address, swap, GAS_SWAP)
        return SwapSubmitted(pool.label, order, transfer_tx, swap_tx)

    def receipt_ok(self, tx_hash: str) -> bool | None:
        """True mined and succeeded, False reverted, None not mined yet."""
        answer = self.w3.provider.make_request("eth_getTransactionReceipt", [tx_hash])  # type: ignore[arg-type]
        result = answer.get("result")
        if not result:
            return None
        return int(result["status"], 16) == 1

    def wait_ok(self, tx_hash: str, timeout_s: float = 30.0) -> bool:
        """Wait (bounded) for the transaction's block; True if it succeeded. For tests and tools:
        the simulator itself never waits, it checks receipts on later steps with receipt_ok."""
        receipt = self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout_s, poll_latency=0.005)
        return int(receipt["status"]) == 1

    def _send(self, pool: PoolInfo, to: str, data: str, gas: int) -> str:
        if self._nonce is None:
            self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.world.chain_id,
            "nonce": self._nonce,
            "to": to,
            "value": 0,
            "gas": gas,
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.priority_fee_wei,
            "data": data,
        }
        raw = self._signer.sign_transaction(tx).raw_transaction
        answer = self.w3.provider.make_request("eth_sendRawTransaction", ["0x" + raw.hex()])  # type: ignore[arg-type]
        if "error" in answer:
            self._nonce = None  # resynchronise from the node on the next send
            message = answer["error"].get("message", answer["error"]) if isinstance(answer["error"], dict) else answer
            raise SwapFailed(pool.label, f"eth_sendRawTransaction: {message}")
        self._nonce += 1
        return str(answer["result"])
