"""What the strategy tells the executor, and what the executor records about each trade.

Amounts are ints in the profit token's wei (expected/realized profit) or ETH wei (gas). A
`TradeRecord` is the executor's account of one opportunity from hand-over to final state; the
risk book hears the same story as a `protocol.trading.TradeOutcome`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from protocol.risk import MarketView
from protocol.trading import Opportunity


class SubmitMode(StrEnum):
    PUBLIC = "public"  # eth_sendRawTransaction through the router (broadcast to every healthy endpoint)
    PRIVATE = "private"  # a Flashbots-style bundle to the configured relay: never seen in the public mempool
    PAPER = "paper"  # detect, simulate and record; never sign, never send


class TradeStage(StrEnum):
    """Where a trade is; the last four are final."""

    RECEIVED = "received"
    ASSESSED = "assessed"
    SIMULATED = "simulated"
    SUBMITTED = "submitted"
    MINED = "mined"  # included and succeeded
    REVERTED = "reverted"  # included and reverted (e.g. minProfit after a frontrun): gas lost
    NOT_INCLUDED = "not_included"  # a bundle past its target block, or a replaced public tx
    SKIPPED = "skipped"  # never sent: stale, rejected by risk, simulation failed, paper mode

    @property
    def final(self) -> bool:
        return self in FINAL_STAGES


FINAL_STAGES = frozenset({TradeStage.MINED, TradeStage.REVERTED, TradeStage.NOT_INCLUDED, TradeStage.SKIPPED})


class ExecutionPolicy(msgspec.Struct, frozen=True):
    """How the executor trades: fees, on-chain guards, patience. Defaults are documented where used."""

    priority_fee_wei: int = 10**9  # the tip; the max fee is 2 * base fee + tip (two full base-fee rises)
    min_profit_bps: int = 5_000  # minProfit = this share of the expected profit (execution.transaction)
    min_net_profit_wei: int = 1  # a trade is sent only if its simulated profit net of gas is at least this
    deadline_blocks: int = 2  # deadlineBlock = current block + this
    stuck_after_blocks: int = 3  # a public transaction unmined this long (past its deadline) is cancelled
    max_priority_fee_wei: int = 20 * 10**9  # the most the tip may rise to when outbidding a rival (execution.tips)
    max_fee_cap_wei: int = 500 * 10**9  # the most maxFeePerGas may rise to when outbidding a rival (execution.tips)
    follow_interval_s: float = 0.02  # receipts of in-flight trades are looked up this often (one batch)


class ExecuteOpportunity(msgspec.Struct, frozen=True, tag=True):
    """Strategy -> executor: trade this if it still holds (the envelope's trace id is opportunity.id).

    `market` is the recent price history of the route's tokens, handed on to the risk book.
    """

    opportunity: Opportunity
    market: MarketView = MarketView(prices={})


class ChainHead(msgspec.Struct, frozen=True, tag=True):
    """Strategy (or the feed) -> executor: a new head; follow inclusion of what is in flight."""

    number: int
    hash: str
    base_fee_wei: int


class TradeRecord(msgspec.Struct, frozen=True):
    """One opportunity's fate. simulated_profit comes from eth_call of the exact signed call;
    realized_profit from the receipt's token transfers (both in profit-token wei)."""

    opportunity_id: str
    stage: TradeStage
    mode: SubmitMode
    token: str
    detected_block: int
    amount_in: int
    expected_profit: int  # exact, at detection-time reserves, for amount_in (after any resize by the risk book)
    min_profit: int = 0
    simulated_profit: int | None = None
    simulated_net_profit: int | None = None  # simulated_profit less the simulated gas at the bid (profit token)
    realized_profit: int | None = None
    gas_limit: int = 0
    simulated_gas: int | None = None  # eth_estimateGas of the exact call at latest
    gas_used: int = 0
    gas_cost_wei: int = 0
    tx_hash: str | None = None
    nonce: int | None = None
    target_block: int | None = None
    included_block: int | None = None
    reason: str = ""
    detected_at: float = 0.0  # wall clock (time.time()) of the strategy's scan
    submitted_at: float | None = None  # when the node / relay accepted the transaction
    updated_at: float = 0.0


class GetTrades(msgspec.Struct, frozen=True, tag=True):
    """Ask the executor for its trade records (newest last)."""

    limit: int = 100


class InFlightTrade(msgspec.Struct, frozen=True):
    """A trade the risk book approved that is not final yet, as the executor publishes it.

    Published snapshots outlive an actor's incarnation, so a restarted executor reads these back and
    follows each trade to its end: its outcome still reaches the risk book, exactly once. `record`
    carries the stage, amount_in, expected/simulated profit, tx hash, nonce and target block; the
    opportunity carries the tokens and the valuations the outcome is priced with. No hashes: never
    signed (it is reported as skipped on resume). The raw signed transaction is not kept: a resumed
    trade is only followed (or cancelled), never sent again.
    """

    opportunity: Opportunity
    record: TradeRecord
    hashes: tuple[str, ...] = ()  # every transaction sent with the trade's nonce, the trade's own first
    sent_block: int = 0  # the node's head at the first inclusion check (0: not checked yet)
    max_fee_per_gas: int = 0  # of the trade's transaction: a cancellation must outbid both
    max_priority_fee_per_gas: int = 0


class ExecutorSnapshot(msgspec.Struct, frozen=True):
    """What the executor publishes after each change; readers need no mailbox hop.

    The counters run since the first incarnation (a restarted executor carries them on).
    """

    mode: SubmitMode
    account: str
    chain_id: int
    received: int
    deciding: int  # opportunities being sized, assessed, simulated or signed (not parked, not submitted)
    in_flight: int  # submitted, not yet final
    mined: int
    reverted: int
    not_included: int
    skipped: int
    realized_profit: dict[str, int]  # per profit token, wei
    gas_cost_wei: int
    next_nonce: int | None
    inventory: dict[str, int]  # the executor contract's balance per base token, wei
    last_head: int
    version: int
    in_flight_trades: tuple[InFlightTrade, ...] = ()  # approved and not final: what a restart resumes
    incarnation: int = 1  # of the executor actor that published this (1: never restarted)
    parked: int = 0  # opportunities waiting for our own in-flight trade on their pools to be final
    stopped: str = ""  # the emergency stop's reason while one is active: nothing is signed or sent
    reverts_by_cause: dict[str, int] = {}  # reverted trades per RevertCause value, since the first incarnation
    priority_fee_wei: int = 0  # the tip trades are sent with now (raised after losing to a rival's, execution.tips)
    max_fee_floor_wei: int = 0  # the floor under maxFeePerGas learned the same way (0: none)


class RouteFailed(msgspec.Struct, frozen=True, tag=True):
    """Executor -> strategy: a route's simulation failed for a reason that is the pools' fault
    (a fee-on-transfer token breaks the pair's K check, a transfer that fails...): stop routing them."""

    opportunity_id: str
    pools: tuple[str, ...]
    reason: str


class StrategySnapshot(msgspec.Struct, frozen=True):
    """What the strategy publishes after each scan."""

    scanned_block: int
    market_version: int
    pools: int
    cycles: int
    found: int  # opportunities the last scan found
    handed: int  # opportunities handed to the executor since start
    scan_s: float  # duration of the last scan (graph update + search)
    quarantined: tuple[str, ...]
    rejected: tuple[str, ...]  # pools the search screened out (e.g. dust), as "address: defect"


# --- the executor's own messages: results of its chain I/O (adapters.executor_chain), piped back to it ---------


class Started(msgspec.Struct, frozen=True, tag=True):
    result: Any


class Assessed(msgspec.Struct, frozen=True, tag=True):
    trade_id: str
    result: Any  # RiskAssessment or the error


class Simulated(msgspec.Struct, frozen=True, tag=True):
    result: Any  # Simulation or the error
    trade_id: str = ""  # whose simulation it was, and of which size: known even when `result` is an error
    amount_in: int = 0


class Sent(msgspec.Struct, frozen=True, tag=True):
    trade_id: str
    tx_hash: str
    result: Any  # the node's / relay's answer or the error
    cancellation: bool = False
    nonce_too_low: bool = False  # the error says the nonce is used (classified at the I/O edge, rpc.routing)
    held: bool = False  # never left: an emergency stop was active when the send was about to start
    late: bool = False  # never left: the chain's head had reached the trade's deadline block (a sure revert)


class StopChanged(msgspec.Struct, frozen=True, tag=True):
    """The risk book's emergency stop, as the executor read it from the book's published snapshot.

    Active: nothing more is signed or sent; approved trades not yet sent end as skipped with the reason;
    trades already in the mempool are listed (CancelInFlight replaces them with a cancel)."""

    active: bool
    reason: str = ""


class CancelInFlight(msgspec.Struct, frozen=True, tag=True):
    """Operator -> executor: replace every trade in the mempool with a zero-value self-transfer at its nonce."""

    by: str = "console"


class NonceSynced(msgspec.Struct, frozen=True, tag=True):
    result: Any  # the pending count or the error
    retry: str | None = None  # a trade to re-sign and resend once the book is synced


class Followed(msgspec.Struct, frozen=True, tag=True):
    result: Any  # Inclusion or the error


class FollowTick(msgspec.Struct, frozen=True, tag=True):
    pass


class RetryStartup(msgspec.Struct, frozen=True, tag=True):
    pass


class Startup(msgspec.Struct, frozen=True, tag=True):
    chain_id: int
    head: int
    base_fee_wei: int
    pending_nonce: int | None
    inventory: dict[str, int]


class Simulation(msgspec.Struct, frozen=True, tag=True):
    """eth_call and eth_estimateGas of the exact call at `latest`: profit and gas, or the revert reason."""

    trade_id: str
    profit: int | None
    gas: int | None
    error: str = ""
    amount_in: int = 0  # the size simulated: a result for a size since changed is ignored
    accumulating: int | None = None  # route pairs whose price accumulators are already non-zero (None: unknown)


class RevertCause(StrEnum):
    """Why a trade reverted on chain (execution.revert_cause.revert_cause decides, from the block's data)."""

    OUT_OF_GAS = "out_of_gas"  # it used its whole gas limit
    DEADLINE_PASSED = "deadline_passed"  # mined after its deadline block
    SELF_INTERFERENCE = "self_interference"  # another of our own trades moved one of its pools earlier in the block
    LATE_TO_MARKET_SWAP = "late_to_market_swap"  # someone else's swap moved one of its pools earlier in the block
    STALE_RESERVES = "stale_reserves"  # its pools had moved before the block already (vs the reserves it was sized on)
    UNKNOWN = "unknown"  # none of the above: the revert reason, if the node gives it, says more


class RevertProbe(msgspec.Struct, frozen=True):
    """A reverted trade as its receipt and its plan describe it: what the revert is explained against.

    `sized_on` holds, per pool of the route (lowercase address), the (reserve0, reserve1) the trade was
    sized and simulated on (the opportunity's legs at detection)."""

    trade_id: str
    tx_hash: str
    block: int
    tx_index: int
    account: str  # our sending account: a transaction from it is one of our own trades
    gas_used: int
    gas_limit: int
    gas_cost_wei: int
    deadline_block: int | None  # None: not known (a trade taken over at a restart)
    sized_on: dict[str, tuple[int, int]]
    sent_tip_wei: int = 0  # the fees the reverted transaction was sent with
    sent_max_fee_wei: int = 0


class PoolTouch(msgspec.Struct, frozen=True):
    """A transaction of the same block that wrote a Sync of one of the route's pools."""

    tx_index: int
    tx_hash: str
    sender: str
    pool: str
    tip_wei: int = 0  # the priority fee it paid per gas (what builders order by)
    max_fee_wei: int = 0  # its maxFeePerGas (gas price if legacy): what anvil orders by


class RevertEvidence(msgspec.Struct, frozen=True, tag=True):
    """What the chain says about the block a trade reverted in (adapters.executor_chain.revert_evidence).

    `touches`: Sync logs of the route's pools in that block, with their transactions' senders;
    `reserves_before`: getReserves of each pool at the block before (lowercase address -> (r0, r1));
    `reason`: the revert reason the node gives for the transaction ("" if none could be had)."""

    touches: tuple[PoolTouch, ...]
    reserves_before: dict[str, tuple[int, int]]
    reason: str = ""


class RivalsRead(msgspec.Struct, frozen=True, tag=True):
    """Who moved the first trade's pools in its detection block (PoolTouch tuple), or the error."""

    result: Any


class RevertExplained(msgspec.Struct, frozen=True, tag=True):
    probe: RevertProbe
    result: Any  # RevertEvidence or the error that kept the chain from answering


class Inclusion(msgspec.Struct, frozen=True, tag=True):
    """The head, then the receipts of the hashes asked for (None: not mined yet)."""

    head: int
    base_fee_wei: int
    receipts: dict[str, Any]
