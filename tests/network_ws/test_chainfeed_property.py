"""Property: whatever the streams do (gaps, drops, duplicates, late messages, reorgs), the feed's output,
read with its Reorg events applied, is exactly the node's chain: every head and every log, in order, once."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from chainfeed import ChainFeed, EmitHead, EmitLog, EmitReorg, FeedAction, FetchHeaders, FetchLogs
from protocol.chain import BlockHeader, ChainLog

ADDRESSES = {"all": ("0xa", "0xb"), "a": ("0xa",)}


@dataclass
class Node:
    """A chain that mines and reorgs, and one subscription stream at a time on it."""

    chain: list[BlockHeader] = field(default_factory=list)
    logs: dict[str, list[ChainLog]] = field(default_factory=dict)  # block hash -> its logs
    branch: int = 0
    epoch: int = 0
    up: bool = True
    queue: list[tuple[int, object]] = field(default_factory=list)  # (epoch, notification)
    sent: list[tuple[int, BlockHeader]] = field(default_factory=list)  # heads the stream delivered
    old: list[tuple[int, object]] = field(default_factory=list)  # an abandoned stream's leftovers
    filters: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(ADDRESSES))
    late_from: int | None = None  # the block from which the filter added mid-stream must deliver

    def __post_init__(self) -> None:
        self._append(0)

    def _append(self, seed: int) -> None:
        n = len(self.chain)
        parent = self.chain[-1].hash if self.chain else "0x0"
        h = BlockHeader(n, f"0x{self.branch:x}b{n:x}", parent, n)
        rng = random.Random(f"{h.hash}:{seed}")
        self.chain.append(h)
        self.logs[h.hash] = [
            ChainLog(rng.choice(("0xa", "0xb")), (), "0x", n, h.hash, f"0xt{n}", 0, i)
            for i in range(rng.randint(0, 3))
        ]
        if self.up:
            self.queue.append((self.epoch, h))
            for fid, addrs in self.filters.items():
                self.queue += [(self.epoch, (fid, x)) for x in self.logs[h.hash] if x.address in addrs]

    def mine(self, seed: int) -> None:
        self._append(seed)

    def reorg(self, depth: int, seed: int) -> None:
        depth = min(depth, len(self.chain) - 1)
        del self.chain[len(self.chain) - depth :]
        self.branch += 1
        for _ in range(depth + 1):
            self._append(seed)

    def headers(self, f: FetchHeaders) -> list[BlockHeader]:
        return self.chain[f.first : f.last + 1]

    def logs_in(self, f: FetchLogs) -> dict[str, list[ChainLog]]:
        blocks = self.chain[f.first : f.last + 1]
        found = [x for b in blocks for x in self.logs[b.hash]]
        return {fid: [x for x in found if x.address in a] for fid, a in self.filters.items()}


ops = st.lists(
    st.one_of(
        st.tuples(st.just("mine"), st.integers(0, 9)),
        st.tuples(st.just("deliver"), st.integers(1, 6)),
        st.tuples(st.just("lose_head"), st.just(0)),
        st.tuples(st.just("drop"), st.just(0)),
        st.tuples(st.just("resubscribe"), st.just(0)),
        st.tuples(st.just("answer"), st.integers(0, 1)),
        st.tuples(st.just("fail"), st.just(0)),
        st.tuples(st.just("late"), st.just(0)),
        st.tuples(st.just("duplicate"), st.integers(0, 5)),
        st.tuples(st.just("subscribe_late"), st.just(0)),
        st.tuples(st.just("restart"), st.just(0)),
        st.tuples(st.just("tip"), st.integers(0, 3)),  # another stream's head: behind, at or past the tip
    ),
    max_size=80,
)


LATE = ("late", ("0xb",))


def run(steps: list[tuple[str, int]], reorgs: list[tuple[int, int, int]]) -> tuple[Node, list[FeedAction]]:
    node, feed = Node(), ChainFeed()
    for fid in ADDRESSES:
        feed.add_filter(fid)
    out: list[FeedAction] = list(feed.start_epoch(0))
    fetches: list[FetchHeaders | FetchLogs] = []

    def take(actions: list[FeedAction]) -> None:
        out.extend(actions)
        fetches.extend(a for a in actions if isinstance(a, FetchHeaders | FetchLogs))

    def answer(f: FetchHeaders | FetchLogs) -> None:
        if isinstance(f, FetchHeaders):
            take(feed.on_headers(f, node.headers(f)))
        else:
            take(feed.on_logs(f, node.logs_in(f)))

    def deliver(item: tuple[int, object]) -> None:
        epoch, what = item
        if isinstance(what, BlockHeader):
            node.sent.append((epoch, what))
            take(feed.on_head(epoch, what))
        else:
            assert isinstance(what, tuple)
            fid, log = what
            take(feed.on_log(epoch, str(fid), log))

    reorg_at = {at: (depth, seed) for at, depth, seed in reorgs}
    for i, (op, arg) in enumerate(steps):
        if i in reorg_at:
            node.reorg(*reorg_at[i])
        if op == "mine":
            node.mine(arg)
        elif op == "deliver":
            for _ in range(min(arg, len(node.queue))):
                deliver(node.queue.pop(0))
        elif op == "lose_head" and node.queue and isinstance(node.queue[0][1], BlockHeader):
            node.queue.pop(0)  # a lost head (its logs may still come): the gap shows
        elif op == "drop" and node.up:
            node.up, node.old, node.queue = False, node.queue, []
        elif op == "resubscribe" and not node.up:
            node.up, node.epoch = True, node.epoch + 1
            take(feed.start_epoch(node.epoch))
        elif op == "answer" and fetches:
            answer(fetches.pop(arg % len(fetches)))
        elif op == "fail" and fetches:
            f = fetches.pop(0)
            take(feed.on_headers_failed(f) if isinstance(f, FetchHeaders) else feed.on_logs_failed(f))
        elif op == "late" and node.old:
            deliver(node.old.pop(0))
        elif op == "subscribe_late" and LATE[0] not in node.filters:
            # as the manager does: a new filter, then a new stream with it (the old one is abandoned)
            feed.add_filter(LATE[0])
            node.late_from = feed.head.number + 1 if feed.head else -1
            node.filters[LATE[0]] = LATE[1]
            node.old, node.queue, node.up, node.epoch = node.queue, [], True, node.epoch + 1
            take(feed.start_epoch(node.epoch))
        elif op == "restart":
            # the manager crashed: a new feed resumes from the published checkpoint on a new stream;
            # the old feed's fetches and the old stream's leftovers are lost with it
            old_feed, feed = feed, ChainFeed()
            feed.resume(*old_feed.checkpoint())
            fetches.clear()
            node.old, node.queue, node.up, node.epoch = node.queue, [], True, node.epoch + 1
            take(feed.start_epoch(node.epoch))
        elif op == "duplicate" and node.sent:  # an endpoint (or the node) says it again
            take(feed.on_head(*node.sent[max(0, len(node.sent) - 1 - arg)]))
        elif op == "tip":  # a standby stream's head; past the node's tip: an endpoint on another fork
            take(feed.on_tip(len(node.chain) - 2 + arg))
    # quiesce: a live stream, one more block, everything delivered and answered
    if not node.up:
        node.up, node.epoch = True, node.epoch + 1
        take(feed.start_epoch(node.epoch))
    node.mine(0)
    for _ in range(10_000):
        if node.queue:
            deliver(node.queue.pop(0))
        elif fetches:
            answer(fetches.pop(0))
        else:
            break
    else:
        raise AssertionError("the feed never settles: it keeps asking for more")
    return node, out


def replay(out: list[FeedAction]) -> tuple[list[BlockHeader], dict[str, list[ChainLog]]]:
    """Apply the feed's output the way a subscriber would, checking order and once-ness as it goes."""
    heads: list[BlockHeader] = []
    logs: dict[str, list[ChainLog]] = {fid: [] for fid in [*ADDRESSES, LATE[0]]}
    for a in out:
        if isinstance(a, EmitHead):
            if heads:
                assert a.header.number == heads[-1].number + 1 and a.header.parent_hash == heads[-1].hash
            heads.append(a.header)
        elif isinstance(a, EmitLog):
            assert heads and a.log.block_hash == heads[-1].hash, "a log before its block's head"
            seq = logs[a.filter_id]
            assert not seq or seq[-1].key < a.log.key, "a log out of order or twice"
            seq.append(a.log)
        elif isinstance(a, EmitReorg):
            assert heads[-1].hash == a.old_head_hash and a.depth == heads[-1].number - a.fork.number
            del heads[max(0, a.fork.number - heads[0].number + 1) :]
            for seq in logs.values():
                seq[:] = [x for x in seq if x.block_number <= a.fork.number]
    return heads, logs


