"""Why a trade reverted on chain, decided from data: its receipt, its plan and the block it landed in.

The causes are tried in this order, the first that holds is the answer:

1. out_of_gas: the receipt's gasUsed reached the gas limit signed (an out-of-gas revert burns all of it);
2. deadline_passed: mined in a block after the call's deadline block (the contract's first check);
3. self_interference: one of our own transactions earlier in the same block wrote a Sync of one of the
   route's pools (our own trades moved the prices this one was sized on). Checked before the market:
   it is the cause the executor can rule out itself (execution.pipeline parks trades on busy pools);
4. late_to_market_swap: someone else's transaction earlier in the same block wrote such a Sync (the
   market moved first, e.g. a higher tip ordered it ahead of us);
5. stale_reserves: nothing touched the pools earlier in the block, yet their reserves at the start of it
   differ from those the trade was sized and simulated on (they moved in a block between);
6. unknown: none of these; the node's revert reason, if it gave one, is the detail.

Without the block's evidence (the reads failed) only 1, 2 and 6 can be decided, and the detail says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from execution.answers import BadAnswer, quantity
from execution.reserve_book import SYNC_TOPIC
from protocol.chain import ChainLog
from protocol.execution import PoolTouch, RevertCause, RevertEvidence, RevertProbe
from protocol.trading import Leg

WEI_PER_ETH = 10**18


@dataclasses.dataclass(frozen=True)
class RevertVerdict:
    cause: RevertCause
    detail: str
    rival: PoolTouch | None = None  # late_to_market_swap: the transaction that went first (its fees)


def revert_cause(probe: RevertProbe, evidence: RevertEvidence | None, unread: str = "") -> RevertVerdict:
    """The cause of `probe`'s revert; `evidence` None when the block could not be read (`unread` says why)."""
    if probe.gas_limit > 0 and probe.gas_used >= probe.gas_limit:
        return RevertVerdict(RevertCause.OUT_OF_GAS, f"used {probe.gas_used} of its {probe.gas_limit} gas limit")
    if probe.deadline_block is not None and probe.block > probe.deadline_block:
        return RevertVerdict(RevertCause.DEADLINE_PASSED,
                             f"mined in block {probe.block}, deadline block {probe.deadline_block}")
    if evidence is None:
        return RevertVerdict(RevertCause.UNKNOWN, f"block evidence unreadable: {unread or 'no answer'}")
    pools = set(probe.sized_on)
    earlier = sorted((t for t in evidence.touches if t.tx_index < probe.tx_index and t.pool.lower() in pools),
                     key=lambda t: (t.tx_index, t.tx_hash, t.pool))
    ours = [t for t in earlier if t.sender.lower() == probe.account.lower() and t.tx_hash != probe.tx_hash]
    if ours:
        first = ours[0]
        return RevertVerdict(RevertCause.SELF_INTERFERENCE,
                             f"our tx {first.tx_hash} (index {first.tx_index}) moved pool {first.pool} first")
    theirs = [t for t in earlier if t.sender.lower() != probe.account.lower()]
    if theirs:
        first = theirs[0]
        return RevertVerdict(RevertCause.LATE_TO_MARKET_SWAP,
                             f"tx {first.tx_hash} from {first.sender} (index {first.tx_index}, tip "
                             f"{first.tip_wei} wei/gas, max fee {first.max_fee_wei}) moved pool {first.pool} first",
                             first)
    moved = sorted(p for p, sized in probe.sized_on.items()
                   if p in evidence.reserves_before and evidence.reserves_before[p] != sized)
    if moved:
        pool = moved[0]
        return RevertVerdict(RevertCause.STALE_RESERVES,
                             f"pool {pool} held {evidence.reserves_before[pool]} at block {probe.block - 1}, "
                             f"sized on {probe.sized_on[pool]}")
    unchecked = sorted(pools - set(evidence.reserves_before))
    detail = f"reason: {evidence.reason}" if evidence.reason else "no revert reason given"
    if unchecked:
        detail += f"; reserves of {', '.join(unchecked)} unread"
    return RevertVerdict(RevertCause.UNKNOWN, detail)


def pool_touches(block: object, logs: Sequence[ChainLog]) -> tuple[PoolTouch, ...]:
    """The Sync logs of one block (eth_getLogs of the route's pools) with their senders, from the block's
    full transactions (eth_getBlockByNumber(n, true)); BadAnswer if the block does not say who sent them."""
    if not isinstance(block, Mapping) or not isinstance(block.get("transactions"), list):
        raise BadAnswer("block: expected an object with its transactions")
    base_fee = _quantity_or_zero(block.get("baseFeePerGas"))
    senders: dict[str, tuple[str, int, int]] = {}
    for tx in block["transactions"]:
        if isinstance(tx, Mapping) and isinstance(tx.get("hash"), str) and isinstance(tx.get("from"), str):
            senders[tx["hash"].lower()] = (tx["from"], _tip(tx, base_fee),
                                           _quantity_or_zero(tx.get("maxFeePerGas") or tx.get("gasPrice")))
    touches = []
    for log in logs:
        if log.removed or not log.topics or log.topics[0].lower() != SYNC_TOPIC:
            continue
        found = senders.get(log.transaction_hash.lower())
        if found is None:
            raise BadAnswer(f"block: no transaction {log.transaction_hash} for a Sync log in it")
        touches.append(PoolTouch(log.transaction_index, log.transaction_hash, found[0], log.address.lower(),
                                 found[1], found[2]))
    return tuple(touches)


def _quantity_or_zero(value: object) -> int:
    try:
        return quantity(value, "quantity")
    except BadAnswer:
        return 0


def _tip(tx: Mapping[str, object], base_fee: int) -> int:
    """The priority fee per gas a transaction paid: min(tip cap, fee cap - base fee); legacy: gas price - base fee."""
    fee_cap = _quantity_or_zero(tx.get("maxFeePerGas") or tx.get("gasPrice"))
    tip_cap = _quantity_or_zero(tx.get("maxPriorityFeePerGas") or tx.get("gasPrice"))
    return max(0, min(tip_cap, fee_cap - base_fee))


def sized_on(route: tuple[Leg, ...]) -> dict[str, tuple[int, int]]:
    """Per pool of the route (lowercase), the (reserve0, reserve1) its leg was sized on.

    A Uniswap V2 pair's token0 is the lower address, so a leg selling the lower token has reserve_in first.
    A pool the route crosses twice keeps its first leg's view (what the trade was sized on)."""
    seen: dict[str, tuple[int, int]] = {}
    for leg in route:
        zero_in = leg.token_in.lower() < leg.token_out.lower()
        seen.setdefault(leg.pool.lower(), (leg.reserve_in, leg.reserve_out) if zero_in
                        else (leg.reserve_out, leg.reserve_in))
    return seen


def revert_line(probe: RevertProbe, verdict: RevertVerdict) -> str:
    """The WARNING an operator reads: tx hash, block, cause (and what shows it), gas lost in gas, wei and ETH."""
    return (f"trade {probe.trade_id} reverted: tx {probe.tx_hash} in block {probe.block}, cause {verdict.cause.value} "
            f"({verdict.detail}); gas lost {probe.gas_used} gas = {probe.gas_cost_wei} wei "
            f"({probe.gas_cost_wei / WEI_PER_ETH:.6f} ETH)")
