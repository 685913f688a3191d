"""The executor pipeline's vocabulary: its configuration, its state, the actions it asks for.

The pipeline (execution.pipeline.step) is a pure table: (state, event) -> (state, actions). The actor
(actors/executor.py) feeds it the messages of protocol.execution and performs the actions: it asks the
risk book, starts the chain coroutines of adapters.executor_chain, tells outcomes, logs, publishes. No
action is performed inside the table, so the whole trade lifecycle is testable without a node
(tests/execution/test_pipeline.py).

The state is replaced, never mutated: its mappings are fresh dicts on every change (they are small: the
trades deciding or in flight, a few tokens), built only by the helpers here and in the rule modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from execution.ledger import Trade, counts, outcome_of
from execution.nonces import NonceBook
from execution.resume import in_flight
from execution.tips import Bid
from execution.transaction import SignedTx, fee_caps, transaction
from protocol.execution import (
    ExecutionPolicy,
    ExecutorSnapshot,
    RevertCause,
    RevertProbe,
    RouteFailed,
    SubmitMode,
    TradeStage,
)
from protocol.risk import MarketView
from protocol.trading import Opportunity, TradeOutcome

MAX_SEND_ATTEMPTS = 2  # the first send and one after a "nonce too low" resync
MAX_UNASSESSED = 256  # trades that failed before the risk book answered, kept to release its reservation
#: The startup read (chain id, head, nonce, inventory) is retried after 1 s, doubling per failure in a row up
#: to 30 s: endpoints down at start are waited for visibly (each failure's line names the next attempt).
STARTUP_RETRY_S = 1.0
STARTUP_RETRY_MAX_S = 30.0
ZERO_ADDRESS = "0x" + "00" * 20

#: Signs a transaction dict for the configured chain (execution.transaction.sign with the executor's
#: Signer bound): deterministic, so the table stays a function of its inputs. Raises WrongChain.
SignFn = Callable[[dict[str, object]], SignedTx]


class PipelineConfig(msgspec.Struct, frozen=True):
    """What does not change while the executor runs."""

    chain_id: int
    account: str  # the sending account ("" in paper mode without one)
    executor_address: str
    policy: ExecutionPolicy = ExecutionPolicy()
    sign: SignFn | None = None  # None: paper mode, nothing can be signed


class PipelineState(msgspec.Struct, frozen=True):
    """Everything the executor decides with. `active` holds every trade deciding or in flight (keyed by
    opportunity id); `parked` the opportunities waiting for an in-flight trade on their pools;
    `unassessed` trades that ended before the risk book answered (a late approval must be released)."""

    mode: SubmitMode
    nonces: NonceBook
    ready: bool = False  # the startup read came back (chain id, head, nonce, inventory)
    head: int = 0
    base_fee_wei: int = 0
    inventory: Mapping[str, int] = {}  # the executor contract's balance per base token, wei
    active: Mapping[str, Trade] = {}
    parked: Mapping[str, Trade] = {}
    unassessed: Mapping[str, Trade] = {}
    send_queue: tuple[str, ...] = ()  # approved and simulated, waiting for the one send slot
    sending: str | None = None  # the trade whose send (or nonce read before it) awaits its answer
    following: bool = False  # an inclusion check is out
    received: int = 0
    tally: Mapping[TradeStage, int] = {}  # final trades per stage since the first incarnation
    realized: Mapping[str, int] = {}  # realized profit per token, wei
    gas_spent_wei: int = 0
    stopped: str | None = None  # the emergency stop's reason while one is active: nothing is signed or sent
    reverts_by_cause: Mapping[str, int] = {}  # RevertCause value -> reverted trades explained so far
    bid: Bid = Bid()  # the tip and max-fee floor learned by losing races (execution.tips); the policy's when lower
    startup_failures: int = 0  # startup reads failed in a row (the retry delay doubles with each)
    rivals: str = "unread"  # the first trade's rivals: "unread", "reading" (nothing is sent meanwhile), "read"


def initial_state(mode: SubmitMode, account: str) -> PipelineState:
    return PipelineState(mode=mode, nonces=NonceBook(account), tally=counts(()))


# Actions: what the actor performs, in order (see actors/executor.py for the phases) --------------------


class AskRisk(msgspec.Struct, frozen=True, tag=True):
    """Ask the risk book (AssessTrade); its answer comes back as Assessed(trade_id, ...)."""

    trade_id: str
    opportunity: Opportunity
    market: MarketView


class Simulate(msgspec.Struct, frozen=True, tag=True):
    """eth_call + eth_estimateGas of `tx` at latest, and each route pair's price accumulator (whether it
    is still zero prices the gas the next block adds: execution.profitability); comes back as Simulated."""

    trade_id: str
    tx: dict[str, object]
    amount_in: int
    pairs: tuple[str, ...] = ()


class Broadcast(msgspec.Struct, frozen=True, tag=True):
    """Send a signed transaction: a bundle for `bundle_block` (private mode) or public; comes back as Sent."""

    trade_id: str
    signed: SignedTx
    bundle_block: int | None = None
    cancellation: bool = False
    deadline_block: int | None = None  # not sent if the chain's head reached it by the time it would leave


class ReadNonce(msgspec.Struct, frozen=True, tag=True):
    """eth_getTransactionCount(account, pending); comes back as NonceSynced(result, retry)."""

    retry: str | None = None


class ReadInclusion(msgspec.Struct, frozen=True, tag=True):
    """The head and the receipts of `hashes`; comes back as Followed."""

    hashes: tuple[str, ...]


class ReadStartup(msgspec.Struct, frozen=True, tag=True):
    """Chain id, head, pending nonce of `account` (None: paper mode) and inventory; comes back as Started."""

    account: str | None


class RetryStartupAfter(msgspec.Struct, frozen=True, tag=True):
    delay_s: float


class ExplainRevert(msgspec.Struct, frozen=True, tag=True):
    """Read the block a trade reverted in (its pools' Syncs, their reserves before it, the revert reason);
    comes back as RevertExplained."""

    probe: RevertProbe


class ReadRivals(msgspec.Struct, frozen=True, tag=True):
    """Read who moved `pools` in `block` (the first opportunity's), to bid above them; comes back as RivalsRead."""

    block: int
    pools: tuple[str, ...]


class RevertClassified(msgspec.Struct, frozen=True, tag=True):
    """A revert's cause is known: count it (arbiter_trade_reverts_total{cause}) and log `line` as a WARNING."""

    trade_id: str
    cause: RevertCause
    line: str


class Finished(msgspec.Struct, frozen=True, tag=True):
    """A trade reached its final stage: record it (GetTrades) and log its line. Exactly once per trade."""

    trade: Any  # execution.ledger.Trade


class Report(msgspec.Struct, frozen=True, tag=True):
    """Tell the risk book the outcome of a trade it approved (RecordOutcome). Exactly once per approval."""

    outcome: TradeOutcome


class BlameRoute(msgspec.Struct, frozen=True, tag=True):
    """Tell the strategy a route's pools are at fault (RouteFailed)."""

    failed: RouteFailed


class Note(msgspec.Struct, frozen=True, tag=True):
    """A log line: level is a loguru level name."""

    level: str
    text: str
    trace_id: str | None = None


class Publish(msgspec.Struct, frozen=True, tag=True):
    """Publish the snapshot of the step's final state (once per step, before any I/O starts)."""


PUBLISH = Publish()

Action = (AskRisk | Simulate | Broadcast | ReadNonce | ReadInclusion | ReadStartup | RetryStartupAfter | ExplainRevert
          | ReadRivals | RevertClassified | Finished | Report | BlameRoute | Note | Publish)


# Helpers over the state ----------------------------------------------------------------------------------


def tip_of(s: PipelineState, cfg: PipelineConfig) -> int:
    """The tip trades are sent with: the policy's, or the one learned from a rival that beat us, if higher."""
    return max(cfg.policy.priority_fee_wei, s.bid.tip_wei)


def fees_of(s: PipelineState, cfg: PipelineConfig) -> tuple[int, int]:
    """(maxFeePerGas, tip) a trade is sent with now: today's caps at our tip, above the learned floor."""
    max_fee, tip = fee_caps(s.base_fee_wei, tip_of(s, cfg))
    return max(max_fee, s.bid.max_fee_floor_wei), tip


def put(s: PipelineState, trade: Trade) -> PipelineState:
    return msgspec.structs.replace(s, active={**s.active, trade.opportunity.id: trade})


def busy_pools(trades: Iterable[Trade]) -> frozenset[str]:
    return frozenset().union(*(t.pools for t in trades))


def committed(s: PipelineState, token: str, *, besides: str) -> int:
    """What trades of `token` sized or sent, other than `besides`, will take out of the contract first."""
    return sum(t.record.amount_in for t in s.active.values()
               if (t.call is not None or t.hashes) and t.record.token == token and t.opportunity.id != besides)


def tx_for(s: PipelineState, cfg: PipelineConfig, data: str, *, nonce: int, gas: int) -> dict[str, object]:
    """The executor call as a transaction at today's fee caps (from ZERO_ADDRESS on paper without an account)."""
    max_fee, tip = fees_of(s, cfg)
    return transaction(chain_id=cfg.chain_id, sender=cfg.account or ZERO_ADDRESS, to=cfg.executor_address,
                       data=data, nonce=nonce, gas=gas, max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)


def finish(s: PipelineState, trade: Trade, out: list[Action]) -> PipelineState:
    """A final trade: leaves the pipeline, is recorded, reported to the risk book if it approved it."""
    record = trade.record
    active = {k: v for k, v in s.active.items() if k != record.opportunity_id}
    tally = {**s.tally, record.stage: s.tally.get(record.stage, 0) + 1}
    unassessed = s.unassessed
    out.append(Finished(trade))
    if trade.approved:
        out.append(Report(outcome_of(trade)))
    elif record.stage is TradeStage.SKIPPED and trade.call is not None:
        # asked but not answered yet: its assessment may still come back approved, with budget reserved
        unassessed = {**unassessed, record.opportunity_id: trade}
        while len(unassessed) > MAX_UNASSESSED:
            unassessed.pop(next(iter(unassessed)))
    out.append(PUBLISH)
    return msgspec.structs.replace(s, active=active, tally=tally, unassessed=unassessed)


def skip(s: PipelineState, trade: Trade, reason: str, out: list[Action]) -> PipelineState:
    return finish(s, trade.at(TradeStage.SKIPPED, reason=reason), out)


def snapshot(s: PipelineState, cfg: PipelineConfig, *, version: int, incarnation: int) -> ExecutorSnapshot:
    """What the actor publishes: counters, and every approved trade not final (what a restart resumes)."""
    submitted = sum(1 for t in s.active.values() if t.record.stage is TradeStage.SUBMITTED)
    return ExecutorSnapshot(
        mode=s.mode, account=cfg.account, chain_id=cfg.chain_id, received=s.received,
        deciding=len(s.active) - submitted, in_flight=submitted, parked=len(s.parked), stopped=s.stopped or "",
        mined=s.tally.get(TradeStage.MINED, 0), reverted=s.tally.get(TradeStage.REVERTED, 0),
        not_included=s.tally.get(TradeStage.NOT_INCLUDED, 0), skipped=s.tally.get(TradeStage.SKIPPED, 0),
        realized_profit=dict(s.realized), gas_cost_wei=s.gas_spent_wei, next_nonce=s.nonces.next_nonce,
        inventory=dict(s.inventory), last_head=s.head, version=version,
        in_flight_trades=tuple(in_flight(t) for t in s.active.values() if t.approved), incarnation=incarnation,
        reverts_by_cause=dict(s.reverts_by_cause), priority_fee_wei=tip_of(s, cfg),
        max_fee_floor_wei=s.bid.max_fee_floor_wei,
    )

