"""The SQLite store: durable settings, the loss ledger, a corrupt file,
and a real process killed with SIGKILL mid-stream whose restart finds exactly what it acknowledged."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import msgspec
import pytest

from persistence import audit_trail
from persistence.sqlite_store import SqliteRiskStore
from persistence.store import StateUnreadable, risk_events
from protocol.risk import GetRiskReport, RiskLimits
from risk import apply_outcome, new_state, report
from supervision import Handle
from tests.risk import book_driver
from tests.risk.budget_racer import DAY
from tests.risk.children import python_module, reap
from tests.risk.factories import T0, outcome
from tests.risk.racing import race

LIMITS = RiskLimits()


@pytest.fixture
def store(tmp_path):
    s = SqliteRiskStore(tmp_path / "book.sqlite3")
    yield s
    s.close()


def test_the_file_is_in_wal_mode_with_full_sync(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_state_is_saved_and_read_back(store, tmp_path):
    assert store.load() is None
    state = new_state(LIMITS, T0)
    state, _ = apply_outcome(state, outcome("a", -600.0), LIMITS, T0)
    store.save(state)
    again = SqliteRiskStore(tmp_path / "book.sqlite3")  # a second connection sees the commit
    assert again.load() == state
    again.close()


def test_the_loss_ledger_reserves_settles_and_lapses(store):
    day = 1_000.0
    assert store.reserve_loss(day, "a", 60.0, 100.0, expires_at=T0 + 60, now=T0)
    assert not store.reserve_loss(day, "b", 50.0, 100.0, expires_at=T0 + 60, now=T0)
    assert store.reserve_loss(day, "b", 40.0, 100.0, expires_at=T0 + 60, now=T0)
    assert store.shared_day(day, T0).used == pytest.approx(100.0)
    shared = store.settle_loss(day, "a", -30.0, now=T0 + 1)
    assert (shared.realized_pnl, shared.reserved) == (-30.0, 40.0)
    assert store.settle_loss(day, "a", -30.0, now=T0 + 2).realized_pnl == -30.0  # idempotent
    assert not store.reserve_loss(day, "c", 31.0, 100.0, expires_at=T0 + 60, now=T0 + 3)
    # b's reservation lapses after its expiry: its room comes back
    assert store.reserve_loss(day, "c", 70.0, 100.0, expires_at=T0 + 200, now=T0 + 61)


def test_a_corrupt_file_is_moved_aside_named_and_never_deleted(tmp_path):
    path = tmp_path / "book.sqlite3"
    garbage = b"this is not a database" * 200
    path.write_bytes(garbage)
    store = SqliteRiskStore(path)
    with pytest.raises(StateUnreadable) as info:
        store.load()
    problem = info.value
    assert str(path) in str(problem) and problem.moved_to in str(problem)
    assert Path(problem.moved_to).read_bytes() == garbage  # kept byte for byte
    assert store.load() is None  # reported once; the fresh file works
    store.save(new_state(LIMITS, T0))
    store.close()


def test_a_state_row_that_does_not_decode_is_moved_aside_with_the_file(tmp_path):
    path = tmp_path / "book.sqlite3"
    store = SqliteRiskStore(path)
    store.save(new_state(LIMITS, T0))
    store._db.execute("UPDATE book SET state = x'c1c1c1'")
    with pytest.raises(StateUnreadable, match="does not decode") as info:
        store.load()
    moved = sqlite3.connect(info.value.moved_to)
    assert moved.execute("SELECT state FROM book").fetchone()[0] == b"\xc1\xc1\xc1"
    moved.close()
    assert store.load() is None
    store.close()


def test_sigkill_mid_stream_then_restart_finds_exactly_the_acknowledged_state(tmp_path):
    db = str(tmp_path / "killed.sqlite3")
    proc = python_module("tests.risk.book_driver", db, "100000", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        last = -1
        for line in proc.stdout:
            last = int(line.split()[1])
            if last >= 60:
                break
        os.kill(proc.pid, signal.SIGKILL)
        for line in proc.stdout:  # acks already written before the kill
            last = int(line.split()[1])
    finally:
        reap(proc)
    assert proc.returncode == -signal.SIGKILL and last >= 60

    survivor = SqliteRiskStore(db)
    durable = survivor.load()
    survivor.close()
    killed_trail = audit_trail.verify_trail(book_driver.audit_dir(db))
    assert killed_trail.ok or "truncated tail" in killed_trail.finding.problem
    durable_audit = risk_events(audit_trail.read_records(book_driver.audit_dir(db)))
    assert durable is not None

    # Replay the same stream in-process; after each acknowledged step read the durable state.
    replay_db = str(tmp_path / "replay.sqlite3")
    reader = SqliteRiskStore(replay_db)
    states, audits = [], []

    def ack(_i, _answer):
        states.append(reader.load())
        audits.append(risk_events(audit_trail.read_records(book_driver.audit_dir(replay_db))))

    book_driver.drive(replay_db, last + 2, ack)
    # Acknowledged means durable: the killed book holds step `last`, or `last + 1` if the kill
    # fell between its save and its ack.
    matches = [j for j in (last, last + 1) if states[j] == durable]
    assert matches, "the durable state is not a state the book acknowledged"
    j = matches[0]
    # write-ahead: the trail holds the events of the durable state, or of the step after it when the
    # kill fell between their append and the state's save
    assert durable_audit in (audits[j], audits[j + 1] if j + 1 < len(audits) else audits[j])
    assert durable.version > 0 and durable.history and durable_audit

    # The book restarted on the killed file answers from exactly that state.
    clock = book_driver.Clock()
    clock.now = max(r.at for r in durable.history)
    reader.close()
    from actors.risk_book import RiskBook
    from supervision import ChildSpec, start_tree, stop_tree, supervisor_spec

    spec = ChildSpec(id="risk-book", start=RiskBook,
                     kwargs={"limits": book_driver.LIMITS, "open_store": lambda: SqliteRiskStore(db), "clock": clock})
    start_tree(supervisor_spec("root", [spec]))
    try:
        got = Handle("/risk-book").ask(GetRiskReport(), timeout=10)
    finally:
        stop_tree()
    assert got == msgspec.structs.replace(report(durable, book_driver.LIMITS, clock.now), book="main")


def test_two_processes_on_one_file_racing_for_the_last_of_the_budget_at_most_one_wins(tmp_path):
    rounds = 12
    target = str(tmp_path / "shared.sqlite3")
    for r in range(rounds):  # each round's ledger: 40 of 100 already lost, 60 left, each racer wants 60
        seed = SqliteRiskStore(f"{target}.{r}")
        seed.settle_loss(DAY, f"seed-{r}", -40.0, T0)
        seed.close()

    def open_gate(_r, racers):
        start = time.monotonic() + 0.03  # both racers spin until this instant, then reserve
        for p in racers:
            p.stdin.write(f"{start}\n")
            p.stdin.flush()

    results = race(target, rounds, open_gate)
    for r in range(rounds):
        won = [res[f"round {r}"] for res in results].count("won")
        assert won == 1, f"round {r}: {won} racers got the last 60 of the budget"
