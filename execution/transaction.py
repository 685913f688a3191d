"""The Executor.execute call for an opportunity, the EIP-1559 transaction around it, and its signature.

Everything is exact integers. A transaction is signed only for the chain id the executor was
configured with: `sign` refuses any other, so a misrouted node can never make us sign a replayable
transaction for a different chain.
"""

from __future__ import annotations

import eth_abi
import msgspec
from eth_utils import keccak, to_checksum_address

from amm.v2 import route_amount_out
from execution.signer import Signer
from protocol.secrets import Secret
from protocol.trading import Opportunity

EXECUTE_SIGNATURE = "execute(address[],address[],uint16[],uint256,uint256,uint256)"
EXECUTE_SELECTOR = keccak(text=EXECUTE_SIGNATURE)[:4]
EXECUTE_TYPES = ["address[]", "address[]", "uint16[]", "uint256", "uint256", "uint256"]
CANCEL_GAS = 21_000

#: The trade reverts on chain unless it earns at least this share of the expected profit: enough
#: slack for an unrelated swap that nudges a reserve, none for someone who took the opportunity.
DEFAULT_MIN_PROFIT_BPS = 5_000
#: block.number <= detected + this, enforced by the contract: a trade never lands on stale prices.
DEFAULT_DEADLINE_BLOCKS = 2
#: eth_estimateGas plus this share as the gas limit (an out-of-gas revert costs all of it).
GAS_LIMIT_HEADROOM_PCT = 120
#: Plus this per hop: a simulation at `latest` runs with the latest block's timestamp, so a pair that
#: already synced in that block skips its price-accumulator update (timeElapsed == 0); in the next
#: block the same swap writes price0/1CumulativeLast: up to two more SSTOREs per pair (~44k
#: measured on the devnet for a 2-hop route). Unused gas is not charged, so the margin is free.
GAS_MARGIN_PER_HOP = 45_000


class WrongChain(Exception):
    def __init__(self, configured: int, asked: int | None) -> None:
        super().__init__(f"refusing to sign for chain id {asked}: configured for {configured}")
        self.configured = configured
        self.asked = asked


class BadRoute(ValueError):
    """An opportunity whose legs do not form a cycle the executor contract can run."""


class ExecuteCall(msgspec.Struct, frozen=True):
    """The arguments of Executor.execute, in order."""

    pairs: tuple[str, ...]
    path: tuple[str, ...]
    fees_bps: tuple[int, ...]
    amount_in: int
    min_profit: int
    deadline_block: int

    def calldata(self) -> str:
        args = [list(self.pairs), list(self.path), list(self.fees_bps), self.amount_in, self.min_profit,
                self.deadline_block]
        return "0x" + (EXECUTE_SELECTOR + eth_abi.encode(EXECUTE_TYPES, args)).hex()


class SignedTx(msgspec.Struct, frozen=True):
    raw: str  # 0x-prefixed
    tx_hash: str
    nonce: int
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def route_hops(opportunity: Opportunity) -> tuple[tuple[int, int, int], ...]:
    """(reserve_in, reserve_out, fee_bps) of each leg, as seen at detection."""
    return tuple((leg.reserve_in, leg.reserve_out, leg.fee_bps) for leg in opportunity.route)


def expected_profit(opportunity: Opportunity, amount_in: int) -> int:
    """Exact profit of the route at detection-time reserves for `amount_in` (for a resized trade)."""
    if amount_in <= 0:
        return 0
    return route_amount_out(amount_in, route_hops(opportunity)) - amount_in


