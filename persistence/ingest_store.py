"""The files of an ingestion in progress, and the history they become.

    DIR/.ingest/checkpoint.json           what is done (backtest.ingest_plan.Checkpoint)
    DIR/.ingest/parts/<first>-<last>.{blocks,sync,swap}.parquet   one stored chunk
    DIR/blocks.parquet, events.parquet, meta.json                 the history (persistence.history)
    DIR/swaps.parquet                                             the Swap logs beside it

A part's files are written (each to a temporary name, then renamed) before the checkpoint that lists
them, and the checkpoint is replaced the same way, so a kill at any instant leaves a checkpoint that
lists only complete parts. `assemble` joins the listed parts into the history the engine reads.

    DIR/.ingest/assembled.json            which parts the history files hold (Assembled)

Assembly is incremental: the devnet's recorder assembles every 30 s for as long as the devnet runs, so
re-reading every part each time would cost more the longer it runs. The parts already in the history files
are taken from those files (three columnar reads, no per-row Python), and only the parts listed since are
opened and parsed; the result is the History a join of every part gives, written by the same code, so the
files are the same bytes. Parquet files cannot be extended in place, so the files are still rewritten
(at columnar copy speed). assembled.json is removed before the files are rewritten and written after,
with each file's size and mtime: a kill in between, or a file replaced by anything else, makes the next
assembly join every part again.

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
from persistence.history import BLOCKS_FILE, EVENTS_FILE, META_FILE, decimal_to_words, save

WORK_DIR, CHECKPOINT_FILE, PARTS_DIR, SWAPS_FILE = ".ingest", "checkpoint.json", "parts", "swaps.parquet"
ASSEMBLED_FILE = "assembled.json"
HISTORY_FILES = (BLOCKS_FILE, EVENTS_FILE, META_FILE, SWAPS_FILE)


class BlockHeader(msgspec.Struct, frozen=True):
    number: int
    timestamp: int
    base_fee_wei: int
    hash: str
    parent_hash: str


class FileStamp(msgspec.Struct, frozen=True):
    name: str
    size: int
    mtime_ns: int


class Assembled(msgspec.Struct, frozen=True):
    """The parts the history files hold, and the files as assembly left them."""

    parts: tuple[Part, ...]
    files: tuple[FileStamp, ...]


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

    @property
    def assembled_path(self) -> Path:
        return self.work / ASSEMBLED_FILE

    def _stamps(self) -> tuple[FileStamp, ...] | None:
        stamps = []
        for name in HISTORY_FILES:
            try:
                st = (self.directory / name).stat()
            except FileNotFoundError:
                return None
            stamps.append(FileStamp(name, st.st_size, st.st_mtime_ns))
        return tuple(stamps)

    def already_assembled(self, parts: Sequence[Part]) -> tuple[Part, ...]:
        """The leading parts of `parts` the history files hold as the last assembly left them (else none)."""
        try:
            record = msgspec.json.decode(self.assembled_path.read_bytes(), type=Assembled)
        except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
            return ()
        done = record.parts
        if tuple(parts[:len(done)]) != done or self._stamps() != record.files:
            return ()
        return done

    def assemble(self, checkpoint: Checkpoint, meta: HistoryMeta) -> History:
        """Join the checkpoint's parts into the history files in the directory; the validated History.

        The parts a previous assembly put into the files are read back from them; only the newer ones
        are read from their part files (the module's docstring says why and how it stays exact)."""
        parts = checkpoint.parts
        if not parts:
            raise ValueError(f"{self.directory}: no block stored yet, nothing to assemble")
        done = self.already_assembled(parts)
        new = parts[len(done):]
        blocks: list[pa.Table] = []
        pool_codes: list[np.ndarray] = []
        pool_names: list[str] = []
        event_columns: dict[str, list[np.ndarray]] = {c: [] for c in ("block_number", "log_index", "reserve0",
                                                                      "reserve1")}
        swaps: list[pa.Table] = []
        if done:
            blocks.append(pq.read_table(self.directory / BLOCKS_FILE))
            events = pq.read_table(self.directory / EVENTS_FILE)
            for c in ("block_number", "log_index"):
                event_columns[c].append(np.asarray(events[c].to_numpy(), dtype=np.int64))
            for c in ("reserve0", "reserve1"):
                event_columns[c].append(decimal_to_words(events[c]))
            pools = events["pool"].combine_chunks()
            pool_codes.append(np.asarray(pools.indices.to_numpy(zero_copy_only=False), dtype=np.int64))
            pool_names.extend(str(a) for a in pools.dictionary.to_pylist())
            swaps.append(pq.read_table(self.directory / SWAPS_FILE))
        if new:
            blocks.append(self._concat(new, "blocks").select(["block_number", "timestamp", "base_fee_wei"]))
            syncs = self._concat(new, "sync")
            for c in ("block_number", "log_index"):
                event_columns[c].append(np.asarray(syncs[c].to_numpy(), dtype=np.int64))
            for c in ("reserve0", "reserve1"):
                event_columns[c].append(words_from_ints([int(v) for v in syncs[c].to_pylist()]))
            names, codes = np.unique(np.asarray(syncs["pool"].to_pylist(), dtype=object), return_inverse=True)
            pool_codes.append(np.asarray(codes, dtype=np.int64).reshape(-1) + len(pool_names))
            pool_names.extend(str(a) for a in names.tolist())
            swaps.append(self._concat(new, "swap"))
        block_table = pa.concat_tables(blocks)
        block_columns = {c: np.asarray(block_table[c].to_numpy(), dtype=np.int64)
                         for c in ("block_number", "timestamp", "base_fee_wei")}
        columns: dict[str, object] = {c: np.concatenate(v) for c, v in event_columns.items()}
        columns["pool"] = (np.concatenate(pool_codes), pool_names)
        history = validate(meta, block_columns, columns, blocks_file=str(self.parts / "*.blocks.parquet"),
                           events_file=str(self.parts / "*.sync.parquet"))
        self.assembled_path.unlink(missing_ok=True)  # the files are about to change: no record until they are whole
        save(history, self.directory)
        _write_table(pa.concat_tables(swaps).combine_chunks(), self.directory / SWAPS_FILE)
        stamps = self._stamps()
        if stamps is not None:
            _replace_atomically(self.assembled_path, msgspec.json.encode(Assembled(tuple(parts), stamps)))
        return history

    def read_swaps(self) -> pa.Table:
        return pq.read_table(self.directory / SWAPS_FILE)
