"""The pipeline's rules for what it learns from the chain about its place in a block: why a trade
reverted (execution.revert_cause), and what rivals on its pools bid (execution.tips)."""

from __future__ import annotations

from typing import Any

import msgspec

from execution.pipeline_state import (
    PUBLISH,
    Action,
    Note,
    PipelineConfig,
    PipelineState,
    RevertClassified,
    fees_of,
)
from execution.revert_cause import revert_cause, revert_line
from execution.tips import outbid
from protocol.execution import PoolTouch, RevertEvidence, RevertProbe


def revert_explained(s: PipelineState, probe: RevertProbe, result: Any, cfg: PipelineConfig,
                     out: list[Action]) -> PipelineState:
    """A reverted trade's block has been read (or could not be): its cause, counted and logged. Lost to a
    rival's higher bid, later trades outbid it (execution.tips.outbid)."""
    if isinstance(result, RevertEvidence):
        verdict = revert_cause(probe, result)
    else:
        verdict = revert_cause(probe, None, f"{type(result).__name__}: {result}")
    cause = verdict.cause.value
    out.append(RevertClassified(probe.trade_id, verdict.cause, revert_line(probe, verdict)))
    out.append(PUBLISH)
    s = msgspec.structs.replace(s, reverts_by_cause={**s.reverts_by_cause, cause: s.reverts_by_cause.get(cause, 0) + 1})
    rival = verdict.rival
    if rival is not None:
        policy = cfg.policy
        bid = outbid(s.bid, sent_tip_wei=probe.sent_tip_wei, sent_max_fee_wei=probe.sent_max_fee_wei,
                     rival_tip_wei=rival.tip_wei, rival_max_fee_wei=rival.max_fee_wei,
                     max_tip_wei=policy.max_priority_fee_wei, max_fee_cap_wei=policy.max_fee_cap_wei)
        if bid != s.bid:
            tip = max(policy.priority_fee_wei, bid.tip_wei)
            out.append(Note("WARNING", f"ordered behind a rival on our pools (tip {rival.tip_wei}, max fee "
                                       f"{rival.max_fee_wei} wei/gas; ours were {probe.sent_tip_wei} and "
                                       f"{probe.sent_max_fee_wei}): trades now tip {tip} with a max fee of at "
                                       f"least {bid.max_fee_floor_wei} wei/gas"))
            s = msgspec.structs.replace(s, bid=bid)
    return s


def rivals_read(s: PipelineState, result: Any, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """The first opportunity's block has been read: bid above whoever else moved its pools (execution.tips).

    Those swaps opened the gap, and the same flow tends to move the same pools again in the block our
    trade lands in; bidding above it from the first trade on is what keeps the first trade from reverting.
    Whatever the answer, sending resumes (a failed read leaves the bid to be learned from reverts)."""
    if s.rivals != "reading":
        return s
    s = msgspec.structs.replace(s, rivals="read")
    if not isinstance(result, tuple) or not all(isinstance(t, PoolTouch) for t in result):
        out.append(Note("DEBUG", f"rivals unread ({result}); bidding the policy's fees"))
        return s
    bid = s.bid
    for rival in (t for t in result if t.sender.lower() != cfg.account.lower()):
        max_fee, tip = fees_of(msgspec.structs.replace(s, bid=bid), cfg)
        bid = outbid(bid, sent_tip_wei=tip, sent_max_fee_wei=max_fee, rival_tip_wei=rival.tip_wei,
                     rival_max_fee_wei=rival.max_fee_wei, max_tip_wei=cfg.policy.max_priority_fee_wei,
                     max_fee_cap_wei=cfg.policy.max_fee_cap_wei)
    if bid != s.bid:
        out.append(Note("INFO", f"rivals on our pools bid up to {max(t.max_fee_wei for t in result)} wei/gas max fee: "
                                f"trades tip {max(cfg.policy.priority_fee_wei, bid.tip_wei)} with a max fee of at "
                                f"least {bid.max_fee_floor_wei} wei/gas"))
        out.append(PUBLISH)
    return msgspec.structs.replace(s, bid=bid)
