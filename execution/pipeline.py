"""The executor pipeline as a pure table: step(state, event, config) -> (state, actions).

Events are the executor's messages (protocol.execution) plus `Resumed`, fed once at start; actions are
in execution.pipeline_state. A trade: RECEIVED -> ASSESSED -> SIMULATED -> SUBMITTED -> MINED | REVERTED
| NOT_INCLUDED, or SKIPPED at any step with the reason.

        event                    rule
        Resumed                  take over the last incarnation's counters and in-flight trades; read startup
        Started                  chain id (paper mode if wrong), head, nonce, inventory; or retry later
        ExecuteOpportunity       admit: ready, fresh, pools not busy (else parked), inventory; size; then
                                 ask the risk book and simulate at the same time
        Assessed                 approved: resize if the book sized it down (a new simulation), proceed;
                                 a late approval of a trade already ended releases the book's reservation
        Simulated                the exact call's profit and gas, or the trade ends (route blamed if the
                                 revert is the pools' fault)
        Sent / NonceSynced       execution.sending: submitted, or nonce recovery, or the trade ends
        FollowTick / Followed    execution.sending: receipts, bundles not included, stuck txs cancelled; a
                                 reverted trade's block is read (ExplainRevert)
        RevertExplained          execution.reverts: the revert's cause, counted and logged; a rival outbid
        RivalsRead               execution.reverts: the first trade bids above who moved its pools
        ChainHead                a newer head and base fee
        StopChanged              execution.halting: an emergency stop ends every unsent trade; nothing is sent
        CancelInFlight           execution.halting: the operator replaces the trades in the mempool with cancels

After every event the table settles: parked opportunities whose pools are free are admitted again, and
the next queued trade is signed and sent if the send slot is free. Each rule that ends a trade goes
through pipeline_state.finish: one Finished per trade, one Report per trade the risk book approved.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from amm.resize import at_size
from execution.halting import cancel_in_flight, stop_changed
from execution.ledger import Trade, blames_pools, new_trade, outcome_of
from execution.pipeline_state import (
    PUBLISH,
    STARTUP_RETRY_MAX_S,
    STARTUP_RETRY_S,
    Action,
    AskRisk,
    BlameRoute,
    Note,
    PipelineConfig,
    PipelineState,
    ReadRivals,
    ReadStartup,
    Report,
    RetryStartupAfter,
    Simulate,
    busy_pools,
    committed,
    finish,
    put,
    skip,
    tip_of,
    tx_for,
)
from execution.profitability import GasUnpriceable, gas_bid_wei, gas_floor, gas_used_bound, net_of_gas
from execution.resume import Resume, nonce_book
from execution.reverts import revert_explained, rivals_read
from execution.sending import follow, followed, new_head, nonce_synced, pump, sent
from execution.tips import Bid
from execution.transaction import BadRoute, execute_call, expected_profit, gas_limit
from protocol.execution import (
    Assessed,
    CancelInFlight,
    ChainHead,
    ExecuteOpportunity,
    Followed,
    FollowTick,
    NonceSynced,
    RetryStartup,
    RevertExplained,
    RivalsRead,
    RouteFailed,
    Sent,
    Simulated,
    Simulation,
    Started,
    Startup,
    StopChanged,
    SubmitMode,
    TradeStage,
)
from protocol.risk import RiskAssessment


@dataclasses.dataclass(frozen=True)
class Resumed:
    """What the new incarnation takes over (execution.resume.resume of the last snapshot)."""

    taken: Resume


Event = (Resumed | Started | RetryStartup | ExecuteOpportunity | Assessed | Simulated | Sent | NonceSynced
         | FollowTick | Followed | RevertExplained | RivalsRead | ChainHead | StopChanged | CancelInFlight)


def step(state: PipelineState, event: Event, cfg: PipelineConfig) -> tuple[PipelineState, list[Action]]:
    """The next state and the actions to perform, in order. Unknown events change nothing."""
    out: list[Action] = []
    s = state
    match event:
        case ExecuteOpportunity(opportunity=opp, market=market):
            s = msgspec.structs.replace(s, received=s.received + 1)
            s = consider(s, new_trade(opp, s.mode, market), cfg, out)
        case Assessed():
            s = assessed(s, event, cfg, out)
        case Simulated():
            s = simulated(s, event, cfg, out)
        case Sent():
            s = sent(s, event, cfg, out)
        case NonceSynced():
            s = nonce_synced(s, event, cfg, out)
        case Followed(result=result):
            s = followed(s, result, cfg, out)
        case FollowTick():
            s = follow(s, out)
        case RevertExplained(probe=probe, result=result):
            s = revert_explained(s, probe, result, cfg, out)
        case RivalsRead(result=result):
            s = rivals_read(s, result, cfg, out)
        case ChainHead(number=number, base_fee_wei=base_fee):
            s = new_head(s, number, base_fee, out)
        case Started(result=result):
            s = started(s, result, cfg, out)
        case RetryStartup():
            out.append(ReadStartup(cfg.account if s.mode is not SubmitMode.PAPER else None))
        case Resumed(taken=taken):
            s = resumed(s, taken, cfg, out)
        case StopChanged():
            s = stop_changed(s, event, out)
        case CancelInFlight():
            s = cancel_in_flight(s, event, cfg, out)
    return drain(s, cfg, out), out


def drain(s: PipelineState, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """Admit parked opportunities whose pools are free and fill the send slot, until neither changes anything."""
    while True:
        before = s
        s = pump(unpark(s, cfg, out), cfg, out)
        if s is before:
            return s


# --- start ----------------------------------------------------------------------------------------------


def resumed(s: PipelineState, taken: Resume, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """Take over the approved trades the previous incarnation left unfinished, and its counters.

    Its outcome-bearing trades were published before any of its steps' I/O started, so each is either in
    the last snapshot (not yet reported) or was reported and left it in the same step: none is reported
    twice, none is lost. Those with a transaction out are followed (receipts); those approved but never
    signed are closed as skipped, releasing the book's reservation.
    """
    last = taken.last
    if last is not None:
        tally = {**s.tally, TradeStage.MINED: last.mined, TradeStage.REVERTED: last.reverted,
                 TradeStage.NOT_INCLUDED: last.not_included, TradeStage.SKIPPED: last.skipped}
        s = msgspec.structs.replace(
            s, received=last.received, tally=tally, realized=dict(last.realized_profit),
            gas_spent_wei=last.gas_cost_wei, reverts_by_cause=dict(last.reverts_by_cause),
            bid=Bid(last.priority_fee_wei, last.max_fee_floor_wei),
            active={t.opportunity.id: t for t in taken.follow},
            nonces=nonce_book(cfg.account, taken.follow),
        )
        if taken.follow or taken.skip:
            out.append(Note("WARNING", f"restarted with {len(taken.follow)} trade(s) in flight to follow, "
                                       f"{len(taken.skip)} approved and unsent to close"))
        for trade in taken.skip:
            s = finish(s, trade, out)
    out.append(ReadStartup(cfg.account if s.mode is not SubmitMode.PAPER else None))
    out.append(PUBLISH)
    return s


def startup_retry_delay(failures: int) -> float:
    """Seconds before the next startup read after `failures` in a row: 1, 2, 4, ... capped at 30."""
    return min(STARTUP_RETRY_MAX_S, STARTUP_RETRY_S * 2 ** min(max(failures - 1, 0), 16))


def started(s: PipelineState, result: Any, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    if not isinstance(result, Startup):
        failures = s.startup_failures + 1
        delay = startup_retry_delay(failures)
        out.append(Note("WARNING", f"startup read failed ({type(result).__name__}: {result}), {failures} in a row; "
                                   f"next attempt in {delay:g}s"))
        out.append(RetryStartupAfter(delay))
        return msgspec.structs.replace(s, startup_failures=failures)
    if s.startup_failures:
        out.append(Note("INFO", f"startup read answered after {s.startup_failures} failure(s)"))
    mode = s.mode
    if result.chain_id != cfg.chain_id:
        out.append(Note("ERROR", f"node is on chain {result.chain_id}, configured {cfg.chain_id}: paper mode, "
                                 "nothing will be signed"))
        mode = SubmitMode.PAPER
    nonces = s.nonces.synced(result.pending_nonce) if result.pending_nonce is not None else s.nonces
    out.append(PUBLISH)
    return msgspec.structs.replace(s, mode=mode, nonces=nonces, head=max(s.head, result.head), startup_failures=0,
                                   base_fee_wei=result.base_fee_wei, inventory=dict(result.inventory), ready=True)


# --- admission, sizing, assessment, simulation -----------------------------------------------------------


def consider(s: PipelineState, trade: Trade, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """Admit an opportunity (or park it behind our own trade on its pools), size it, ask and simulate."""
    opp = trade.opportunity
    reason = ""
    if s.stopped is not None:
        reason = f"emergency stop active ({s.stopped})"
    elif not s.ready:
        reason = "executor not ready"
    elif opp.block_number < s.head:
        reason = f"stale: detected at block {opp.block_number}, head is {s.head}"
    elif trade.pools & busy_pools(s.active.values()):
        # usually our own trade of the previous block, mined but not yet seen mined: wait for its receipt
        return msgspec.structs.replace(s, parked={**s.parked, opp.id: trade})
    elif s.mode is SubmitMode.PRIVATE and s.active:
        # bundles carry consecutive nonces: one not included would strand the next, so one at a time
        reason = "a bundle is in flight"
    elif s.mode is not SubmitMode.PAPER and s.inventory.get(opp.token, 0) <= 0:
        reason = f"no inventory of {opp.token_symbol}"
    if reason:
        return skip(s, trade, reason, out)
    if s.rivals == "unread" and s.mode is not SubmitMode.PAPER:
        # before our first send: who moved these pools in the block that opened the gap, to bid above them
        out.append(ReadRivals(opp.block_number, tuple(sorted(trade.pools))))
        s = msgspec.structs.replace(s, rivals="reading")
    # The risk book and the node work at the same time: the simulation starts at the full size and is
    # redone only if the book sizes the trade down (the simulation must be of the exact signed call).
    s = sized(s, trade, opp.amount_in, cfg, out)
    sized_trade = s.active.get(opp.id)
    if sized_trade is not None and sized_trade.call is not None:
        # the book judges the size that will be sent (the inventory may have capped it)
        out.append(AskRisk(opp.id, at_size(opp, sized_trade.call.amount_in), trade.market))
        out.append(PUBLISH)
    return s


def sized(s: PipelineState, trade: Trade, wanted: int, cfg: PipelineConfig, out: list[Action], *,
          floor: int | None = None) -> PipelineState:
    """The trade with its call built for min(wanted, free inventory), its simulation asked for; or skipped.

    Skipped too when its expected profit at that size does not clear the strategy's gas estimate at the
    bid plus the minimum (execution.profitability); that floor, or `floor` if given, is the call's minProfit.
    """
    opp = trade.opportunity
    amount = wanted
    if s.mode is not SubmitMode.PAPER:
        amount = min(amount, s.inventory.get(opp.token, 0) - committed(s, opp.token, besides=opp.id))
    if amount <= 0:
        return skip(s, trade, f"{opp.token_symbol} inventory committed", out)
    expected = expected_profit(opp, amount)
    try:
        need = floor if floor is not None else gas_floor(
            opp, opp.gas_estimate, bid_of(s, cfg), cfg.policy.min_net_profit_wei)
    except GasUnpriceable as exc:
        return skip(s, trade, str(exc), out)
    if expected < need:
        return skip(s, trade, f"not worth its gas at {amount} {opp.token_symbol} wei: expected profit {expected}, "
                              f"gas at the bid plus the minimum {need}", out)
    try:
        call = execute_call(opp, amount_in=amount, head_block=max(s.head, opp.block_number),
                            min_profit_bps=cfg.policy.min_profit_bps, deadline_blocks=cfg.policy.deadline_blocks,
                            min_profit_floor=need)
    except BadRoute as exc:
        return skip(s, trade, str(exc), out)
    trade = dataclasses.replace(trade, call=call, simulation=None)
    trade = trade.at(trade.record.stage, amount_in=amount, min_profit=call.min_profit, expected_profit=expected)
    out.append(Simulate(opp.id, tx_for(s, cfg, call.calldata(), nonce=0, gas=0), amount, call.pairs))
    return put(s, trade)


def bid_of(s: PipelineState, cfg: PipelineConfig) -> int:
    return gas_bid_wei(s.base_fee_wei, tip_of(s, cfg))


def assessed(s: PipelineState, msg: Assessed, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    result = msg.result
    trade = s.active.get(msg.trade_id)
    if trade is None:
        late = s.unassessed.get(msg.trade_id)
        if late is None:
            return s
        s = msgspec.structs.replace(s, unassessed={k: v for k, v in s.unassessed.items() if k != msg.trade_id})
        if isinstance(result, RiskAssessment) and result.approved:
            # the book reserved budget for a trade that already ended: tell it, so the reservation ends
            out.append(Report(outcome_of(dataclasses.replace(late, approved=True))))
        return s
    if not isinstance(result, RiskAssessment):
        return skip(s, trade, f"risk book unavailable: {result}", out)
    if not result.approved:
        return skip(s, trade, "risk: " + "; ".join(result.reasons), out)
    trade = dataclasses.replace(trade.at(TradeStage.ASSESSED), approved=True)
    s = put(s, trade)
    out.append(PUBLISH)  # approved: from now on a restart must still report its outcome
    assert trade.call is not None
    if result.adjusted_amount_in < trade.call.amount_in:
        s = sized(s, trade, result.adjusted_amount_in, cfg, out)
    return proceed(s, msg.trade_id, cfg, out)


def simulated(s: PipelineState, msg: Simulated, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    result = msg.result
    trade_id = result.trade_id if isinstance(result, Simulation) else msg.trade_id
    amount = result.amount_in if isinstance(result, Simulation) else msg.amount_in
    trade = s.active.get(trade_id)
    if trade is None or trade.call is None or amount != trade.call.amount_in:
        return s  # ended meanwhile, or a simulation of a size the risk book has since changed
    if not isinstance(result, Simulation):  # the coroutine failed outside its own error handling
        return skip(s, trade, f"simulation failed: {type(result).__name__}: {result}", out)
    if result.error or result.profit is None or result.gas is None:
        s = skip(s, trade, f"simulation reverted: {result.error}", out)
        if blames_pools(result.error):
            pools = tuple(leg.pool for leg in trade.opportunity.route)
            out.append(BlameRoute(RouteFailed(trade.opportunity.id, pools, result.error)))
        return s
    return proceed(put(s, dataclasses.replace(trade, simulation=result)), trade_id, cfg, out)


def proceed(s: PipelineState, trade_id: str, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """Once the risk book approved and the exact call simulated: queue it for sending (or end it, on paper).

    Sent only if the simulated profit, net of the simulated gas at the bid, clears the minimum; if the
    call's minProfit would not cover that gas, the call is rebuilt with a floor that does, and simulated again.
    """
    trade = s.active.get(trade_id)
    if trade is None:
        return s
    result = trade.simulation
    if not trade.approved or result is None or result.profit is None or result.gas is None or trade.call is None:
        return s
    opp = trade.opportunity
    hops = len(opp.route)
    limit = gas_limit(result.gas, hops)
    gas = gas_used_bound(result.gas, hops, result.accumulating)
    bid = bid_of(s, cfg)
    try:
        net = net_of_gas(opp, result.profit, gas, bid)
        need = gas_floor(opp, gas, bid, cfg.policy.min_net_profit_wei)
    except GasUnpriceable as exc:
        return skip(s, trade, str(exc), out)
    trade = trade.at(TradeStage.SIMULATED, simulated_profit=result.profit, simulated_net_profit=net, gas_limit=limit,
                     simulated_gas=result.gas)
    if result.profit < need:
        return skip(s, trade, f"net-negative at the size sent: simulated profit {result.profit}, gas {gas} at {bid} "
                              f"wei/gas plus the minimum {need} ({opp.token_symbol} wei): net {net}", out)
    call = trade.call
    assert call is not None
    if call.min_profit < need:  # the strategy's gas estimate was low: minProfit must cover the real gas
        # 10 % headroom: a larger minProfit has more non-zero calldata bytes, so slightly more gas
        return sized(put(s, trade), trade, call.amount_in, cfg, out, floor=need + need // 10)
    if s.mode is SubmitMode.PAPER:
        return skip(s, trade, f"paper mode: simulated profit {result.profit}, net of gas {net}", out)
    return msgspec.structs.replace(put(s, trade), send_queue=(*s.send_queue, trade_id))


def unpark(s: PipelineState, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """Opportunities parked behind a trade that is now final: admitted again (stale ones end as such)."""
    if not s.parked:
        return s
    busy = busy_pools(s.active.values())
    ready = [t for t in s.parked.values() if not t.pools & busy]
    if not ready:
        return s
    taken = {t.opportunity.id for t in ready}  # taken out first: admitting one may park another again
    s = msgspec.structs.replace(s, parked={k: v for k, v in s.parked.items() if k not in taken})
    for trade in ready:
        s = consider(s, trade, cfg, out)
    return s
