"""The range planner and the checkpoint: whatever the refusals and wherever a run dies, no gap and no duplicate."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.history import PoolInfo
from backtest.ingest_plan import (
    Checkpoint,
    CheckpointMismatch,
    ChunkPolicy,
    Part,
    Progress,
    RangeUnfetchable,
    Refused,
    Scope,
    begin,
    covered,
    drive,
    final_block,
    next_range,
    refused,
    stored,
    with_pairs,
    with_part,
)


class Killed(Exception):
    """The process died here (SIGKILL): nothing after this point of the run happens."""


@dataclass
class Chunk:
    blocks: list[int]
    last_hash: str


@dataclass
class Disk:
    """What survives a kill: part files (overwritten when written again) and the checkpoint."""

    files: dict[str, list[int]] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None


@dataclass
class World:
    """A node that refuses ranges wider than its limit of the moment, and a run that may die at any step."""

    limits: list[int]
    deaths: set[int]  # step numbers at which the process dies
    step: int = 0
    asked: list[tuple[int, int]] = field(default_factory=list)

    def tick(self) -> None:
        self.step += 1
        if self.step in self.deaths:
            raise Killed(self.step)

    def limit(self) -> int:
        return self.limits[self.step % len(self.limits)]


def run_once(disk: Disk, world: World, first: int, last: int, policy: ChunkPolicy) -> Checkpoint:
    """One process's life: resume from disk, walk, die wherever the world says (as ChainHistoryFetcher does)."""
    checkpoint = begin(disk.checkpoint, 1, "0xgenesis", Scope(pairs=("0xpool",)), first, policy)
    disk.checkpoint = checkpoint
    holder = [checkpoint]

    def fetch(start: int, end: int, progress: Progress) -> Chunk:
        world.tick()
        world.asked.append((start, end))
        if end - start + 1 > world.limit():
            raise Refused(start, end, "query returned more than 10000 results")
        return Chunk(list(range(start, end + 1)), f"0x{end:x}")

    def commit(start: int, end: int, chunk: Chunk, after: Progress) -> None:
        world.tick()  # may die before the part's files
        name = f"{start}-{end}"
        disk.files[name] = chunk.blocks
        world.tick()  # may die between the files and the checkpoint
        holder[0] = with_part(holder[0], Part(start, end, name), after)
        disk.checkpoint = holder[0]

    drive(checkpoint.events, last, policy, fetch, commit)
    return holder[0]


policies = st.builds(lambda span, grow, cap: ChunkPolicy(initial_span=span, max_span=max(span, cap), grow_after=grow,
                                                         attempts_at_one_block=10**6),
                     st.integers(1, 64), st.integers(1, 5), st.integers(1, 256))


@settings(max_examples=300, deadline=None)
@given(first=st.integers(0, 10**7), length=st.integers(1, 400), policy=policies,
       limits=st.lists(st.integers(1, 100), min_size=1, max_size=8),
       deaths=st.sets(st.integers(1, 600), max_size=12))
def test_killed_and_refused_runs_store_every_block_exactly_once(first, length, policy, limits, deaths):
    last = first + length - 1
    disk, world = Disk(), World(limits, deaths)
    for _ in range(len(deaths) + 1):
        try:
            checkpoint = run_once(disk, world, first, last, policy)
            break
        except Killed:
            continue
    else:
        pytest.fail("the run never finished")
    assert covered(checkpoint) == (first, last)
    blocks = [b for part in checkpoint.parts for b in disk.files[part.name]]
    assert blocks == list(range(first, last + 1))  # no gap, no duplicate, in order
    assert checkpoint.events.last_hash == f"0x{last:x}"
    # the node was never asked for a block before one already stored (no re-fetch of stored blocks)
    assert all(end - start + 1 <= policy.max_span for start, end in world.asked)


