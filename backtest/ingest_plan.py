"""Chunked, resumable ingestion of a block range: the range planner, the checkpoint, and the loop that drives them.

The planner walks first..last in chunks. A chunk the endpoint refuses (too many results, response
too large, a timeout) is asked again at half its width, down to one block; after `grow_after`
chunks in a row succeed at a width, the width doubles again (up to `max_span`). The learnt width
is part of the checkpoint, so a resumed run starts at the width that worked.

The checkpoint is the only record of what is done: `Progress.next_block` is the first block not yet
stored. A chunk's files are written first and the checkpoint second (atomically, by the store), so
a run killed between the two leaves files the checkpoint does not list: the resumed run writes that
chunk again over them. Hence no gap (every block below next_block is in a listed part) and no
duplicate (parts are listed only when they start at next_block). `drive` is the loop; it does no I/O
itself: the caller hands in `fetch` (raises `Refused` when the endpoint turns the range down) and
`commit` (writes the chunk, then the new checkpoint).

Only blocks at least `confirmations` below the head are ingested (`final_block`), so a reorg
cannot change what is stored; the shell also checks each chunk's block hashes chain onto the
previous chunk's (`last_hash`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from backtest.history import PoolInfo

T = TypeVar("T")

DEFAULT_SPAN = 2_000  # blocks per eth_getLogs at the start; most providers accept 2k-10k
MAX_SPAN = 100_000
GROW_AFTER = 4  # chunks in a row at one width before trying twice as wide
ATTEMPTS_AT_ONE_BLOCK = 3  # refusals of a single block before the run gives up on it
DEFAULT_CONFIRMATIONS = 64  # two epochs on Ethereum: finalised in practice


class ChunkPolicy(msgspec.Struct, frozen=True):
    initial_span: int = DEFAULT_SPAN
    max_span: int = MAX_SPAN
    grow_after: int = GROW_AFTER
    attempts_at_one_block: int = ATTEMPTS_AT_ONE_BLOCK

    def __post_init__(self) -> None:
        if not 1 <= self.initial_span <= self.max_span:
            raise ValueError(f"spans: need 1 <= initial ({self.initial_span}) <= max ({self.max_span})")
        if self.grow_after < 1 or self.attempts_at_one_block < 1:
            raise ValueError("grow_after and attempts_at_one_block must be at least 1")


class Progress(msgspec.Struct, frozen=True):
    """Where a walk over blocks stands: the first block not yet stored, the width to ask for next."""

    next_block: int
    span: int
    streak: int = 0  # chunks stored in a row at this width
    refusals: int = 0  # refusals in a row of a single-block chunk
    last_hash: str | None = None  # hash of block next_block - 1, when known


class Refused(Exception):
    """The endpoint turned a range down (too wide, too many results, too large, timed out): ask for less."""

    def __init__(self, first: int, last: int, reason: str) -> None:
        super().__init__(f"blocks {first}..{last}: {reason}")
        self.first, self.last, self.reason = first, last, reason


class RangeUnfetchable(Exception):
    """Even a single block was refused `attempts` times: the run stops there (everything before is stored)."""

    def __init__(self, block: int, attempts: int, reason: str) -> None:
        super().__init__(f"block {block} refused {attempts} times even alone ({reason}); blocks before it are stored, "
                         "run again to resume from it")
        self.block, self.attempts, self.reason = block, attempts, reason


def final_block(head: int, confirmations: int) -> int:
    """The newest block deep enough under `head` that no reorg is expected to reach it."""
    if confirmations < 0:
        raise ValueError(f"confirmations {confirmations} < 0")
    return head - confirmations


def next_range(progress: Progress, last: int) -> tuple[int, int] | None:
    """The chunk to ask for next, or None when the walk reached `last`."""
    if progress.next_block > last:
        return None
    return progress.next_block, min(last, progress.next_block + progress.span - 1)


def stored(progress: Progress, first: int, last: int, policy: ChunkPolicy, last_hash: str | None) -> Progress:
    """first..last is stored; the walk moves on, and widens after `grow_after` chunks in a row."""
    if first != progress.next_block or last < first:
        raise ValueError(f"chunk {first}..{last} does not start at the next block {progress.next_block}")
    streak = progress.streak + 1
    span = progress.span
    full = last - first + 1 >= span  # a short last chunk says nothing about a wider one
    if full and streak >= policy.grow_after and span < policy.max_span:
        span, streak = min(policy.max_span, span * 2), 0
    return Progress(last + 1, span, streak, 0, last_hash)


def refused(progress: Progress, first: int, last: int, policy: ChunkPolicy, reason: str) -> Progress:
    """first..last was turned down: half as wide next time; a single block only `attempts_at_one_block` times."""
    if first != progress.next_block:
        raise ValueError(f"chunk {first}..{last} does not start at the next block {progress.next_block}")
    width = last - first + 1
    if width <= 1:
        if progress.refusals + 1 >= policy.attempts_at_one_block:
            raise RangeUnfetchable(first, progress.refusals + 1, reason)
        return msgspec.structs.replace(progress, span=1, streak=0, refusals=progress.refusals + 1)
    return msgspec.structs.replace(progress, span=max(1, width // 2), streak=0, refusals=0)


def drive(
    progress: Progress, last: int, policy: ChunkPolicy, fetch: Callable[[int, int, Progress], T],
    commit: Callable[[int, int, T, Progress], None],
    on_refused: Callable[[Refused, Progress], None] | None = None,
) -> Progress:
    """Walk from progress.next_block to `last`: fetch a chunk, commit it with the next progress, repeat.

    `fetch(first, last, progress)` returns the chunk (and may raise `Refused`); its result must carry
    the hash of the chunk's last block as `.last_hash` when it has one. `commit(first, last, chunk,
    next_progress)` must persist the chunk before the checkpoint. Returns the final progress."""
    while (chunk_range := next_range(progress, last)) is not None:
        first, end = chunk_range
        try:
            chunk = fetch(first, end, progress)
        except Refused as exc:
            progress = refused(progress, first, end, policy, exc.reason)
            if on_refused is not None:
                on_refused(exc, progress)
            continue
        after = stored(progress, first, end, policy, getattr(chunk, "last_hash", None))
        commit(first, end, chunk, after)
        progress = after
    return progress


class Scope(msgspec.Struct, frozen=True):
    """What a history ingests: named pairs, or every pair of the named factories (found by PairCreated)."""

    pairs: tuple[str, ...] = ()
    factories: tuple[tuple[str, str], ...] = ()  # (dex name, factory address)
    factory_from: int = 0  # where the PairCreated scan starts (the factories' deployment, ideally)
    dex_names: tuple[tuple[str, str], ...] = ()  # (dex name, factory address) naming the DEX of listed pairs


class Part(msgspec.Struct, frozen=True):
    """One stored chunk: its blocks and the stem of its files."""

    first: int
    last: int
    name: str


class Checkpoint(msgspec.Struct, frozen=True):
    """Everything a resumed run needs: what is ingested, what is done, the widths learnt."""

    chain_id: int
    genesis_hash: str
    scope: Scope
    first: int
    events: Progress
    parts: tuple[Part, ...] = ()
    pairs: Progress | None = None  # the PairCreated walk (factory scope only)
    #: The pairs the PairCreated walk found. Written as backtest.history.PoolInfo since the checkpoint stopped
    #: having its own pair type: a checkpoint written before lists them without fee_bps, which decodes as
    #: PoolInfo's default (30, the V2 fee every ingested pair was assumed to charge then), so it still resumes.
    known_pairs: tuple[PoolInfo, ...] = ()
    version: int = 1


class CheckpointMismatch(ValueError):
    """The directory holds another ingestion (other chain, pools or first block): it is not resumed."""


def begin(existing: Checkpoint | None, chain_id: int, genesis_hash: str, scope: Scope, first: int,
          policy: ChunkPolicy) -> Checkpoint:
    """The checkpoint to continue from: the existing one if it is this ingestion's, else a fresh one."""
    if existing is None:
        pairs = Progress(scope.factory_from, policy.initial_span) if scope.factories else None
        return Checkpoint(chain_id, genesis_hash, scope, first, Progress(first, policy.initial_span), pairs=pairs)
    for what, have, want in (("chain id", existing.chain_id, chain_id), ("genesis", existing.genesis_hash,
                             genesis_hash), ("scope", existing.scope, scope), ("first block", existing.first, first)):
        if have != want:
            raise CheckpointMismatch(f"the directory holds another ingestion: its {what} is {have}, this run's is "
                                     f"{want}; use another directory (or delete it to start over)")
    return existing


def with_part(checkpoint: Checkpoint, part: Part, after: Progress) -> Checkpoint:
    """The checkpoint once `part` is stored; it must start where the stored blocks end."""
    if part.first != checkpoint.events.next_block or after.next_block != part.last + 1:
        raise ValueError(f"part {part.first}..{part.last} does not continue the stored blocks "
                         f"({checkpoint.first}..{checkpoint.events.next_block - 1})")
    return msgspec.structs.replace(checkpoint, events=after, parts=(*checkpoint.parts, part))


def with_pairs(checkpoint: Checkpoint, found: tuple[PoolInfo, ...], after: Progress) -> Checkpoint:
    """The checkpoint once the PairCreated walk stored a chunk (pairs already known are not listed twice)."""
    if checkpoint.pairs is None:
        raise ValueError("this ingestion has no factory scope")
    known = {p.address for p in checkpoint.known_pairs}
    fresh = tuple(p for p in found if p.address not in known)
    return msgspec.structs.replace(checkpoint, pairs=after, known_pairs=(*checkpoint.known_pairs, *fresh))


def covered(checkpoint: Checkpoint) -> tuple[int, int] | None:
    """The blocks the listed parts hold (first, last), checked contiguous; None before the first part."""
    expected = checkpoint.first
    for part in checkpoint.parts:
        if part.first != expected or part.last < part.first:
            raise ValueError(f"checkpoint parts: {part.name} holds {part.first}..{part.last}, expected to start at "
                             f"{expected}")
        expected = part.last + 1
    if expected != checkpoint.events.next_block:
        raise ValueError(f"checkpoint parts end at {expected - 1}, its progress at {checkpoint.events.next_block - 1}")
    return (checkpoint.first, expected - 1) if checkpoint.parts else None
