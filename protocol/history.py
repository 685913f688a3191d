"""The devnet history recorder's messages (devnet.history_recorder)."""

from __future__ import annotations

import msgspec


class RecordHistory(msgspec.Struct, frozen=True, tag=True):
    """Timer (or an operator): ingest the blocks mined since the last run (ignored while one runs)."""


class HistoryRecorded(msgspec.Struct, frozen=True, tag=True):
    """A recording run ended: the stored range (None before the first block), or what stopped it."""

    last_block: int | None
    logs: int  # logs stored by this run
    elapsed_s: float
    error: str | None = None


class HistoryRecorderSnapshot(msgspec.Struct, frozen=True, tag=True):
    """Published after every run; read with Handle(path).snapshot()."""

    directory: str
    runs: int
    failures: int
    last_block: int | None
    logs: int  # stored since the recorder started
    last_error: str | None
    updated_at: float
