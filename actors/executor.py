"""Executor: (assess | simulate) -> sign -> submit (public or bundle) -> follow inclusion -> record.

A thin shell over execution/: every chain call runs on the io loop and comes back as a message
(`ctx.pipe`), so the mailbox never waits on a socket; the handlers only decide. The risk book and
the node are asked at the same time: the simulation (eth_call + eth_estimateGas at latest) starts
at the full size and is redone only when the book sizes the trade down, so what is signed is always
exactly what was simulated. Sends go out one at a time (no nonce gaps). The key lives only in an
execution.signer.Signer, used by execution.transaction.sign and execution.bundle.sign_body.

A trade: RECEIVED -> ASSESSED -> SIMULATED -> SUBMITTED -> MINED | REVERTED | NOT_INCLUDED, or
SKIPPED at any step with the reason (stale, risk, simulation revert, paper mode...). Every final
trade the risk book approved is reported to it as a TradeOutcome, exactly once, across restarts: the
approved trades not yet final are part of every published snapshot, and a new incarnation takes
them over from its predecessor's last one (execution.resume) and follows them to their end.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from adapters import executor_chain as chain
from adapters.relay_client import RelayClient
from execution.ledger import Trade, Verdict, blames_pools, counts, new_trade, outcome_of, settle, verdict
from execution.nonces import InFlight, NonceBook, NonceUnknown, bump_fee
from execution.resume import in_flight, nonce_book, resume
from execution.signer import Signer
from execution.transaction import (
    BadRoute,
    WrongChain,
    cancellation,
    execute_call,
    expected_profit,
    fee_caps,
    gas_limit,
    sign,
    transaction,
)
from protocol.execution import (
    Assessed,
    ChainHead,
    ExecuteOpportunity,
    ExecutionPolicy,
    ExecutorSnapshot,
    Followed,
    FollowTick,
    GetTrades,
    NonceSynced,
    RetryStartup,
    RouteFailed,
    Sent,
    Simulated,
    Simulation,
    Started,
    SubmitMode,
    TradeRecord,
    TradeStage,
)
from protocol.risk import AssessTrade, RecordOutcome, RiskAssessment
from protocol.secrets import Secret
from rpc.routing import is_nonce_too_low
from supervision import ActorContext, Handle, SupervisedActor
from supervision.errors import ActorError
from supervision.io_loop import io_loop

RISK_TIMEOUT_S = 1.0
STARTUP_RETRY_S = 1.0
MAX_SEND_ATTEMPTS = 2  # the first send and one after a "nonce too low" resync
MAX_RECORDS = 1000  # trade records kept for GetTrades and the console
MAX_UNASSESSED = 256  # trades that failed before the risk book answered, kept to release its reservation
ZERO_ADDRESS = "0x" + "00" * 20


class Executor(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        client: Any,
        chain_id: int,
        executor_address: str,
        mode: SubmitMode,
        risk_path: str,
        key: Secret | None = None,
        account: str | None = None,
        relay: RelayClient | None = None,
        strategy_path: str | None = None,
        base_tokens: Sequence[str] = (),
        policy: ExecutionPolicy = ExecutionPolicy(),  # noqa: B008 - frozen value
    ) -> None:
        super().__init__(ctx)
        if mode is not SubmitMode.PAPER and key is None:
            mode = SubmitMode.PAPER
        if mode is SubmitMode.PRIVATE and relay is None:
            raise ValueError("private mode needs a relay client")
        self.client = client
        self.chain_id = chain_id
        self.executor_address = executor_address
        self.mode = mode
        self.signer = Signer(key) if key is not None else None  # derived once: a key is never kept in clear
        self.account = self.signer.address if self.signer is not None else (account or "")
        self.relay = relay
        self.risk = Handle(risk_path)
        self.strategy = Handle(strategy_path) if strategy_path else None
        self.base_tokens = tuple(base_tokens)
        self.policy = policy
        self.started_up = False
        self.head = 0
        self.base_fee_wei = 0
        self.nonces = NonceBook(self.account)
        self.inventory: dict[str, int] = {}
        self.active: dict[str, Trade] = {}
        self.unassessed: dict[str, Trade] = {}  # failed before the risk book answered (its answer may reserve)
        self.parked: dict[str, Trade] = {}  # opportunities waiting for an in-flight trade on their pools
        self.send_queue: collections.deque[str] = collections.deque()
        self.sending: str | None = None  # the trade whose send is awaiting its answer
        self.records: collections.deque[TradeRecord] = collections.deque(maxlen=MAX_RECORDS)
        self.tally = counts(())  # final trades per stage since start (records keep only the latest)
        self.received = 0
        self.realized: dict[str, int] = {}
        self.gas_spent_wei = 0
        self.following = False
        self.version = 0

    # --- lifecycle -----------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.log.info("executor for {} on chain {}: {} mode", self.executor_address, self.chain_id, self.mode.value)
        self._resume()
        self._startup()
        self.ctx.send_interval(self.policy.follow_interval_s, FollowTick())
        self._publish()

    def on_terminate(self) -> None:
        if self.relay is not None:
            try:
                io_loop().submit(self.relay.close()).result(2.0)
            except Exception as exc:  # closing is best effort; the process may be going down
                self.log.debug("relay session close: {}", exc)

    def _resume(self) -> None:
        """Take over the approved trades the previous incarnation left unfinished, and its counters.

        Its outcome-bearing trades were published before any handler ended, so each is either in the
        last snapshot (not yet reported) or was reported and left it in the same handler: none is
        reported twice, none is lost. Those with a transaction out are followed (receipts); those
        approved but never signed are closed as skipped, releasing the book's reservation.
        """
        taken = resume(Handle(self.ctx.path).snapshot(), account=self.account, chain_id=self.chain_id)
        last = taken.last
        if last is None:
            return
        self.received = last.received
        self.tally = {**self.tally, TradeStage.MINED: last.mined, TradeStage.REVERTED: last.reverted,
                      TradeStage.NOT_INCLUDED: last.not_included, TradeStage.SKIPPED: last.skipped}
        self.realized = dict(last.realized_profit)
        self.gas_spent_wei = last.gas_cost_wei
        self.version = last.version
        for trade in taken.follow:
            self.active[trade.opportunity.id] = trade
        self.nonces = nonce_book(self.account, taken.follow)
        if taken.follow or taken.skip:
            self.log.warning("restarted with {} trade(s) in flight to follow, {} approved and unsent to close",
                             len(taken.follow), len(taken.skip))
        for trade in taken.skip:
            self._finish(trade)

    def _startup(self) -> None:
        account = self.account if self.mode is not SubmitMode.PAPER else None
        self._pipe(chain.startup(self.client, account, self.executor_address, self.base_tokens), Started)

    def _pipe(self, coro: Any, wrap: Any) -> concurrent.futures.Future[Any]:
        future = io_loop().submit(coro)
        self.ctx.pipe(future, wrap)
        return future

    def receive(self, msg: Any) -> Any:
        match msg:
            case ExecuteOpportunity(opportunity=opp, market=market):
                self.received += 1
                self._consider(new_trade(opp, self.mode, market))
            case Assessed():
                self._assessed(msg)
            case Simulated(result=result):
                self._simulated(result)
            case Sent():
                self._sent(msg)
            case Followed(result=result):
                self._followed(result)
            case NonceSynced():
                self._nonce_synced(msg)
            case ChainHead(number=number, base_fee_wei=base_fee):
                self._new_head(number, base_fee)
            case FollowTick():
                self._follow()
            case Started(result=result):
                self._started(result)
            case RetryStartup():
                self._startup()
            case GetTrades(limit=limit):
                return tuple(self.records)[-limit:]
            case _:
                return super().receive(msg)
        return None

    def status(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "in_flight": len(self.active), "parked": len(self.parked),
                "next_nonce": self.nonces.next_nonce, "following": self.following}

    def _started(self, result: Any) -> None:
        if isinstance(result, BaseException):
            self.log.warning("startup read failed ({}); retrying", result)
            self.ctx.send_after(STARTUP_RETRY_S, RetryStartup())
            return
        if result.chain_id != self.chain_id:
            self.log.error("node is on chain {}, configured {}: paper mode, nothing will be signed",
                           result.chain_id, self.chain_id)
            self.mode = SubmitMode.PAPER
        if result.pending_nonce is not None:
            self.nonces = self.nonces.synced(result.pending_nonce)
        self.head = max(self.head, result.head)
        self.base_fee_wei = result.base_fee_wei
        self.inventory = dict(result.inventory)
        self.started_up = True
        self._publish()

    # --- the pipeline ----------------------------------------------------------------------------------

    def _consider(self, trade: Trade) -> None:
        opp = trade.opportunity
        busy = set().union(*(t.pools for t in self.active.values())) if self.active else set()
        reason = ""
        if not self.started_up:
            reason = "executor not ready"
        elif opp.block_number < self.head:
            reason = f"stale: detected at block {opp.block_number}, head is {self.head}"
        elif trade.pools & busy:
            # usually our own trade of the previous block, mined but not yet seen mined: wait for its receipt
            self.parked[opp.id] = trade
            return
        elif self.mode is SubmitMode.PRIVATE and self.active:
            # bundles carry consecutive nonces: one not included would strand the next, so one at a time
            reason = "a bundle is in flight"
        elif self.mode is not SubmitMode.PAPER and self.inventory.get(opp.token, 0) <= 0:
            reason = f"no inventory of {opp.token_symbol}"
        if reason:
            self._finish(trade.at(TradeStage.SKIPPED, reason=reason))
            return
        # The risk book and the node work at the same time: the simulation starts at the full size and is
        # redone only if the book sizes the trade down (the simulation must be of the exact signed call).
        if self._sized(trade, opp.amount_in) is None:
            return
        future = self.risk.ask_future(AssessTrade(opp, trade.market), timeout=RISK_TIMEOUT_S, trace_id=opp.id)
        trade_id = opp.id
        self.ctx.pipe(future, lambda result: Assessed(trade_id, result))
        self._publish()

    def _sized(self, trade: Trade, wanted: int) -> Trade | None:
        """The trade with its call built for min(wanted, free inventory), its simulation started; None if skipped."""
        opp = trade.opportunity
        amount = wanted
        if self.mode is not SubmitMode.PAPER:
            # what earlier trades of this token still in flight will take out of the contract first
            committed = sum(t.record.amount_in for t in self.active.values()
                            if (t.call is not None or t.hashes) and t.record.token == opp.token
                            and t.opportunity.id != opp.id)
            amount = min(amount, self.inventory.get(opp.token, 0) - committed)
        if amount <= 0:
            self._finish(trade.at(TradeStage.SKIPPED, reason=f"{opp.token_symbol} inventory committed"))
            return None
        try:
            call = execute_call(opp, amount_in=amount, head_block=max(self.head, opp.block_number),
                                min_profit_bps=self.policy.min_profit_bps, deadline_blocks=self.policy.deadline_blocks)
        except BadRoute as exc:
            self._finish(trade.at(TradeStage.SKIPPED, reason=str(exc)))
            return None
        trade = dataclasses.replace(trade, call=call, simulation=None)
        trade = trade.at(trade.record.stage, amount_in=amount, min_profit=call.min_profit,
                         expected_profit=expected_profit(opp, amount))
        self.active[opp.id] = trade
        tx = self._tx(call.calldata(), nonce=0, gas=0)
        self._pipe(chain.simulate(self.client, opp.id, tx, amount), Simulated)
        return trade

    def _assessed(self, msg: Assessed) -> None:
        result = msg.result
        trade = self.active.get(msg.trade_id)
        if trade is None:
            late = self.unassessed.pop(msg.trade_id, None)
            if late is not None and isinstance(result, RiskAssessment) and result.approved:
                # the book reserved budget for a trade that already failed: tell it, so the reservation ends
                self._tell(self.risk, RecordOutcome(outcome_of(dataclasses.replace(late, approved=True))))
            return
        if not isinstance(result, RiskAssessment):
            self._finish(trade.at(TradeStage.SKIPPED, reason=f"risk book unavailable: {result}"))
            return
        if not result.approved:
            self._finish(trade.at(TradeStage.SKIPPED, reason="risk: " + "; ".join(result.reasons)))
            return
        trade = dataclasses.replace(trade.at(TradeStage.ASSESSED), approved=True)
        self.active[msg.trade_id] = trade
        self._publish()  # approved: from now on a restart must still report its outcome
        assert trade.call is not None
        if result.adjusted_amount_in < trade.call.amount_in and self._sized(trade, result.adjusted_amount_in) is None:
            return
        self._proceed(msg.trade_id)

    def _tx(self, data: str, *, nonce: int, gas: int) -> dict[str, object]:
        max_fee, tip = fee_caps(self.base_fee_wei, self.policy.priority_fee_wei)
        sender = self.account or ZERO_ADDRESS  # paper mode without an account: simulated, as nobody
        return transaction(chain_id=self.chain_id, sender=sender, to=self.executor_address, data=data,
                           nonce=nonce, gas=gas, max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)

    def _simulated(self, result: Simulation) -> None:
        trade = self.active.get(result.trade_id)
        if trade is None or trade.call is None or result.amount_in != trade.call.amount_in:
            return  # finished meanwhile, or a simulation of a size the risk book has since changed
        if result.error or result.profit is None or result.gas is None:
            reason = f"simulation reverted: {result.error}"
            self._finish(trade.at(TradeStage.SKIPPED, reason=reason))
            if blames_pools(result.error) and self.strategy is not None:
                pools = tuple(leg.pool for leg in trade.opportunity.route)
                self._tell(self.strategy, RouteFailed(trade.opportunity.id, pools, result.error))
            return
        self.active[result.trade_id] = dataclasses.replace(trade, simulation=result)
        self._proceed(result.trade_id)

    def _proceed(self, trade_id: str) -> None:
        """Once the risk book approved and the exact call simulated: record it, then send (or stop, on paper)."""
        trade = self.active[trade_id]
        result = trade.simulation
        if not trade.approved or result is None or result.profit is None or result.gas is None:
            return
        limit = gas_limit(result.gas, len(trade.opportunity.route))
        trade = trade.at(TradeStage.SIMULATED, simulated_profit=result.profit, gas_limit=limit)
        if self.mode is SubmitMode.PAPER:
            self._finish(trade.at(TradeStage.SKIPPED, reason=f"paper mode: simulated profit {result.profit}"))
            return
        self.active[trade_id] = trade
        self.send_queue.append(trade_id)
        self._pump()

    def _pump(self) -> None:
        """Sign and send the next queued trade once the previous send is answered.

        One send at a time: if a send fails, its nonce is the highest handed out and is simply reused;
        two sends in flight could leave a gap below a sent transaction, which would then never be mined.
        """
        while self.sending is None and self.send_queue:
            trade = self.active.get(self.send_queue.popleft())
            if trade is not None:
                self.sending = trade.opportunity.id
                self._sign_and_send(trade)

    def _send_done(self, trade_id: str) -> None:
        if self.sending == trade_id:
            self.sending = None
            self._pump()

    def _sign_and_send(self, trade: Trade) -> None:
        assert trade.call is not None and self.signer is not None
        try:
            self.nonces, nonce = self.nonces.reserve()
        except NonceUnknown:
            self._resync_nonce(retry=trade.opportunity.id)
            return
        tx = self._tx(trade.call.calldata(), nonce=nonce, gas=trade.record.gas_limit)
        try:
            signed = sign(tx, self.signer, configured_chain_id=self.chain_id)
        except WrongChain as exc:
            self.nonces = self.nonces.released(nonce)
            self._finish(trade.at(TradeStage.SKIPPED, reason=str(exc)))
            self._send_done(trade.opportunity.id)
            return
        target = self.head + 1
        # sent_block stays 0 until the first inclusion check reads the head: our own head may lag the node's,
        # and a lagging start would make a transaction look stuck blocks too early
        trade = dataclasses.replace(trade, signed=signed, hashes=(signed.tx_hash,), sent_block=0,
                                      send_attempts=trade.send_attempts + 1)
        trade = trade.at(trade.record.stage, tx_hash=signed.tx_hash, nonce=nonce,
                         target_block=target if self.mode is SubmitMode.PRIVATE else None)
        self.active[trade.opportunity.id] = trade
        self._publish()  # the hash is out before the node answers: a restart must follow it
        trade_id = trade.opportunity.id
        if self.mode is SubmitMode.PRIVATE:
            assert self.relay is not None
            coro = self.relay.send_bundle([signed.raw], target)
        else:
            coro = chain.send_raw(self.client, signed.raw)
        self._pipe(coro, lambda result: Sent(trade_id, signed.tx_hash, result))

    def _sent(self, msg: Sent) -> None:
        trade = self.active.get(msg.trade_id)
        if trade is None or trade.signed is None:
            return
        nonce = trade.signed.nonce
        if msg.cancellation:
            if isinstance(msg.result, BaseException):
                self.log.warning("cancellation of {} refused: {}", trade.record.tx_hash, msg.result)
            return
        if isinstance(msg.result, BaseException):
            text = str(msg.result)
            if is_nonce_too_low(text) and trade.send_attempts < MAX_SEND_ATTEMPTS:
                self.log.warning("nonce {} too low: resyncing from the chain", nonce)
                self.nonces = self.nonces.released(nonce)
                self.nonces = NonceBook(self.account)  # forget the count: the chain decides
                self._resync_nonce(retry=msg.trade_id)
                return
            self.nonces = self.nonces.released(nonce)
            if self.nonces.next_nonce is None:
                self._resync_nonce()
            self._finish(trade.at(TradeStage.SKIPPED, reason=f"send failed: {text}"))
            self._send_done(msg.trade_id)
            return
        self.nonces = self.nonces.sent(InFlight(nonce, trade.signed.tx_hash, trade.signed.max_fee_per_gas,
                                                trade.signed.max_priority_fee_per_gas, self.head))
        self.active[msg.trade_id] = trade.at(TradeStage.SUBMITTED, submitted_at=time.time())
        self.log.bind(trace_id=msg.trade_id).info("submitted {} ({}) nonce {}", msg.tx_hash, self.mode.value, nonce)
        self._publish()
        self._send_done(msg.trade_id)

    def _resync_nonce(self, retry: str | None = None) -> None:
        self._pipe(chain.pending_nonce(self.client, self.account), lambda result: NonceSynced(result, retry))

    def _nonce_synced(self, msg: NonceSynced) -> None:
        trade: Trade | None = self.active.get(msg.retry) if msg.retry else None
        if isinstance(msg.result, BaseException):
            if trade is not None:
                self._finish(trade.at(TradeStage.SKIPPED, reason=f"nonce resync failed: {msg.result}"))
                self._send_done(trade.opportunity.id)
            return
        self.nonces = self.nonces.synced(msg.result)
        if trade is not None:
            self._sign_and_send(trade)

    # --- inclusion -------------------------------------------------------------------------------------

    def _follow(self) -> None:
        hashes = [h for t in self.active.values() if t.record.stage is TradeStage.SUBMITTED for h in t.hashes]
        if self.following or not hashes:
            return
        self.following = True
        self._pipe(chain.follow(self.client, hashes), Followed)

    def _followed(self, result: Any) -> None:
        self.following = False
        if isinstance(result, BaseException):
            self.log.debug("inclusion check failed: {}", result)
            return
        self._new_head(result.head, result.base_fee_wei)
        for trade in [t for t in self.active.values() if t.record.stage is TradeStage.SUBMITTED]:
            if trade.sent_block == 0:
                trade = self.active[trade.opportunity.id] = dataclasses.replace(trade, sent_block=result.head)
                self._publish()  # a restart counts the blocks it waited from here
            action, tx_hash = verdict(trade, result.receipts, result.head, trade.record.mode,
                                     self.policy.stuck_after_blocks)
            if action is Verdict.INCLUDED and tx_hash is not None:
                self._included(settle(trade, tx_hash, result.receipts[tx_hash], self.executor_address))
            elif action is Verdict.NOT_INCLUDED:
                self._not_included(trade, f"bundle not included in block {trade.record.target_block}")
            elif action is Verdict.CANCEL:
                self._cancel(trade)

    def _new_head(self, number: int, base_fee_wei: int) -> None:
        if number > self.head:
            self.head, self.base_fee_wei = number, base_fee_wei
            self._publish()

    def _included(self, trade: Trade) -> None:
        assert trade.signed is not None
        self.nonces = self.nonces.mined(trade.signed.nonce)
        record = trade.record
        self.gas_spent_wei += record.gas_cost_wei
        if record.stage is TradeStage.MINED:
            if record.reason:
                self.log.error("trade {} mined but {}", record.opportunity_id, record.reason)
            profit = record.realized_profit or 0
            self.inventory[record.token] = self.inventory.get(record.token, 0) + profit
            self.realized[record.token] = self.realized.get(record.token, 0) + profit
        self._finish(trade)

    def _not_included(self, trade: Trade, reason: str) -> None:
        assert trade.signed is not None
        self.nonces = self.nonces.released(trade.signed.nonce)
        if self.nonces.next_nonce is None:
            self._resync_nonce()
        self._finish(trade.at(TradeStage.NOT_INCLUDED, realized_profit=0, reason=reason))

    def _cancel(self, trade: Trade) -> None:
        """Past its deadline a stuck trade can only revert: take its nonce with a cheaper self-transfer."""
        assert trade.signed is not None and self.signer is not None
        nonce = trade.signed.nonce
        floor_max, floor_tip = fee_caps(self.base_fee_wei, self.policy.priority_fee_wei)
        if nonce in self.nonces.in_flight:
            max_fee, tip = self.nonces.replacement_fees(nonce, floor_max, floor_tip)
        else:  # e.g. a trade taken over at a restart whose nonce a resync settled: outbid its own fees
            tip = max(bump_fee(trade.signed.max_priority_fee_per_gas), floor_tip)
            max_fee = max(bump_fee(trade.signed.max_fee_per_gas), floor_max, tip)
        tx = cancellation(chain_id=self.chain_id, sender=self.account, nonce=nonce, max_fee_per_gas=max_fee,
                          max_priority_fee_per_gas=tip)
        signed = sign(tx, self.signer, configured_chain_id=self.chain_id)
        self.active[trade.opportunity.id] = dataclasses.replace(trade, hashes=(*trade.hashes, signed.tx_hash))
        self._publish()  # a restart must look for the cancellation's receipt too
        self.log.bind(trace_id=trade.opportunity.id).warning(
            "tx {} stuck since block {}: cancelling with nonce {} at {} wei/gas", trade.hashes[0], trade.sent_block,
            nonce, max_fee,
        )
        trade_id = trade.opportunity.id
        self._pipe(chain.send_raw(self.client, signed.raw), lambda r: Sent(trade_id, signed.tx_hash, r, True))

    # --- bookkeeping -----------------------------------------------------------------------------------

    def _finish(self, trade: Trade) -> None:
        """A final trade: record it, tell the risk book if it had approved it, publish."""
        self.active.pop(trade.opportunity.id, None)
        record = trade.record
        self.records.append(record)
        self.tally[record.stage] += 1
        log = self.log.bind(trace_id=record.opportunity_id)
        if record.stage is TradeStage.MINED:
            log.info("trade mined in block {}: realized {} (expected {}, simulated {}), gas {}",
                     record.included_block, record.realized_profit, record.expected_profit,
                     record.simulated_profit, record.gas_used)
        else:
            log.info("trade {}: {}", record.stage.value, record.reason)
        if trade.approved:
            self._tell(self.risk, RecordOutcome(outcome_of(trade)))
        elif record.stage is TradeStage.SKIPPED and trade.call is not None:
            self.unassessed[record.opportunity_id] = trade  # its assessment may still come back approved
            while len(self.unassessed) > MAX_UNASSESSED:
                self.unassessed.pop(next(iter(self.unassessed)))
        self._publish()
        self._unpark()

    def _unpark(self) -> None:
        """Opportunities parked behind a trade that is now final: go on if still fresh, else drop as stale."""
        busy = set().union(*(t.pools for t in self.active.values())) if self.active else set()
        ready = [t for t in self.parked.values() if not t.pools & busy]
        for trade in ready:  # taken out first: considering one may finish another and come back here
            self.parked.pop(trade.opportunity.id, None)
        for trade in ready:
            self._consider(trade)

    def _tell(self, handle: Handle, msg: Any) -> None:
        try:
            handle.tell(msg, trace_id=self.ctx.current_trace_id)
        except ActorError as exc:
            self.log.warning("{} not told {}: {}", handle.path, type(msg).__name__, exc)

    def _publish(self) -> None:
        tally = self.tally
        self.version += 1
        self.publish(ExecutorSnapshot(
            mode=self.mode, account=self.account, chain_id=self.chain_id, received=self.received,
            deciding=len(self.parked)
            + sum(1 for t in self.active.values() if t.record.stage is not TradeStage.SUBMITTED),
            in_flight=sum(1 for t in self.active.values() if t.record.stage is TradeStage.SUBMITTED),
            mined=tally[TradeStage.MINED], reverted=tally[TradeStage.REVERTED],
            not_included=tally[TradeStage.NOT_INCLUDED], skipped=tally[TradeStage.SKIPPED],
            realized_profit=dict(self.realized), gas_cost_wei=self.gas_spent_wei, next_nonce=self.nonces.next_nonce,
            inventory=dict(self.inventory), last_head=self.head, version=self.version,
            in_flight_trades=tuple(in_flight(t) for t in self.active.values() if t.approved),
            incarnation=self.ctx.incarnation,
        ))
