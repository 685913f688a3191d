"""Property tests of the pure truth layer: head tracking (monotonic reads, the stale bound) and consensus."""

from __future__ import annotations

from unittest import mock

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.network import EndpointRoute, FaultKind, RequestOutcome, RoutingTable
from rpc import verify
from rpc.codec import RpcAnswer
from rpc.consensus import find_liars, names_head, sample_call
from rpc.errors import EndpointFault
from rpc.heads import HeadTracker, HeadVerdict
from rpc.routing import RoutingPolicy

BLOCK_S = 0.25

# A schedule: per step, which endpoints are frozen (True) while the chain advances one block.
schedules = st.integers(3, 5).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=1,
                                             max_size=40))
)


@settings(max_examples=150, deadline=None)
@given(schedules, st.randoms(use_true_random=False))
def test_reads_are_monotonic_and_never_more_than_one_block_behind_the_best_reported(schedule, rnd) -> None:
    n, steps = schedule
    tracker = HeadTracker()
    heads = [0] * n
    handed: list[int] = []
    for chain, frozen in enumerate(steps, start=1):
        now = chain * BLOCK_S
        for i in range(n):
            if not frozen[i]:
                heads[i] = chain  # an unfrozen endpoint catches up with the chain at once
        for _ in range(3):
            i = rnd.randrange(n)
            verdict = tracker.observe(f"e{i}", heads[i], now)
            assert verdict is not HeadVerdict.AHEAD_LIE  # honest endpoints are never called liars
            if verdict is HeadVerdict.OK:
                assert tracker.best is not None and heads[i] >= tracker.best - 1  # the stale bound
                handed.append(tracker.deliver(heads[i]))
    assert handed == sorted(handed)  # monotonic reads


@settings(max_examples=100, deadline=None)
@given(st.integers(3, 5), st.integers(5, 50), st.integers(5, 2000))
def test_a_head_far_beyond_moving_others_is_a_lie(n: int, blocks: int, ahead: int) -> None:
    tracker = HeadTracker()
    for b in range(1, blocks + 1):
        for i in range(n - 1):
            tracker.observe(f"e{i}", b, b * BLOCK_S)
    verdict = tracker.judge("liar", blocks + 4 + ahead, blocks * BLOCK_S)
    assert verdict is HeadVerdict.AHEAD_LIE


values = st.sampled_from(["0x1", "0x2", "0x3"])


@settings(max_examples=300, deadline=None)
@given(st.integers(3, 5).flatmap(lambda n: st.tuples(st.integers(0, (n - 1) // 2), st.just(n))), values, st.data())
def test_liars_in_a_minority_are_found_and_honest_members_never(sizes, truth, data) -> None:
    liars, n = sizes
    answers = {f"h{i}": truth for i in range(n - liars)}
    for i in range(liars):
        answers[f"l{i}"] = data.draw(values.filter(lambda v: v != truth))
    found = {lie.endpoint for lie in find_liars("eth_getBalance", ["0xabc", "0x5"], answers)}
    assert found == {f"l{i}" for i in range(liars)}


@given(st.dictionaries(st.sampled_from(["a", "b"]), values))
def test_two_endpoints_that_disagree_prove_nothing(answers) -> None:
    assert find_liars("eth_call", [{}, "0x1"], answers) == []


def test_sampled_reads_are_pinned_at_a_block_and_head_reads_are_recognised() -> None:
    assert names_head("eth_getBalance", ["0xabc"]) and names_head("eth_call", [{}, "latest"])
    assert not names_head("eth_getBalance", ["0xabc", "0x10"]) and not names_head("eth_chainId", [])
    assert sample_call("eth_getBalance", ["0xabc", "latest"], 7) == ("eth_getBalance", ["0xabc", "0x7"])
    assert sample_call("eth_blockNumber", [], 7) == ("eth_getBlockByNumber", ["0x7", False])
    assert sample_call("eth_call", [{"to": "0x1"}, "0x3"], 7) == ("eth_call", [{"to": "0x1"}, "0x3"])


class _Clock:
    """The verifier's clock, moved by the test: a block interval passes per chain step."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class _NoWire:
    """A dispatcher with no wire: honest heads must never make the verifier ask anything or report a lie."""

    policy = RoutingPolicy()
    loop = None

    def queue(self, outcome: RequestOutcome, *, urgent: bool) -> None:
        assert outcome.fault is not FaultKind.LYING, outcome


@settings(max_examples=150, deadline=None)
@given(schedules, st.randoms(use_true_random=False), st.booleans())
def test_the_verifier_hands_out_heads_that_never_go_back_nor_trail_the_best_reported(schedule, rnd, streams) -> None:
    """Through the real `AnswerVerifier` (its ordering, its checks, the race's retry on a STALE fault), over
    freeze/unfreeze schedules on 3-5 endpoints, with or without a WebSocket stream bearing witness: every
    eth_blockNumber handed out is at least the best head reported before it, and never below one handed out."""
    n, steps = schedule
    clock = _Clock()
    with mock.patch.object(verify, "time", clock):
        verifier = verify.AnswerVerifier(_NoWire())  # type: ignore[arg-type]
        table = RoutingTable(chain_id=1, routes=tuple(EndpointRoute(f"e{i}", "", 0.01) for i in range(n)), version=1)
        heads = [0] * n
        handed: list[int] = []
        for chain, frozen in enumerate(steps, start=1):
            clock.now += BLOCK_S
            for i in range(n):
                if not frozen[i]:
                    heads[i] = chain
            if streams and rnd.random() < 0.5:  # the stream pushed this block
                table = msgspec.structs.replace(table, version=table.version + 1,
                                                stream_heads={"e0": (chain, clock.now)})
            verifier.sync(table)
            for _ in range(3):
                best_before = verifier.heads.best
                for route in verifier.order(list(table.routes), head_read=True):
                    try:
                        answer = verifier.check(route, "eth_blockNumber", RpcAnswer(1, hex(heads[int(route.name[1:])])),
                                                table, True)
                    except EndpointFault as fault:
                        assert fault.kind is FaultKind.STALE  # too far behind: the race tries the next one
                        continue
                    head = int(answer.result, 16)
                    assert best_before is None or head >= best_before
                    assert head >= (verifier.heads.best or 0) - verifier.heads.tolerance
                    handed.append(head)
                    break
        assert handed == sorted(handed)  # monotonic reads
        assert not verifier.lies