def check(node: Node, out: list[FeedAction]) -> None:
    heads, logs = replay(out)
    assert heads, "nothing delivered"
    first = heads[0].number
    assert heads == node.chain[first:], "the delivered chain is not the node's chain"
    for fid, addrs in ADDRESSES.items():
        want = [x for b in node.chain[first:] for x in node.logs[b.hash] if x.address in addrs]
        assert logs[fid] == want, f"filter {fid}: delivered logs differ from the chain's"
    late_from = node.late_from
    if late_from is not None and late_from >= 0:  # a filter added mid-stream: every log from the next block
        want = [x for b in node.chain[late_from:] for x in node.logs[b.hash] if x.address in LATE[1]]
        assert logs[LATE[0]] == want, "the late filter's logs differ from the chain's"


@settings(max_examples=300, deadline=None)
@given(ops)
def test_no_head_or_log_is_missed_duplicated_or_reordered(steps: list[tuple[str, int]]) -> None:
    node, out = run(steps, [])
    assert not any(isinstance(a, EmitReorg) for a in out)
    check(node, out)


@settings(max_examples=300, deadline=None)
@given(ops, st.lists(st.tuples(st.integers(0, 80), st.integers(1, 4), st.integers(0, 9)), max_size=3))
def test_after_reorgs_the_feed_reads_as_the_final_chain(
    steps: list[tuple[str, int]], reorgs: list[tuple[int, int, int]]
) -> None:
    node, out = run(steps, reorgs)
    check(node, out)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 3))
