"""History files: Parquet round trip, CSV import by the documented schema, and every bad file named by file and row."""

from __future__ import annotations

import csv
from pathlib import Path

import msgspec
import numpy as np
import pytest

from backtest.history import HistoryFileError, exact
from backtest.synthetic import SyntheticSpec, generate
from persistence.history import import_files, load, save

HEADER_BLOCKS = ["block_number", "timestamp", "base_fee_wei"]
HEADER_EVENTS = ["block_number", "log_index", "pool", "reserve0", "reserve1"]


@pytest.fixture(scope="module")
def small():
    return generate(SyntheticSpec(seed=5, days=0.05))  # 360 blocks


def write_csv(history, directory: Path, edit_blocks=None, edit_events=None):
    blocks = [[int(b), int(t), int(f)] for b, t, f in
              zip(history.block_number, history.timestamp, history.base_fee_wei)]
    events = [[int(history.event_block[i]), int(history.event_log_index[i]),
               history.meta.pools[history.event_pool[i]].address,
               str(exact(history.reserve0, i)), str(exact(history.reserve1, i))] for i in range(history.events)]
    header_b, header_e = list(HEADER_BLOCKS), list(HEADER_EVENTS)
    if edit_blocks:
        header_b, blocks = edit_blocks(header_b, blocks)
    if edit_events:
        header_e, events = edit_events(header_e, events)
    for name, header, rows in (("blocks.csv", header_b, blocks), ("events.csv", header_e, events)):
        with open(directory / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    (directory / "meta.json").write_bytes(msgspec.json.encode(history.meta))
    return directory / "blocks.csv", directory / "events.csv", directory / "meta.json"


def same(a, b):
    assert a.meta == b.meta
    for name in ("block_number", "timestamp", "base_fee_wei", "event_block", "event_pool", "reserve0", "reserve1",
                 "event_log_index"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_parquet_round_trip_is_exact(small, tmp_path):
    same(load(save(small, tmp_path / "h")), small)


def test_csv_import_follows_the_schema(small, tmp_path):
    same(import_files(*write_csv(small, tmp_path)), small)


def test_a_reserve_beyond_int64_survives_exactly(small, tmp_path):
    big = 2**100 + 12345

    def edit(header, rows):
        rows[0][3] = str(big)
        return header, rows

    h = import_files(*write_csv(small, tmp_path, edit_events=edit))
    assert exact(h.reserve0, 0) == big
    assert exact(load(save(h, tmp_path / "p")).reserve0, 0) == big


def expect(tmp_path, small, match, file, row, **edits):
    paths = write_csv(small, tmp_path, **edits)
    with pytest.raises(HistoryFileError, match=match) as info:
        import_files(*paths)
    assert info.value.file == str(tmp_path / file)
    assert info.value.row == row
    return info.value


def test_missing_column(small, tmp_path):
    def drop(header, rows):
        return header[:4], [r[:4] for r in rows]

    err = expect(tmp_path, small, "missing column", "events.csv", None, edit_events=drop)
    assert "reserve1" in str(err)


def test_gap_in_blocks(small, tmp_path):
    def gap(header, rows):
        return header, rows[:10] + rows[11:]

    err = expect(tmp_path, small, "gap", "blocks.csv", 11, edit_blocks=gap)
    assert f"blocks {small.block_number[10]}..{small.block_number[10]} are missing" in str(err)


def test_unsorted_blocks(small, tmp_path):
    def swap(header, rows):
        rows[5], rows[6] = rows[6], rows[5]
        return header, rows

    expect(tmp_path, small, "ascending", "blocks.csv", 7, edit_blocks=swap)


def test_unsorted_events(small, tmp_path):
    def swap(header, rows):
        rows[20], rows[40] = rows[40], rows[20]
        return header, rows

    # row 21 (moved up from 41) still follows row 20; row 22 is the first that steps back
    expect(tmp_path, small, "must be sorted", "events.csv", 22, edit_events=swap)


def test_duplicate_log(small, tmp_path):
    def dup(header, rows):
        return header, [*rows[:8], list(rows[7]), *rows[8:]]

    expect(tmp_path, small, "duplicate log", "events.csv", 9, edit_events=dup)


def test_negative_reserve(small, tmp_path):
    def negative(header, rows):
        rows[12][4] = "-5"
        return header, rows

    err = expect(tmp_path, small, "reserve1 is negative", "events.csv", 13, edit_events=negative)
    assert small.meta.pools[small.event_pool[12]].address in str(err)


def test_not_a_number_and_unknown_pool(small, tmp_path):
    def garbage(header, rows):
        rows[3][3] = "12x"
        return header, rows

    expect(tmp_path, small, "reserve0 is '12x'", "events.csv", 4, edit_events=garbage)

    def stranger(header, rows):
        rows[2][2] = "0x" + "ab" * 20
        return header, rows

    (tmp_path / "b").mkdir()
    expect(tmp_path / "b", small, "not listed in meta.pools", "events.csv", 3, edit_events=stranger)


def test_unknown_format_and_missing_file(small, tmp_path):
    _, e, m = write_csv(small, tmp_path)
    with pytest.raises(HistoryFileError, match="file not found"):
        import_files(tmp_path / "nope.csv", e, m)
    (tmp_path / "blocks.txt").write_text("x")
    with pytest.raises(HistoryFileError, match=r"\.csv or \.parquet"):
        import_files(tmp_path / "blocks.txt", e, m)
