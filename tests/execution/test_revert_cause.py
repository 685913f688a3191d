"""The revert classifier (execution.revert_cause): a table of one case per cause, then its invariants."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.answers import BadAnswer
from execution.reserve_book import SYNC_TOPIC
from execution.revert_cause import pool_touches, revert_cause, revert_line, sized_on
from protocol.chain import ChainLog
from protocol.execution import PoolTouch, RevertCause, RevertEvidence, RevertProbe
from protocol.trading import Leg

US = "0x" + "0b" * 20
MARKET = "0x" + "3c" * 20
POOL_A, POOL_B, ELSEWHERE = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "ee" * 20
SIZED = {POOL_A: (1_000, 2_000), POOL_B: (3_000, 4_000)}


def probe(**fields: object) -> RevertProbe:
    base = RevertProbe(trade_id="t1", tx_hash="0xours", block=10, tx_index=3, account=US, gas_used=150_000,
                       gas_limit=250_000, gas_cost_wei=150_000 * 7, deadline_block=11, sized_on=dict(SIZED))
    return msgspec.structs.replace(base, **fields)


def evidence(*touches: PoolTouch, reserves: dict[str, tuple[int, int]] | None = None,
             reason: str = "") -> RevertEvidence:
    return RevertEvidence(touches=touches, reserves_before=dict(SIZED) if reserves is None else reserves,
                          reason=reason)


CASES = [
    ("out of gas", probe(gas_used=250_000), evidence(), RevertCause.OUT_OF_GAS),
    ("out of gas beats a market swap", probe(gas_used=250_000), evidence(PoolTouch(0, "0xm", MARKET, POOL_A)),
     RevertCause.OUT_OF_GAS),
    ("mined past its deadline", probe(block=12), evidence(), RevertCause.DEADLINE_PASSED),
    ("a market swap on our pool before us", probe(), evidence(PoolTouch(1, "0xm", MARKET, POOL_B)),
     RevertCause.LATE_TO_MARKET_SWAP),
    ("our own trade on our pool before us", probe(), evidence(PoolTouch(2, "0xmine", US, POOL_A)),
     RevertCause.SELF_INTERFERENCE),
    ("ours and the market's: ours named", probe(),
     evidence(PoolTouch(0, "0xm", MARKET, POOL_A), PoolTouch(2, "0xmine", US.upper(), POOL_B)),
     RevertCause.SELF_INTERFERENCE),
    ("a market swap after us does not count", probe(), evidence(PoolTouch(4, "0xm", MARKET, POOL_A)),
     RevertCause.UNKNOWN),
    ("a swap on another pool does not count", probe(), evidence(PoolTouch(0, "0xm", MARKET, ELSEWHERE)),
     RevertCause.UNKNOWN),
    ("reserves moved in a block between", probe(), evidence(reserves={**SIZED, POOL_B: (3_001, 3_999)}),
     RevertCause.STALE_RESERVES),
    ("nothing found: the node's reason", probe(), evidence(reason="Executor: profit below minimum"),
     RevertCause.UNKNOWN),
]


@pytest.mark.parametrize(("name", "p", "e", "cause"), CASES, ids=[c[0] for c in CASES])
def test_each_cause(name: str, p: RevertProbe, e: RevertEvidence, cause: RevertCause) -> None:
    verdict = revert_cause(p, e)
    assert verdict.cause is cause, verdict.detail
    line = revert_line(p, verdict)
    for part in (p.tx_hash, f"block {p.block}", cause.value, f"{p.gas_cost_wei} wei", "ETH"):
        assert part in line


def test_details_name_the_evidence() -> None:
    assert "0xm" in revert_cause(probe(), evidence(PoolTouch(1, "0xm", MARKET, POOL_B))).detail
    assert "profit below minimum" in revert_cause(probe(), evidence(reason="Executor: profit below minimum")).detail
    unread = revert_cause(probe(), evidence(reserves={POOL_A: SIZED[POOL_A]})).detail
    assert POOL_B in unread and "unread" in unread


def test_without_evidence_only_the_receipt_decides() -> None:
    assert revert_cause(probe(gas_used=250_000), None).cause is RevertCause.OUT_OF_GAS
    assert revert_cause(probe(block=12), None).cause is RevertCause.DEADLINE_PASSED
    verdict = revert_cause(probe(), None, "RpcError: boom")
    assert verdict.cause is RevertCause.UNKNOWN and "boom" in verdict.detail


def test_sized_on_orients_reserves_as_the_pair_does() -> None:
    low, high = "0x" + "01" * 20, "0x" + "02" * 20
    legs = (Leg(POOL_A, "u", low, high, 1, 1, reserve_in=10, reserve_out=20),
            Leg(POOL_B, "s", high, low, 1, 1, reserve_in=30, reserve_out=40))
    assert sized_on(legs) == {POOL_A: (10, 20), POOL_B: (40, 30)}  # token0 is the lower address


def sync_log(tx_hash: str, index: int, pool: str) -> ChainLog:
    return ChainLog(pool, (SYNC_TOPIC,), "0x" + "00" * 64, 10, "0xblock", tx_hash, index, index)


def test_pool_touches_names_senders_from_the_block() -> None:
    block = {"transactions": [{"hash": "0xM", "from": MARKET}, {"hash": "0xo", "from": US}]}
    touches = pool_touches(block, [sync_log("0xm", 0, POOL_A.upper()), sync_log("0xo", 1, POOL_B)])
    assert touches == (PoolTouch(0, "0xm", MARKET, POOL_A), PoolTouch(1, "0xo", US, POOL_B))
    with pytest.raises(BadAnswer):
        pool_touches({"transactions": []}, [sync_log("0xm", 0, POOL_A)])
    with pytest.raises(BadAnswer):
        pool_touches({"transactions": "0x"}, [])


# --- invariants --------------------------------------------------------------------------------------------

senders = st.sampled_from([US, MARKET, "0x" + "77" * 20])
pools = st.sampled_from([POOL_A, POOL_B, ELSEWHERE])
touch_lists = st.lists(st.builds(PoolTouch, st.integers(0, 8), st.text("0123456789abcdef", min_size=1, max_size=4)
                                 .map(lambda h: "0x" + h), senders, pools), max_size=8)
reserve_maps = st.dictionaries(st.sampled_from([POOL_A, POOL_B]),
                               st.tuples(st.integers(1, 5_000), st.integers(1, 5_000)))
probes = st.builds(lambda used, limit, block, deadline, index: probe(gas_used=used, gas_limit=limit, block=block,
                                                                      deadline_block=deadline, tx_index=index),
                   st.integers(0, 300_000), st.integers(0, 300_000), st.integers(1, 20),
                   st.none() | st.integers(0, 20), st.integers(0, 8))


@given(probes, touch_lists, reserve_maps)
def test_the_order_of_the_block_logs_does_not_matter(p: RevertProbe, touches: list[PoolTouch],
                                                      reserves: dict[str, tuple[int, int]]) -> None:
    forward = revert_cause(p, evidence(*touches, reserves=reserves))
    backward = revert_cause(p, evidence(*reversed(touches), reserves=reserves))
    assert forward == backward


@given(probes, touch_lists, reserve_maps)
def test_the_causes_and_their_order(p: RevertProbe, touches: list[PoolTouch],
                                    reserves: dict[str, tuple[int, int]]) -> None:
    cause = revert_cause(p, evidence(*touches, reserves=reserves)).cause
    earlier = [t for t in touches if t.tx_index < p.tx_index and t.pool in SIZED]
    if p.gas_limit and p.gas_used >= p.gas_limit:
        assert cause is RevertCause.OUT_OF_GAS
    elif p.deadline_block is not None and p.block > p.deadline_block:
        assert cause is RevertCause.DEADLINE_PASSED
    elif any(t.sender == US for t in earlier):
        assert cause is RevertCause.SELF_INTERFERENCE
    elif earlier:
        assert cause is RevertCause.LATE_TO_MARKET_SWAP
    elif any(reserves[k] != SIZED[k] for k in reserves):
        assert cause is RevertCause.STALE_RESERVES
    else:
        assert cause is RevertCause.UNKNOWN


@given(probes, touch_lists, reserve_maps)
def test_later_transactions_and_other_pools_never_change_the_cause(
        p: RevertProbe, touches: list[PoolTouch], reserves: dict[str, tuple[int, int]]) -> None:
    noise = [PoolTouch(p.tx_index + 1 + i, t.tx_hash, t.sender, t.pool) for i, t in enumerate(touches)]
    noise += [PoolTouch(t.tx_index, t.tx_hash, t.sender, ELSEWHERE) for t in touches]
    assert revert_cause(p, evidence(reserves=reserves)).cause is revert_cause(p, evidence(*noise,
                                                                                          reserves=reserves)).cause
