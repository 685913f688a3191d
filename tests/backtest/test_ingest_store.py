"""Assembling an ingestion's parts: incrementally, run after run, or all at once, the same history files."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtest.history import History, HistoryFileError, HistoryMeta, PoolInfo, TokenInfo
from backtest.ingest_logs import SwapLog, SyncLog
from backtest.ingest_plan import Checkpoint, Part, Progress, Scope
from persistence.history import load
from persistence.ingest_store import ASSEMBLED_FILE, HISTORY_FILES, BlockHeader, IngestStore, StoredChunk

WETH, USDC, DAI = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
POOLS = (PoolInfo("0x" + "a1" * 20, "uniswap", WETH, USDC), PoolInfo("0x" + "a2" * 20, "sushiswap", WETH, USDC),
         PoolInfo("0x" + "a3" * 20, "uniswap", WETH, DAI))
TOKENS = {WETH: TokenInfo("WETH", 18), USDC: TokenInfo("USDC", 6), DAI: TokenInfo("DAI", 18)}


def meta(pools: int) -> HistoryMeta:
    return HistoryMeta(weth=WETH, quote=USDC, tokens=TOKENS, pools=POOLS[:pools])


def chunk(first: int, last: int, rng: random.Random, pools: int) -> StoredChunk:
    headers, syncs, swaps = [], [], []
    for n in range(first, last + 1):
        headers.append(BlockHeader(n, 1_700_000_000 + 12 * n, 10**9 + n, f"0x{n:064x}", f"0x{max(n - 1, 0):064x}"))
        for i in range(rng.randrange(3)):
            pool = POOLS[rng.randrange(pools)].address
            # reserves past 2**64 and near uint112's top: the words' high halves must survive the round trips
            syncs.append(SyncLog(n, 2 * i + 1, pool, rng.randrange(1, 2**112), rng.randrange(1, 2**70)))
            swaps.append(SwapLog(n, 2 * i, pool, WETH, USDC, rng.randrange(2**80), 0, 0, rng.randrange(2**200)))
    return StoredChunk(tuple(headers), tuple(syncs), tuple(swaps))


def ingest(directory: Path, bounds: list[int], seed: int, pools_at: list[int],
           assemble_after: set[int]) -> History | None:
    """Store the chunks bounds[i]..bounds[i+1]-1 one by one; assemble after the chunks in `assemble_after`,
    with the pairs known by then (pools_at[i]: new pairs appear as a factory walk finds them)."""
    store = IngestStore(directory)
    rng = random.Random(seed)
    checkpoint = Checkpoint(1, "0xg", Scope(pairs=tuple(p.address for p in POOLS)), bounds[0],
                            Progress(bounds[0], 1))
    history = None
    for i, (first, end) in enumerate(itertools.pairwise(bounds)):
        part = store.write_part(first, end - 1, chunk(first, end - 1, rng, pools_at[i]))
        checkpoint = Checkpoint(checkpoint.chain_id, checkpoint.genesis_hash, checkpoint.scope, checkpoint.first,
                                Progress(end, 1), (*checkpoint.parts, part))
        store.write_checkpoint(checkpoint)
        if i in assemble_after:
            history = store.assemble(checkpoint, meta(pools_at[i]))
    return history


def same_files(a: Path, b: Path) -> None:
    for name in HISTORY_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def same_history(a: History, b: History) -> None:
    assert a.meta == b.meta
    for column in ("block_number", "timestamp", "base_fee_wei", "event_block", "event_pool", "reserve0", "reserve1",
                   "event_log_index"):
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column), err_msg=column)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(1, 6), min_size=1, max_size=6), seed=st.integers(0, 2**16),
       runs=st.sets(st.integers(0, 5)), widen=st.integers(0, 5))
def test_assembling_run_after_run_writes_the_files_one_assembly_of_every_part_writes(
        tmp_path_factory: pytest.TempPathFactory, cuts: list[int], seed: int, runs: set[int], widen: int) -> None:
    bounds = [100]
    for width in cuts:
        bounds.append(bounds[-1] + width)
    chunks = len(cuts)
    pools_at = [2 if i < widen else 3 for i in range(chunks)]  # a third pair is discovered part-way
    incremental, at_once = tmp_path_factory.mktemp("incremental"), tmp_path_factory.mktemp("at-once")
    last = chunks - 1
    step_by_step = ingest(incremental, bounds, seed, pools_at, {r for r in runs if r < chunks} | {last})
    all_together = ingest(at_once, bounds, seed, pools_at, {last})
    assert step_by_step is not None and all_together is not None
    same_files(incremental, at_once)
    same_history(step_by_step, all_together)
    same_history(load(incremental), all_together)
    assert IngestStore(incremental).already_assembled(
        IngestStore(incremental).read_checkpoint().parts) == IngestStore(incremental).read_checkpoint().parts  # type: ignore[union-attr]


def test_an_assembly_reads_only_the_parts_listed_since_the_last(tmp_path: Path) -> None:
    store = IngestStore(tmp_path)
    ingest(tmp_path, [0, 5, 9], 3, [3, 3], {0})
    checkpoint = store.read_checkpoint()
    assert checkpoint is not None
    assert store.already_assembled(checkpoint.parts) == checkpoint.parts[:1]
    # the first part's files are gone: an assembly that re-read them would fail
    for kind in ("blocks", "sync", "swap"):
        (store.parts / f"{checkpoint.parts[0].name}.{kind}.parquet").unlink()
    history = store.assemble(checkpoint, meta(3))
    assert int(history.block_number[0]) == 0 and int(history.block_number[-1]) == 8
    reference = tmp_path / "reference"
    ingest(reference, [0, 5, 9], 3, [3, 3], {1})
    same_files(tmp_path, reference)


def test_history_files_changed_behind_its_back_make_the_next_assembly_join_every_part(tmp_path: Path) -> None:
    store = IngestStore(tmp_path)
    ingest(tmp_path, [0, 4, 8], 5, [3, 3], {0})
    checkpoint = store.read_checkpoint()
    assert checkpoint is not None
    (tmp_path / "blocks.parquet").write_bytes(b"not the assembled blocks")
    assert store.already_assembled(checkpoint.parts) == ()
    store.assemble(checkpoint, meta(3))
    reference = tmp_path / "reference"
    ingest(reference, [0, 4, 8], 5, [3, 3], {1})
    same_files(tmp_path, reference)
    # a kill while the files were rewritten leaves no record: the next assembly starts over too
    (store.work / ASSEMBLED_FILE).unlink()
    assert store.already_assembled(checkpoint.parts) == ()


def test_a_part_that_breaks_the_history_is_named_whether_assembled_alone_or_after_others(tmp_path: Path) -> None:
    store = IngestStore(tmp_path)
    ingest(tmp_path, [0, 3], 1, [3], {0})
    checkpoint = store.read_checkpoint()
    assert checkpoint is not None
    # a part whose blocks overlap the stored ones (written by hand: the planner never lists such a part)
    part = store.write_part(2, 4, chunk(2, 4, random.Random(2), 3))
    bad = Checkpoint(checkpoint.chain_id, checkpoint.genesis_hash, checkpoint.scope, checkpoint.first,
                     Progress(5, 1), (*checkpoint.parts, Part(part.first, part.last, part.name)))
    with pytest.raises(HistoryFileError, match=r"blocks\.parquet, row 4: block 2 after block 2"):
        store.assemble(bad, meta(3))
