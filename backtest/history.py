"""Pool history as the engine replays it: blocks, Sync events and the pools they belong to, as numpy arrays.

Schema (the same for the Parquet store and for CSV / Parquet imports, persistence.history):

blocks: one row per block, every block of the range, ascending, no gaps
  block_number  int64
  timestamp     int64   seconds since the epoch
  base_fee_wei  int64   the block's EIP-1559 base fee

events: one row per Sync log, ordered by (block_number, log_index), no duplicates
  block_number  int64
  log_index     int64   the log's index in its block
  pool          string  the pair's address (listed in meta)
  reserve0      uint112 as a decimal integer (Parquet decimal128(38, 0), CSV digits): reserves after the log
  reserve1      uint112 likewise

meta (JSON): weth, quote (the numeraire token, a USD stablecoin), synthetic (a description, or null
for real history), tokens {address: {symbol, decimals}}, pools [{address, dex, token0, token1, fee_bps}].

A pool joins the market at its first Sync (as after PairCreated); Swap logs are not needed to replay
reserves, because every reserve change of a V2 pair emits a Sync with the new reserves.

Reserves are uint112 and do not fit int64: they are held as (n, 2) uint64 arrays of [low, high]
64-bit words, exact; `as_float` gives the float64 view the vectorised screen uses, `exact` the int.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from amm.v2 import MAX_RESERVE

WORD = 2.0**64
BLOCK_COLUMNS = ("block_number", "timestamp", "base_fee_wei")
EVENT_COLUMNS = ("block_number", "log_index", "pool", "reserve0", "reserve1")


class TokenInfo(msgspec.Struct, frozen=True):
    symbol: str
    decimals: int


class PoolInfo(msgspec.Struct, frozen=True):
    address: str
    dex: str
    token0: str
    token1: str
    fee_bps: int = 30


class HistoryMeta(msgspec.Struct, frozen=True):
    weth: str
    quote: str
    tokens: dict[str, TokenInfo]
    pools: tuple[PoolInfo, ...]
    synthetic: str | None = None  # what generated it; None for recorded history


class HistoryFileError(ValueError):
    """A history file that cannot be replayed: which file, which row (1 = the first data row), what is wrong."""

    def __init__(self, file: str, row: int | None, problem: str) -> None:
        self.file, self.row, self.problem = file, row, problem
        where = f"{file}, row {row}" if row is not None else file
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class History:
    """A validated block range: per block arrays, per event arrays (pool as an index into meta.pools)."""

    meta: HistoryMeta
    block_number: np.ndarray  # (B,) int64, contiguous
    timestamp: np.ndarray  # (B,) int64
    base_fee_wei: np.ndarray  # (B,) int64
    event_block: np.ndarray  # (E,) int64, ascending
    event_pool: np.ndarray  # (E,) int32 index into meta.pools
    reserve0: np.ndarray  # (E, 2) uint64 [low, high]
    reserve1: np.ndarray  # (E, 2) uint64
    event_log_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def blocks(self) -> int:
        return len(self.block_number)

    @property
    def events(self) -> int:
        return len(self.event_block)

    def window(self, first: int, last: int) -> History:
        """The blocks first..last (inclusive) and their events."""
        b0, b1 = np.searchsorted(self.block_number, [first, last + 1])
        e0, e1 = np.searchsorted(self.event_block, [first, last + 1])
        return History(self.meta, self.block_number[b0:b1], self.timestamp[b0:b1], self.base_fee_wei[b0:b1],
                       self.event_block[e0:e1], self.event_pool[e0:e1], self.reserve0[e0:e1], self.reserve1[e0:e1],
                       self.event_log_index[e0:e1] if len(self.event_log_index) else self.event_log_index)


def as_float(words: np.ndarray) -> np.ndarray:
    """float64 values of (n, 2) [low, high] uint64 words (rounded to 53 bits: for the screen only)."""
    return words[:, 1].astype(np.float64) * WORD + words[:, 0].astype(np.float64)


def exact(words: np.ndarray, i: int) -> int:
    return (int(words[i, 1]) << 64) | int(words[i, 0])


def words_from_ints(values: list[int]) -> np.ndarray:
    """(n, 2) [low, high] words of non-negative ints below 2**128."""
    mask = (1 << 64) - 1
    return np.array([[v & mask, v >> 64] for v in values], dtype=np.uint64).reshape(-1, 2)


def words_from_float(values: np.ndarray) -> np.ndarray:
    """(n, 2) words of non-negative integer-valued float64s (exact: both halves are integers below 2**64)."""
    high = np.floor(values / WORD)
    low = values - high * WORD
    return np.stack((low.astype(np.uint64), high.astype(np.uint64)), axis=1)


def validate(
    meta: HistoryMeta,
    blocks: dict[str, np.ndarray],
    events: dict[str, Any],
    *,
    blocks_file: str = "blocks",
    events_file: str = "events",
) -> History:
    """Check every rule of the schema and build the History; the first broken rule raises HistoryFileError.

    events["pool"] is an array of addresses, or (codes, names) when the caller has them dictionary-encoded.

    events["reserve0"/"reserve1"] are (n, 2) words whose high word is read as signed: a two's
    complement negative (as decimal128 stores it) is reported as a negative reserve.
    """
    for name, columns, table, file in (("blocks", BLOCK_COLUMNS, blocks, blocks_file),
                                       ("events", EVENT_COLUMNS, events, events_file)):
        missing = [c for c in columns if c not in table]
        if missing:
            raise HistoryFileError(file, None, f"missing column(s) {', '.join(missing)} (the {name} schema is "
                                               f"{', '.join(columns)})")
    number = np.asarray(blocks["block_number"], dtype=np.int64)
    if len(number) == 0:
        raise HistoryFileError(blocks_file, None, "no blocks")
    step = np.diff(number)
    if (bad := np.flatnonzero(step <= 0)).size:
        i = int(bad[0]) + 1
        raise HistoryFileError(blocks_file, i + 1, f"block {number[i]} after block {number[i - 1]}: blocks must be "
                                                   "ascending and listed once")
    if (bad := np.flatnonzero(step > 1)).size:
        i = int(bad[0]) + 1
        raise HistoryFileError(blocks_file, i + 1, f"gap: blocks {number[i - 1] + 1}..{number[i] - 1} are missing")
    timestamp = np.asarray(blocks["timestamp"], dtype=np.int64)
    if (bad := np.flatnonzero(np.diff(timestamp) < 0)).size:
        i = int(bad[0]) + 1
        raise HistoryFileError(blocks_file, i + 1, f"timestamp {timestamp[i]} goes back from {timestamp[i - 1]}")
    base_fee = np.asarray(blocks["base_fee_wei"], dtype=np.int64)
    if (bad := np.flatnonzero(base_fee < 0)).size:
        raise HistoryFileError(blocks_file, int(bad[0]) + 1, f"negative base fee {base_fee[bad[0]]}")

    event_block = np.asarray(events["block_number"], dtype=np.int64)
    log_index = np.asarray(events["log_index"], dtype=np.int64)
    order_step = np.diff(event_block)
    same_block = order_step == 0
    log_step = np.diff(log_index)
    if (bad := np.flatnonzero((order_step < 0) | (same_block & (log_step < 0)))).size:
        i = int(bad[0]) + 1
        raise HistoryFileError(events_file, i + 1, f"log ({event_block[i]}, {log_index[i]}) after "
                               f"({event_block[i - 1]}, {log_index[i - 1]}): events must be sorted by block and "
                               "log index")
    if (bad := np.flatnonzero(same_block & (log_step == 0))).size:
        i = int(bad[0]) + 1
        raise HistoryFileError(events_file, i + 1, f"duplicate log: block {event_block[i]} log index {log_index[i]} "
                                                   f"is also row {i}")
    if len(event_block) and (event_block[0] < number[0] or event_block[-1] > number[-1]):
        i = 0 if event_block[0] < number[0] else len(event_block) - 1
        raise HistoryFileError(events_file, i + 1, f"block {event_block[i]} is outside the blocks' range "
                                                   f"{number[0]}..{number[-1]}")
    index = {p.address.lower(): k for k, p in enumerate(meta.pools)}
    pools = events["pool"]
    if isinstance(pools, tuple):  # already dictionary-encoded: (codes, names)
        inverse, names = np.asarray(pools[0], dtype=np.int64), list(pools[1])
    else:
        names_array, inverse = np.unique(np.asarray(pools), return_inverse=True)
        names = names_array.tolist()
    known = np.array([index.get(str(c).lower(), -1) for c in names] + [-1], dtype=np.int32)
    pool_index = known[inverse] if len(inverse) else np.zeros(0, dtype=np.int32)
    if (bad := np.flatnonzero(pool_index < 0)).size:
        code = int(inverse[bad[0]])
        raise HistoryFileError(events_file, int(bad[0]) + 1, "pool is empty" if code < 0 else
                               f"pool {names[code]} is not listed in meta.pools")
    words = {}
    for column in ("reserve0", "reserve1"):
        w = np.asarray(events[column], dtype=np.uint64).reshape(-1, 2)
        high = w[:, 1].view(np.int64)
        if (bad := np.flatnonzero(high < 0)).size:
            i = int(bad[0])
            value = int(high[i]) * 2**64 + int(w[i, 0])
            raise HistoryFileError(events_file, i + 1,
                                   f"{column} is negative ({value}) for pool {names[inverse[i]]}")
        if (bad := np.flatnonzero(w[:, 1] >= np.uint64(1 << 48))).size:
            raise HistoryFileError(events_file, int(bad[0]) + 1, f"{column} exceeds uint112 ({MAX_RESERVE})")
        words[column] = w
    return History(meta, number, timestamp, base_fee, event_block, pool_index.astype(np.int32),
                   words["reserve0"], words["reserve1"], log_index)