def min_profit_for(expected: int, min_profit_bps: int = DEFAULT_MIN_PROFIT_BPS) -> int:
    """The on-chain floor for a trade expected to earn `expected`: a share of it, at least 1 wei."""
    return max(1, expected * min_profit_bps // 10_000)


def execute_call(
    opportunity: Opportunity,
    *,
    amount_in: int,
    head_block: int,
    min_profit_bps: int = DEFAULT_MIN_PROFIT_BPS,
    deadline_blocks: int = DEFAULT_DEADLINE_BLOCKS,
    min_profit_floor: int = 0,
) -> ExecuteCall:
    """Executor.execute's arguments for `opportunity` sized at `amount_in`; BadRoute if it is not a cycle.

    minProfit is min_profit_bps of the expected profit, and at least `min_profit_floor` (the gas the trade
    will pay, in the profit token: execution.profitability), so a trade that lands never loses money.
    """
    legs = opportunity.route
    if len(legs) < 2:
        raise BadRoute(f"opportunity {opportunity.id}: a route needs two hops, has {len(legs)}")
    path = [legs[0].token_in]
    for leg in legs:
        if leg.token_in.lower() != path[-1].lower():
            raise BadRoute(f"opportunity {opportunity.id}: leg into {leg.pool} does not continue the path")
        path.append(leg.token_out)
    if path[0].lower() != path[-1].lower() or path[0].lower() != opportunity.token.lower():
        raise BadRoute(f"opportunity {opportunity.id}: route does not return to {opportunity.token}")
    if amount_in <= 0:
        raise BadRoute(f"opportunity {opportunity.id}: amount_in {amount_in}")
    profit = expected_profit(opportunity, amount_in)
    return ExecuteCall(
        pairs=tuple(to_checksum_address(leg.pool) for leg in legs),
        path=tuple(to_checksum_address(token) for token in path),
        fees_bps=tuple(leg.fee_bps for leg in legs),
        amount_in=amount_in,
        min_profit=max(min_profit_for(profit, min_profit_bps), min_profit_floor),
        deadline_block=head_block + deadline_blocks,
    )


def gas_limit(estimate: int, hops: int) -> int:
    """The gas limit to sign for a route of `hops` swaps whose eth_estimateGas at latest was `estimate`."""
    return estimate * GAS_LIMIT_HEADROOM_PCT // 100 + GAS_MARGIN_PER_HOP * hops


def fee_caps(base_fee_wei: int, priority_fee_wei: int) -> tuple[int, int]:
    """(maxFeePerGas, maxPriorityFeePerGas): room for two full base-fee rises (12.5% each) plus the tip."""
    return base_fee_wei * 2 + priority_fee_wei, priority_fee_wei


def transaction(
    *,
    chain_id: int,
    sender: str,
    to: str,
    data: str,
    nonce: int,
    gas: int,
    max_fee_per_gas: int,
    max_priority_fee_per_gas: int,
    value: int = 0,
) -> dict[str, object]:
    """An EIP-1559 (type 2) transaction dict, as eth_account signs it and eth_call/estimateGas read it."""
    return {
        "type": 2,
        "chainId": chain_id,
        "from": to_checksum_address(sender),
        "to": to_checksum_address(to),
        "data": data,
        "nonce": nonce,
        "gas": gas,
        "maxFeePerGas": max_fee_per_gas,
        "maxPriorityFeePerGas": max_priority_fee_per_gas,
        "value": value,
    }


def call_params(tx: dict[str, object]) -> dict[str, object]:
    """The JSON-RPC object for eth_call / eth_estimateGas of `tx` (hex quantities, no nonce or gas)."""
    return {"from": tx["from"], "to": tx["to"], "data": tx["data"], "value": hex(int(tx.get("value", 0)))}  # type: ignore[call-overload]


def sign(tx: dict[str, object], key: Secret | Signer, *, configured_chain_id: int) -> SignedTx:
    """Sign `tx` with `key`, only if it is for the configured chain; the key never leaves this call."""
    if tx.get("chainId") != configured_chain_id:
        raise WrongChain(configured_chain_id, tx.get("chainId"))  # type: ignore[arg-type]
    account = key if isinstance(key, Signer) else Signer(key)
    if to_checksum_address(str(tx["from"])) != account.address:
        raise ValueError(f"transaction is from {tx['from']}, the key signs for {account.address}")
    fields = {k: v for k, v in tx.items() if k != "from"}
    signed = account.sign_transaction(fields)
    return SignedTx(
        raw="0x" + bytes(signed.raw_transaction).hex(),
        tx_hash="0x" + bytes(signed.hash).hex(),
        nonce=int(tx["nonce"]),  # type: ignore[call-overload]
        gas=int(tx["gas"]),  # type: ignore[call-overload]
        max_fee_per_gas=int(tx["maxFeePerGas"]),  # type: ignore[call-overload]
        max_priority_fee_per_gas=int(tx["maxPriorityFeePerGas"]),  # type: ignore[call-overload]
    )


def cancellation(
    *, chain_id: int, sender: str, nonce: int, max_fee_per_gas: int, max_priority_fee_per_gas: int
) -> dict[str, object]:
    """A 0-value self-transfer that takes a stuck transaction's nonce (the usual 'cancel')."""
    return transaction(chain_id=chain_id, sender=sender, to=sender, data="0x", nonce=nonce, gas=CANCEL_GAS,
                       max_fee_per_gas=max_fee_per_gas, max_priority_fee_per_gas=max_priority_fee_per_gas)


def decode_uint(result: str) -> int:
    """The uint256 an eth_call returned (execute's profit); ValueError on anything else."""
    data = bytes.fromhex(result.removeprefix("0x"))
    if len(data) != 32:
        raise ValueError(f"expected one uint256 word, got {len(data)} bytes")
    return int.from_bytes(data, "big")
