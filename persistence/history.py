"""The history store: pool history as Parquet files (pyarrow), and imports from CSV or Parquet.

Why Parquet through pyarrow rather than DuckDB: the engine reads whole columns into numpy and never
queries; pyarrow hands Parquet columns to numpy without copies, stores uint112 reserves exactly as
decimal128(38, 0), and the three files of a history (blocks.parquet, events.parquet, meta.json) are
readable by any tool (DuckDB, polars, pandas) without our code. DuckDB would add a SQL engine and a
database file format for queries we do not make.

The schema is backtest.history's. Every file problem is a HistoryFileError naming the file, the
row (the first data row is 1) and what is wrong: a missing column, a gap or a step back in the
blocks, unsorted or duplicate logs, a negative reserve, a value that is not a number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from backtest.history import BLOCK_COLUMNS, EVENT_COLUMNS, History, HistoryFileError, HistoryMeta, validate

RESERVE_TYPE = pa.decimal128(38, 0)
BLOCKS_FILE, EVENTS_FILE, META_FILE = "blocks.parquet", "events.parquet", "meta.json"


def _words_to_decimal(words: np.ndarray) -> pa.Array:
    data = np.ascontiguousarray(words, dtype=np.uint64)
    return pa.Array.from_buffers(RESERVE_TYPE, len(data), [None, pa.py_buffer(data.tobytes())])


def decimal_to_words(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    raw = np.frombuffer(array.buffers()[1], dtype=np.uint64)
    return raw[2 * array.offset : 2 * (array.offset + len(array))].reshape(-1, 2)


def save(history: History, directory: str | Path) -> Path:
    """Write the three files of `history` into `directory` (created if needed); returns the directory."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    blocks = pa.table({"block_number": history.block_number, "timestamp": history.timestamp,
                       "base_fee_wei": history.base_fee_wei})
    addresses = np.array([p.address for p in history.meta.pools], dtype=object)
    events = pa.table({
        "block_number": history.event_block,
        "log_index": history.event_log_index,
        "pool": pa.DictionaryArray.from_arrays(pa.array(history.event_pool, pa.int32()), pa.array(addresses)),
        "reserve0": _words_to_decimal(history.reserve0),
        "reserve1": _words_to_decimal(history.reserve1),
    })
    pq.write_table(blocks, out / BLOCKS_FILE)
    pq.write_table(events, out / EVENTS_FILE)
    (out / META_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(history.meta)))
    return out


def load(directory: str | Path) -> History:
    """The history saved in `directory` (or any directory holding the three files), validated."""
    d = Path(directory)
    return import_files(d / BLOCKS_FILE, d / EVENTS_FILE, d / META_FILE)


def read_meta(path: str | Path) -> HistoryMeta:
    try:
        return msgspec.json.decode(Path(path).read_bytes(), type=HistoryMeta)
    except FileNotFoundError:
        raise HistoryFileError(str(path), None, "file not found") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise HistoryFileError(str(path), None, f"not a history meta file: {exc}") from None


def import_files(blocks_path: str | Path, events_path: str | Path, meta_path: str | Path) -> History:
    """Read blocks and events from .csv or .parquet files and the meta JSON; validate; build a History."""
    meta = read_meta(meta_path)
    blocks = _read_table(Path(blocks_path), BLOCK_COLUMNS)
    events = _read_table(Path(events_path), EVENT_COLUMNS)
    block_columns = {name: _integers(blocks, name, str(blocks_path)) for name in BLOCK_COLUMNS}
    event_columns: dict[str, Any] = {
        "block_number": _integers(events, "block_number", str(events_path)),
        "log_index": _integers(events, "log_index", str(events_path)),
        "pool": _pool_codes(events["pool"]),
    }
    for name in ("reserve0", "reserve1"):
        event_columns[name] = _reserves(events, name, str(events_path))
    return validate(meta, block_columns, event_columns, blocks_file=str(blocks_path), events_file=str(events_path))


def _pool_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """(codes, addresses) of the pool column, without a Python string per row."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(pc.cast(column, pa.string()))
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(array, pa.ChunkedArray):  # pyarrow < 17 returns a chunked dictionary array here
        array = array.chunk(0)
    codes = np.asarray(pc.fill_null(array.indices, -1).to_numpy(), dtype=np.int64)
    return codes, [str(a) for a in array.dictionary.to_pylist()]


def _read_table(path: Path, columns: tuple[str, ...]) -> pa.Table:
    if not path.exists():
        raise HistoryFileError(str(path), None, "file not found")
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        elif path.suffix == ".csv":
            # everything as text first: the checks below name the row of a bad value, pyarrow's parser would not
            names = pcsv.read_csv(path, read_options=pcsv.ReadOptions(skip_rows_after_names=0)).schema.names
            table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names}))
        else:
            raise HistoryFileError(str(path), None, "expected a .csv or .parquet file")
    except (pa.ArrowInvalid, OSError) as exc:
        raise HistoryFileError(str(path), None, f"unreadable: {exc}") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise HistoryFileError(str(path), None, f"missing column(s) {', '.join(missing)} (expected "
                                                f"{', '.join(columns)})")
    return table


def _first_bad(column: pa.ChunkedArray, target: pa.DataType) -> tuple[int, str]:
    for i, value in enumerate(column.to_pylist()):
        try:
            pa.array([value]).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return i, repr(value)
        if value is None:
            return i, "an empty value"
    return 0, "a value"


def _integers(table: pa.Table, name: str, file: str) -> np.ndarray:
    column = table[name]
    try:
        if column.null_count:
            raise pa.ArrowInvalid("null")
        return np.asarray(pc.cast(column, pa.int64()).to_numpy())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row, value = _first_bad(column, pa.int64())
        raise HistoryFileError(file, row + 1, f"{name} is {value}, not an integer") from None


def _reserves(table: pa.Table, name: str, file: str) -> np.ndarray:
    column = table[name]
    try:
        if column.null_count:
            raise pa.ArrowInvalid("null")
        source = column if pa.types.is_decimal(column.type) or pa.types.is_string(column.type) else \
            pc.cast(column, pa.string())
        return decimal_to_words(pc.cast(source, RESERVE_TYPE))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row, value = _first_bad(column, RESERVE_TYPE)
        raise HistoryFileError(file, row + 1, f"{name} is {value}, not a whole number of at most 38 digits") from None