def test_after_a_failover_the_heads_a_standby_showed_are_delivered_without_waiting_for_a_block(
    streamed: int, missed: int, past_tip: int
) -> None:
    """The stream fell behind (`missed` blocks the node has, that it never showed) and was failed over;
    the new stream shows nothing until the next block, which on an idle chain never comes. A standby's
    head (the tip, or beyond it: a hint the node has not reached is given up) is enough to fetch them."""
    node, feed = Node(), ChainFeed()
    for fid in ADDRESSES:
        feed.add_filter(fid)
    out: list[FeedAction] = list(feed.start_epoch(0))
    fetches: list[FetchHeaders | FetchLogs] = []

    def take(actions: list[FeedAction]) -> None:
        out.extend(actions)
        fetches.extend(a for a in actions if isinstance(a, FetchHeaders | FetchLogs))

    def settle() -> None:
        for _ in range(1_000):
            if node.queue:
                epoch, what = node.queue.pop(0)
                if isinstance(what, BlockHeader):
                    take(feed.on_head(epoch, what))
                else:
                    assert isinstance(what, tuple)
                    take(feed.on_log(epoch, str(what[0]), what[1]))
            elif fetches:
                f = fetches.pop(0)
                if isinstance(f, FetchHeaders):
                    take(feed.on_headers(f, node.headers(f)))
                else:
                    take(feed.on_logs(f, node.logs_in(f)))
            else:
                return
        raise AssertionError("the feed never settles")

    for i in range(streamed):
        node.mine(i)
    settle()
    node.up, node.queue = False, []  # the lagging stream: these blocks exist, it never shows them
    for i in range(missed):
        node.mine(i)
    node.up, node.epoch = True, node.epoch + 1  # failed over: a new stream, quiet until the next block
    take(feed.start_epoch(node.epoch))
    settle()
    assert feed.head is not None and feed.head.number == streamed, "nothing to show a gap: it waits"
    take(feed.on_tip(len(node.chain) - 1 + past_tip))
    settle()
    assert feed.head == node.chain[-1]
    check(node, out)
