"""ReserveBook: the reserves after any chain history (reorgs included) equal a replay of the final chain."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.reserve_book import (
    SYNC_TOPIC,
    UINT112_MAX,
    Discontinuity,
    GarbageAnswer,
    ReserveBook,
    decode_reserves,
)
from protocol.chain import BlockHeader, ChainLog
from protocol.market import PoolFaultKind, WatchedPool

POOLS = tuple(WatchedPool(f"0x{i:040x}", "dex", f"0x{100 + i:040x}", f"0x{200 + i:040x}") for i in range(1, 5))
GENESIS = BlockHeader(number=10, hash="0x" + "00" * 32, parent_hash="0x" + "ff" * 32)


def word(n: int) -> str:
    return f"{n:064x}"


def sync(pool: WatchedPool, r0: int, r1: int, block: BlockHeader, index: int) -> ChainLog:
    return ChainLog(address=pool.address, topics=(SYNC_TOPIC,), data="0x" + word(r0) + word(r1),
                    block_number=block.number, block_hash=block.hash, transaction_hash="0x" + "11" * 32,
                    transaction_index=0, log_index=index)


Block = tuple[BlockHeader, tuple[ChainLog, ...]]


def grow(parent: BlockHeader, branch: int, swaps: list[tuple[int, int, int]]) -> Block:
    header = BlockHeader(number=parent.number + 1, hash=f"0x{branch:08x}{parent.number + 1:056x}",
                         parent_hash=parent.hash)
    logs = tuple(sync(POOLS[p], r0, r1, header, i) for i, (p, r0, r1) in enumerate(swaps))
    return header, logs


def replay(chain: list[Block]) -> dict[str, tuple[int, int]]:
    state = {p.address.lower(): (1000, 1000) for p in POOLS}
    for _, logs in chain:
        for log in logs:
            state[log.address.lower()] = (int(log.data[2:66], 16), int(log.data[66:], 16))
    return state


def view(book: ReserveBook) -> dict[str, tuple[int, int]]:
    return {a: (r.reserve0, r.reserve1) for a, r in book.reserves.items()}


def start() -> ReserveBook:
    book = ReserveBook().watch(POOLS).start_at(GENESIS)
    return book.record_reads({p.address: (1000, 1000) for p in POOLS}, GENESIS.number)[0]


swaps = st.lists(st.tuples(st.integers(0, len(POOLS) - 1), st.integers(1, 10**20), st.integers(1, 10**20)),
                 max_size=3)


@settings(max_examples=80, deadline=None)
@given(first=st.lists(swaps, min_size=1, max_size=6), second=st.lists(swaps, min_size=1, max_size=6),
       fork_at=st.integers(0, 5))
def test_rewind_and_reread_equals_the_final_chain(first: list, second: list, fork_at: int) -> None:
    old: list[Block] = []
    parent = GENESIS
    for s in first:
        old.append(grow(parent, 1, s))
        parent = old[-1][0]
    book = start()
    for header, logs in old:
        book, _ = book.extend([header], logs)
    fork_at = min(fork_at, len(old))
    new = old[:fork_at]
    parent = new[-1][0] if new else GENESIS
    for s in second:
        new.append(grow(parent, 2, s))
        parent = new[-1][0]
    fork_number = GENESIS.number + fork_at
    # what the actor does: the fork point from canonical hashes, rewind, re-read affected at the new head
    canonical = {h.number: h.hash for h, _ in new} | {GENESIS.number: GENESIS.hash}
    assert book.fork_point(canonical) == max(
        [GENESIS.number] + [h.number for h, _ in old if canonical.get(h.number) == h.hash]
    )
    rewound, affected = book.rewind(fork_number)
    truth = replay(new)
    rewound, _ = rewound.extend([h for h, _ in new[fork_at:]], [lg for _, logs in new[fork_at:] for lg in logs])
    rewound, _ = rewound.record_reads({a: truth[a.lower()] for a in affected}, parent.number)
    assert view(rewound) == truth
    assert rewound.head is not None and rewound.head.hash == parent.hash
    # every pool whose orphaned value differs from the truth was flagged for a re-read or rewritten by a Sync
    assert rewound.reorgs == book.reorgs + 1


def test_a_block_that_does_not_extend_the_head_is_refused() -> None:
    book = start()
    header, logs = grow(GENESIS, 1, [(0, 5, 6)])
    stray = BlockHeader(number=header.number + 1, hash="0x" + "ab" * 32, parent_hash="0x" + "cd" * 32)
    book, changed = book.extend([header], logs)
    assert changed == {POOLS[0].address}
    with pytest.raises(Discontinuity):
        book.extend([stray], ())


def test_garbage_and_empty_pools_are_faults_not_reserves() -> None:
    with pytest.raises(GarbageAnswer):
        decode_reserves("0x" + word(1) + word(2))  # two words, not three
    with pytest.raises(GarbageAnswer):
        decode_reserves("0x" + word(UINT112_MAX + 1) + word(2) + word(3))
    with pytest.raises(GarbageAnswer):
        decode_reserves(None)
    assert decode_reserves("0x" + word(7) + word(8) + word(9)) == (7, 8)
    book = ReserveBook(blocked_tokens=frozenset({POOLS[2].token0.lower()})).watch(POOLS).start_at(GENESIS)
    book, _ = book.record_reads({POOLS[0].address: (0, 5), POOLS[1].address: "getReserves: 32 bytes",
                                 POOLS[2].address: (5, 5), POOLS[3].address: (5, 5)}, 10)
    kinds = {f.address: f.kind for f in book.faults.values()}
    assert kinds == {POOLS[0].address: PoolFaultKind.ZERO_RESERVES, POOLS[1].address: PoolFaultKind.GARBAGE,
                     POOLS[2].address: PoolFaultKind.BLOCKED_TOKEN}
    assert set(book.reserves) == {POOLS[3].address.lower()}
    # a Sync with garbage data faults the pool too
    bad = ChainLog(address=POOLS[3].address, topics=(SYNC_TOPIC,), data="0x1234", block_number=11,
                   block_hash="0x" + "01" * 32, transaction_hash="0x", transaction_index=0, log_index=0)
    header = BlockHeader(number=11, hash="0x" + "01" * 32, parent_hash=GENESIS.hash)
    book, _ = book.extend([header], [bad])
    assert book.faults[POOLS[3].address.lower()].kind is PoolFaultKind.GARBAGE
    assert not book.reserves
