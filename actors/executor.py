"""Executor: (assess | simulate) -> sign -> submit (public or bundle) -> follow inclusion -> record.

A thin shell over the pure pipeline (execution.pipeline.step): every message goes into the table, and
the actions that come out are performed here. Every chain call runs on the io loop and comes back as a
message (`ctx.pipe`), so the mailbox never waits on a socket. The risk book and the node are asked at
the same time; what is signed is always exactly what was simulated; sends go out one at a time (no
nonce gaps). The key lives only in an execution.signer.Signer, used by execution.transaction.sign and
execution.bundle.sign_body.

Every final trade the risk book approved is reported to it as a TradeOutcome, exactly once, across
restarts: the approved trades not yet final are part of every published snapshot, and a new incarnation
takes them over from its predecessor's last one (execution.resume) and follows them to their end.

Each step's actions are performed in three phases, so a crash between any two leaves nothing lost:
first what only tells or logs (records, outcomes to the risk book, route blames), then the snapshot of
the step's final state (once), then the I/O (risk asks, simulations, sends, reads). So an outcome is
told before the snapshot stops listing its trade, and a transaction's hash is published before it leaves.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import typing
from collections.abc import Sequence
from typing import Any

from actors import market_metrics as metrics
from actors.alert_sources import raise_alert
from adapters import executor_chain as chain
from adapters.relay_client import RelayClient
from execution import tally
from execution.ledger import Trade
from execution.metrics import TRADE_REVERTS
from execution.pipeline import Event, Resumed, step
from execution.pipeline_state import (
    Action,
    AskRisk,
    BlameRoute,
    Broadcast,
    ExplainRevert,
    Finished,
    Note,
    PipelineConfig,
    Publish,
    ReadInclusion,
    ReadNonce,
    ReadRivals,
    ReadStartup,
    Report,
    RetryStartupAfter,
    RevertClassified,
    Simulate,
    initial_state,
    snapshot,
)
from execution.resume import resume
from execution.signer import Signer
from execution.trade_log import mined_line
from execution.transaction import sign
from monitoring.trade_stages import TradeStages
from performance.recorder import end_measurement, measured, record, start_measurement
from persistence import audit_trail
from protocol.alerts import AlertType, Priority
from protocol.execution import (
    Assessed,
    ExecutionPolicy,
    Followed,
    FollowTick,
    GetTrades,
    NonceSynced,
    RetryStartup,
    RevertExplained,
    RivalsRead,
    Sent,
    Simulated,
    Started,
    StopChanged,
    SubmitMode,
    TradeRecord,
    TradeStage,
)
from protocol.risk import AssessTrade, RecordOutcome
from protocol.secrets import Secret
from supervision import ActorContext, Handle, SupervisedActor
from supervision.errors import ActorError
from supervision.io_loop import io_loop

STAGE_RISK, STAGE_SIMULATE, STAGE_SIGN, STAGE_SEND = "trade.risk_assess", "trade.simulate", "trade.sign", "trade.send"
STAGE_INCLUSION, END_TO_END = "trade.inclusion", "trade.execution"
RISK_TIMEOUT_S = 1.0
MAX_RECORDS = 1000  # trade records kept for GetTrades and the console
_EVENTS = typing.get_args(Event)
_TELLS = (Finished, Report, BlameRoute, Note, RevertClassified)


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
        self.relay = relay
        self.risk = Handle(risk_path)
        self.strategy = Handle(strategy_path) if strategy_path else None
        self.base_tokens = tuple(base_tokens)
        self.policy = policy
        signer = Signer(key) if key is not None else None  # derived once: a key is never kept in clear
        self.account = signer.address if signer is not None else (account or "")
        signs = (measured(STAGE_SIGN)(functools.partial(sign, key=signer, configured_chain_id=chain_id))
                 if signer is not None else None)
        self.config = PipelineConfig(chain_id=chain_id, account=self.account, executor_address=executor_address,
                                     policy=policy, sign=signs)
        self.state = initial_state(mode, self.account)
        self.records: collections.deque[TradeRecord] = collections.deque(maxlen=MAX_RECORDS)
        self.version = 0
        self.stages = TradeStages()  # the trace spans of each trade's stages (monitoring.tracing)

    @property
    def mode(self) -> SubmitMode:
        return self.state.mode

    # --- lifecycle -----------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.log.info("executor for {} on chain {}: {} mode", self.config.executor_address, self.config.chain_id,
                      self.mode.value)
        taken = resume(Handle(self.ctx.path).snapshot(), account=self.account, chain_id=self.config.chain_id)
        if taken.last is not None:
            self.version = taken.last.version
        self._feed(Resumed(taken))
        self.ctx.send_interval(self.policy.follow_interval_s, FollowTick())

    def on_terminate(self) -> None:
        if self.relay is not None:
            try:
                io_loop().submit(self.relay.close()).result(2.0)
            except Exception as exc:  # closing is best effort; the process may be going down
                self.log.debug("relay session close: {}", exc)

    def receive(self, msg: Any) -> Any:
        if isinstance(msg, _EVENTS):
            self.stages.returned(msg, self.ctx.current_span_id)
            self._feed(msg)
            return None
        if isinstance(msg, GetTrades):
            return tuple(self.records)[-msg.limit:]
        return super().receive(msg)

    def status(self) -> dict[str, Any]:
        s = self.state
        return {"mode": s.mode.value, "in_flight": len(s.active), "parked": len(s.parked),
                "next_nonce": s.nonces.next_nonce, "following": s.following, "stopped": s.stopped or "no",
                "mined": s.tally.get(TradeStage.MINED, 0), "reverted": s.tally.get(TradeStage.REVERTED, 0),
                "reverts_by_cause": dict(s.reverts_by_cause)}

    # --- the shell: one event in, its actions out -------------------------------------------------------

    def _feed(self, event: Event) -> None:
        stop = self._book_stop()
        if stop.active != (self.state.stopped is not None):
            self._step(stop)  # the book's stop first: no step after it is published may send
        self._step(event)

    def _chain_head(self) -> int:
        """The freshest head known without a round trip: ours, or the strategy's last scan (read from the
        io loop just before a send, as the stop is)."""
        scanned = getattr(self.strategy.snapshot(), "scanned_block", 0) if self.strategy is not None else 0
        return max(self.state.head, scanned or 0)

    def _book_stop(self) -> StopChanged:
        """The risk book's emergency stop, from its published snapshot (no mailbox hop)."""
        stop = getattr(self.risk.snapshot(), "emergency_stop", None)
        if stop is None or not stop.active:
            return StopChanged(False)
        return StopChanged(True, f"{stop.reason or 'no reason'} (by {stop.by or '?'})")

    def _step(self, event: Event) -> None:
        if isinstance(event, Sent) and tally.accepted(event):
            metrics.sent(self.state.mode)
        self.state, actions = step(self.state, event, self.config)
        for action in actions:
            if isinstance(action, _TELLS):
                self._tell_or_log(action, event)
        if any(isinstance(a, Publish) for a in actions):
            self._publish()
        for action in actions:
            if not isinstance(action, (*_TELLS, Publish)):
                self._start(action)

    def _trade_log(self, trade_id: str, event: Event | None = None) -> Any:
        """The log bound to a trade: its trace id and the span of the stage it is in (its lines join it)."""
        return self.log.bind(trace_id=trade_id, span_id=self.stages.span_of(trade_id, event))

    def _tell_or_log(self, action: Action, event: Event) -> None:
        match action:
            case Finished(trade=trade):
                self._record(trade)
            case Report(outcome=outcome):
                self._tell(self.risk, RecordOutcome(outcome))
            case BlameRoute(failed=failed) if self.strategy is not None:
                self._tell(self.strategy, failed)
            case Note(level=level, text=text, trace_id=trace_id):
                (self._trade_log(trace_id, event) if trace_id else self.log).log(level, text)
            case RevertClassified(trade_id=trade_id, cause=cause, line=line):
                TRADE_REVERTS.labels(cause=cause.value).inc()
                self._trade_log(trade_id, event).warning("{}", line)

    def _start(self, action: Action) -> None:
        match action:
            case AskRisk(trade_id=trade_id, opportunity=opp, market=market):
                span = self.stages.asking_risk(trade_id)  # the book's lines join the assessed stage
                future = self.risk.ask_future(AssessTrade(opp, market), timeout=RISK_TIMEOUT_S, trace_id=trade_id,
                                              span_id=span)
                self.ctx.pipe(future, _timed(STAGE_RISK, lambda result: Assessed(trade_id, result)))
            case Simulate(trade_id=trade_id, tx=tx, amount_in=amount, pairs=pairs):
                self.stages.simulating(trade_id)
                self._pipe(chain.simulate(self.client, trade_id, tx, amount, pairs),
                           _timed(STAGE_SIMULATE, lambda result: Simulated(result, trade_id, amount)))
            case Broadcast(trade_id=trade_id, signed=signed, bundle_block=block, cancellation=cancelling,
                           deadline_block=deadline):
                self.stages.broadcasting(trade_id, signed, block)
                # write-ahead: the submission is on record before the transaction can leave
                audit_trail.record("trade_submitted", {
                    "trade": trade_id, "tx_hash": signed.tx_hash, "nonce": signed.nonce, "gas": signed.gas,
                    "max_fee_per_gas": signed.max_fee_per_gas, "bundle_block": block, "cancellation": cancelling,
                }, actor=self.ctx.path, trace_id=trade_id)
                if block is not None:
                    assert self.relay is not None
                    send = functools.partial(self.relay.send_bundle, [signed.raw], block)
                else:
                    send = functools.partial(chain.send_raw, self.client, signed.raw)
                # a cancellation is what an operator asks for during a stop; anything else is held by one
                stopped = None if cancelling else (lambda: self._book_stop().active)
                self._pipe(chain.unless_stopped(send, stopped, self._chain_head, deadline),
                           _timed(STAGE_SEND, chain.sent(trade_id, signed.tx_hash, cancellation=cancelling)))
            case ReadNonce(retry=retry):
                self._pipe(chain.pending_nonce(self.client, self.account), lambda r: NonceSynced(r, retry))
            case ReadInclusion(hashes=hashes):
                self._pipe(chain.follow(self.client, hashes), Followed)
            case ReadRivals(block=block, pools=pools):
                self._pipe(chain.rivals(self.client, block, pools), RivalsRead)
            case ExplainRevert(probe=probe):
                self._pipe(chain.revert_evidence(self.client, probe), functools.partial(RevertExplained, probe))
            case ReadStartup(account=account):
                self._pipe(chain.startup(self.client, account, self.config.executor_address, self.base_tokens),
                           Started)
            case RetryStartupAfter(delay_s=delay):
                self.ctx.send_after(delay, RetryStartup())

    def _pipe(self, coro: Any, wrap: Any) -> concurrent.futures.Future[Any]:
        future = io_loop().submit(coro)
        self.ctx.pipe(future, wrap)
        return future

    def _record(self, trade: Trade) -> None:
        record = trade.record
        self.records.append(record)
        metrics.trade_finished(record, trade.opportunity)
        _measure_trade(record, trade.opportunity.head_at)
        final_span = self.stages.finished(record)
        if record.tx_hash is not None:  # it was submitted: its end is on record (mined, reverted, not included)
            audit_trail.record("trade_mined" if record.stage is TradeStage.MINED else "trade_failed", record,
                               actor=self.ctx.path, trace_id=record.opportunity_id)
        log = self.log.bind(trace_id=record.opportunity_id, span_id=final_span)
        if record.stage is TradeStage.MINED:
            if record.reason:
                log.error("trade {} mined but {}", record.opportunity_id, record.reason)
                raise_alert(AlertType.TRADE, f"trade {record.opportunity_id} mined but {record.reason}",
                            priority=Priority.HIGH, key=f"trade:{record.opportunity_id}", source=self.ctx.path)
            log.info("{}", mined_line(record, trade.opportunity))
        else:
            log.info("trade {}: {}", record.stage.value, record.reason)
            if record.stage in (TradeStage.REVERTED, TradeStage.NOT_INCLUDED):
                raise_alert(AlertType.TRADE, f"trade {record.opportunity_id} {record.stage.value}: {record.reason}",
                            priority=Priority.HIGH if record.stage is TradeStage.REVERTED else Priority.MEDIUM,
                            key=f"trade:{record.opportunity_id}", source=self.ctx.path)

    def _tell(self, handle: Handle, msg: Any) -> None:
        try:
            handle.tell(msg, trace_id=self.ctx.current_trace_id)
        except ActorError as exc:
            self.log.warning("{} not told {}: {}", handle.path, type(msg).__name__, exc)

    def _publish(self) -> None:
        self.version += 1
        self.publish(snapshot(self.state, self.config, version=self.version, incarnation=self.ctx.incarnation))


def _timed(stage: str, wrap: Any) -> Any:
    """`wrap`, measuring `stage` from now until the answer arrives (an exception is a failed stage)."""
    mid = start_measurement(stage)

    def done(result: Any) -> Any:
        end_measurement(mid, success=not isinstance(result, BaseException))
        return wrap(result)

    return done


_LANDED = (TradeStage.MINED, TradeStage.REVERTED, TradeStage.NOT_INCLUDED)


def _measure_trade(trade: TradeRecord, head_at: float) -> None:
    """A submitted trade's end: inclusion (submission -> receipt) and end to end (head -> receipt); a trade
    that lands without reverting is a success (the successRate SLO), anything else a failure."""
    if trade.submitted_at is None or trade.stage not in _LANDED:
        return
    ok = trade.stage is TradeStage.MINED
    ended = trade.updated_at or trade.submitted_at
    record(STAGE_INCLUSION, max(0.0, ended - trade.submitted_at), ok)
    start = head_at or trade.detected_at
    if start > 0:
        record(END_TO_END, max(0.0, ended - start), ok)