@settings(max_examples=200, deadline=None)
@given(policy=policies, outcomes=st.lists(st.booleans(), min_size=1, max_size=60))
def test_the_width_halves_on_a_refusal_and_doubles_after_a_streak(policy, outcomes):
    progress = Progress(0, policy.initial_span)
    for ok in outcomes:
        first, end = next_range(progress, 10**9) or (0, 0)
        width = end - first + 1
        assert 1 <= width <= policy.max_span
        if ok:
            after = stored(progress, first, end, policy, None)
            assert after.next_block == end + 1
            assert after.span in (progress.span, min(policy.max_span, progress.span * 2))
            if after.span > progress.span:
                assert progress.streak + 1 >= policy.grow_after
        else:
            after = refused(progress, first, end, policy, "too wide")
            assert after.next_block == progress.next_block
            assert after.span == max(1, width // 2)
        progress = after


def test_a_block_refused_even_alone_stops_the_run_naming_it():
    policy = ChunkPolicy(initial_span=4, attempts_at_one_block=3)
    stored_parts: list[tuple[int, int]] = []

    def fetch(start: int, end: int, _: Progress) -> Chunk:
        if start <= 10 <= end:
            raise Refused(start, end, "response size exceeded")
        return Chunk(list(range(start, end + 1)), "0x0")

    with pytest.raises(RangeUnfetchable) as exc:
        drive(Progress(0, 4), 20, policy, fetch, lambda s, e, c, a: stored_parts.append((s, e)))
    assert exc.value.block == 10 and exc.value.attempts == 3
    assert stored_parts[-1][1] == 9  # everything before it is stored


def test_a_chunk_must_start_at_the_next_block():
    progress = Progress(100, 10)
    with pytest.raises(ValueError, match="next block 100"):
        stored(progress, 101, 110, ChunkPolicy(), None)
    checkpoint = Checkpoint(1, "0xg", Scope(pairs=("0xp",)), 100, progress)
    with pytest.raises(ValueError, match="does not continue"):
        with_part(checkpoint, Part(105, 110, "x"), Progress(111, 10))


def test_a_checkpoint_of_another_ingestion_is_not_resumed():
    policy = ChunkPolicy()
    scope = Scope(pairs=("0xp",))
    existing = begin(None, 1, "0xg", scope, 100, policy)
    assert begin(existing, 1, "0xg", scope, 100, policy) is existing
    for args, what in (((5, "0xg", scope, 100), "chain id"), ((1, "0xother", scope, 100), "genesis"),
                       ((1, "0xg", Scope(pairs=("0xq",)), 100), "scope"), ((1, "0xg", scope, 50), "first block")):
        with pytest.raises(CheckpointMismatch, match=what):
            begin(existing, *args, policy)


def test_a_factory_scope_walks_pair_creations_from_factory_from():
    checkpoint = begin(None, 1, "0xg", Scope(factories=(("uniswap", "0xf"),), factory_from=7), 100, ChunkPolicy())
    assert checkpoint.pairs is not None and checkpoint.pairs.next_block == 7
    assert checkpoint.events.next_block == 100


def test_covered_refuses_a_checkpoint_with_a_hole():
    checkpoint = Checkpoint(1, "0xg", Scope(), 0, Progress(20, 10), parts=(Part(0, 9, "a"), Part(11, 19, "b")))
    with pytest.raises(ValueError, match="expected to start at 10"):
        covered(checkpoint)
    assert covered(msgspec.structs.replace(checkpoint, events=Progress(0, 10), parts=())) is None


def test_only_blocks_confirmations_deep_are_final():
    assert final_block(1_000, 64) == 936
    assert final_block(10, 0) == 10
    with pytest.raises(ValueError):
        final_block(10, -1)


def test_found_pairs_are_the_historys_pool_infos_and_listed_once():
    scope = Scope(factories=(("uniswap", "0xF"),))
    checkpoint = begin(None, 1, "0xg", scope, 0, ChunkPolicy())
    a, b = PoolInfo("0xA", "uniswap", "0x1", "0x2"), PoolInfo("0xB", "uniswap", "0x1", "0x3")
    checkpoint = with_pairs(checkpoint, (a,), Progress(10, 5))
    checkpoint = with_pairs(checkpoint, (a, b), Progress(20, 5))
    assert checkpoint.known_pairs == (a, b)
    again = msgspec.json.decode(msgspec.json.encode(checkpoint), type=Checkpoint)
    assert again == checkpoint


def test_a_checkpoint_written_before_pairs_were_pool_infos_still_resumes():
    # the known_pairs of a version-1 checkpoint carry no fee_bps: they read as V2's 30 bps, as they were assumed
    old = (b'{"chain_id":31337,"genesis_hash":"0xg","scope":{"pairs":[],"factories":[["uniswap","0xF"]],'
           b'"factory_from":0,"dex_names":[]},"first":0,"events":{"next_block":5,"span":2000,"streak":1,'
           b'"refusals":0,"last_hash":"0xh"},"parts":[{"first":0,"last":4,"name":"000000000000-000000000004"}],'
           b'"pairs":{"next_block":5,"span":2000,"streak":1,"refusals":0,"last_hash":null},'
           b'"known_pairs":[{"address":"0xA","dex":"uniswap","token0":"0x1","token1":"0x2"}],"version":1}')
    checkpoint = msgspec.json.decode(old, type=Checkpoint)
    assert checkpoint.known_pairs == (PoolInfo("0xA", "uniswap", "0x1", "0x2", fee_bps=30),)
    assert begin(checkpoint, 31337, "0xg", checkpoint.scope, 0, ChunkPolicy()) is checkpoint
    assert covered(checkpoint) == (0, 4)
