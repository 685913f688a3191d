"""The files of an ingestion in progress, and the history they become.

    DIR/.ingest/checkpoint.json           what is done (backtest.ingest_plan.Checkpoint)
    DIR/.ingest/parts/<first>-<last>.{blocks,sync,swap}.parquet   one stored chunk
    DIR/blocks.parquet, events.parquet, meta.json                 the history (persistence.history)
    DIR/swaps.parquet                                             the Swap logs beside it

A part's files are written (each to a temporary name, then renamed) before the checkpoint that lists
them, and the checkpoint is replaced the same way, so a kill at any instant leaves a checkpoint that
lists only complete parts. `assemble` joins the listed parts into the history the engine reads.

swaps.parquet: block_number, log_index (int64), pool, sender, to (checksummed addresses), amount0_in,
amount1_in, amount0_out, amount1_out (decimal strings: a uint256 does not fit decimal128). The engine
replays reserves from Sync alone; Swap logs are kept for analysis (volumes, who traded).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from backtest.history import History, HistoryMeta, validate, words_from_ints
from backtest.ingest_logs import SwapLog, SyncLog
from backtest.ingest_plan import Checkpoint, Part
from persistence.history import save

WORK_DIR, CHECKPOINT_FILE, PARTS_DIR, SWAPS_FILE = ".ingest", "checkpoint.json", "parts", "swaps.parquet"


class BlockHeader(msgspec.Struct, frozen=True):
    number: int
    timestamp: int
    base_fee_wei: int
    hash: str
    parent_hash: str


class StoredChunk(msgspec.Struct, frozen=True):
    blocks: tuple[BlockHeader, ...]
    syncs: tuple[SyncLog, ...]
    swaps: tuple[SwapLog, ...]

    @property
    def last_hash(self) -> str | None:
        return self.blocks[-1].hash if self.blocks else None


def _replace_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_table(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class IngestStore:
    """One ingestion's directory: its checkpoint, its parts, and the history assembled from them."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.work = self.directory / WORK_DIR
        self.parts = self.work / PARTS_DIR

    @property
    def checkpoint_path(self) -> Path:
        return self.work / CHECKPOINT_FILE

    def read_checkpoint(self) -> Checkpoint | None:
        try:
            raw = self.checkpoint_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return msgspec.json.decode(raw, type=Checkpoint)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ValueError(f"{self.checkpoint_path}: not an ingestion checkpoint ({exc})") from None

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        _replace_atomically(self.checkpoint_path, msgspec.json.format(msgspec.json.encode(checkpoint)))

    def write_part(self, first: int, last: int, chunk: StoredChunk) -> Part:
        """Write the chunk's three files (complete or not at all, each); the Part to list in the checkpoint."""
        self.parts.mkdir(parents=True, exist_ok=True)
        name = f"{first:012d}-{last:012d}"
        b = chunk.blocks
        _write_table(pa.table({
            "block_number": pa.array([h.number for h in b], pa.int64()),
            "timestamp": pa.array([h.timestamp for h in b], pa.int64()),
            "base_fee_wei": pa.array([h.base_fee_wei for h in b], pa.int64()),
            "hash": pa.array([h.hash for h in b], pa.string()),
        }), self.parts / f"{name}.blocks.parquet")
        s = chunk.syncs
        _write_table(pa.table({
            "block_number": pa.array([x.block for x in s], pa.int64()),
            "log_index": pa.array([x.log_index for x in s], pa.int64()),
            "pool": pa.array([x.pool for x in s], pa.string()),
            "reserve0": pa.array([str(x.reserve0) for x in s], pa.string()),
            "reserve1": pa.array([str(x.reserve1) for x in s], pa.string()),
        }), self.parts / f"{name}.sync.parquet")
        w = chunk.swaps
        _write_table(pa.table({
            "block_number": pa.array([x.block for x in w], pa.int64()),
            "log_index": pa.array([x.log_index for x in w], pa.int64()),
            "pool": pa.array([x.pool for x in w], pa.string()),
            "sender": pa.array([x.sender for x in w], pa.string()),
            "to": pa.array([x.to for x in w], pa.string()),
            **{k: pa.array([str(getattr(x, k)) for x in w], pa.string())
               for k in ("amount0_in", "amount1_in", "amount0_out", "amount1_out")},
        }), self.parts / f"{name}.swap.parquet")
        return Part(first, last, name)

    def _concat(self, parts: Sequence[Part], kind: str) -> pa.Table:
        tables = [pq.read_table(self.parts / f"{p.name}.{kind}.parquet") for p in parts]
        return pa.concat_tables(tables)

    def assemble(self, checkpoint: Checkpoint, meta: HistoryMeta) -> History:
        """Join the checkpoint's parts into the history files in the directory; the validated History."""
        parts = checkpoint.parts
        if not parts:
            raise ValueError(f"{self.directory}: no block stored yet, nothing to assemble")
        blocks = self._concat(parts, "blocks")
        syncs = self._concat(parts, "sync")
        block_columns = {c: np.asarray(blocks[c].to_numpy(), dtype=np.int64)
                         for c in ("block_number", "timestamp", "base_fee_wei")}
        events = {
            "block_number": np.asarray(syncs["block_number"].to_numpy(), dtype=np.int64),
            "log_index": np.asarray(syncs["log_index"].to_numpy(), dtype=np.int64),
            "pool": np.asarray(syncs["pool"].to_pylist(), dtype=object),
            "reserve0": words_from_ints([int(v) for v in syncs["reserve0"].to_pylist()]),
            "reserve1": words_from_ints([int(v) for v in syncs["reserve1"].to_pylist()]),
        }
        history = validate(meta, block_columns, events, blocks_file=str(self.parts / "*.blocks.parquet"),
                           events_file=str(self.parts / "*.sync.parquet"))
        save(history, self.directory)
        _write_table(self._concat(parts, "swap"), self.directory / SWAPS_FILE)
        return history

    def read_swaps(self) -> pa.Table:
        return pq.read_table(self.directory / SWAPS_FILE)
