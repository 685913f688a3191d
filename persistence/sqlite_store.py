"""The default risk store: one SQLite file in WAL mode with synchronous=FULL.

A commit in WAL mode with synchronous=FULL is on disk when it returns, so save() -> commit is the
durability point the actor acknowledges after. The loss ledger runs in BEGIN IMMEDIATE
transactions, which also makes it atomic across processes sharing the file on one host.
A file that is not a readable database is moved aside (never deleted) and reported once by load().
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from persistence import store
from risk.state import RiskBookState, decode_state, encode_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS book (
    id TEXT PRIMARY KEY, version INTEGER NOT NULL, state BLOB NOT NULL, saved_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS loss_realized (day TEXT PRIMARY KEY, pnl_micro INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS loss_reservation (
    id TEXT PRIMARY KEY, amount_micro INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS loss_settled (id TEXT PRIMARY KEY, day TEXT NOT NULL);
"""
BUSY_TIMEOUT_S = 5.0


class SqliteRiskStore:
    def __init__(self, path: str | os.PathLike[str], book_id: str = "main", ledger: str = "") -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.book_id = book_id
        # the shared loss ledger's namespace: books of one world share it, other worlds never do
        self._ledger = f"{ledger}/" if ledger else ""
        self._unreadable: store.StateUnreadable | None = None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            self._unreadable = self._move_aside(f"not a readable SQLite database: {exc}")
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # readable by its owner only, like the console token; SQLite gives -wal and -shm the same mode
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise sqlite3.DatabaseError(f"journal_mode is {mode}, WAL could not be enabled")
            db.execute("PRAGMA synchronous=FULL")
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            db.executescript(SCHEMA)
        except BaseException:
            db.close()
            raise
        for suffix in ("", "-wal", "-shm"):  # equity, PnL and stops are the owner's business only
            target = Path(f"{self.path}{suffix}")
            if target.exists():
                os.chmod(target, 0o600)
        return db

    def _move_aside(self, detail: str) -> store.StateUnreadable:
        target = self.path.with_name(f"{self.path.name}.unreadable-{store.aside_stamp()}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                os.replace(src, f"{target}{suffix}")
        return store.StateUnreadable(self.location, str(target), detail)

    # --- state ----------------------------------------------------------------------------------

    def load(self) -> RiskBookState | None:
        if self._unreadable is not None:
            problem, self._unreadable = self._unreadable, None
            raise problem
        row = self._db.execute("SELECT state FROM book WHERE id = ?", (self.book_id,)).fetchone()
        if row is None:
            return None
        try:
            return decode_state(row[0])
        except store.UNDECODABLE as exc:
            self._db.close()
            problem = self._move_aside(f"book {self.book_id!r} does not decode: {exc}")
            self._db = self._open()
            raise problem from exc

    def save(self, state: RiskBookState) -> None:
        now = time.time()
        with self._transaction():
            self._db.execute(
                "INSERT INTO book (id, version, state, saved_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET version = excluded.version, state = excluded.state, "
                "saved_at = excluded.saved_at",
                (self.book_id, state.version, encode_state(state), now),
            )

    # --- the loss ledger ----------------------------------------------------------------------

    def reserve_loss(
        self, day: float, reservation_id: str, amount: float, limit: float, expires_at: float, now: float
    ) -> bool:
        with self._transaction():
            used = self._used(self._day_key(day), now, exclude=f"{self._ledger}{reservation_id}")
            if used + store.to_micro(amount) > store.to_micro(limit):
                return False
            self._db.execute(
                "INSERT INTO loss_reservation (id, amount_micro, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET amount_micro = excluded.amount_micro, "
                "expires_at = excluded.expires_at",
                (f"{self._ledger}{reservation_id}", store.to_micro(amount), expires_at),
            )
            return True

    def settle_loss(self, day: float, reservation_id: str, pnl: float, now: float) -> store.SharedDay:
        key = self._day_key(day)
        with self._transaction():
            self._db.execute("DELETE FROM loss_reservation WHERE id = ?", (f"{self._ledger}{reservation_id}",))
            fresh = self._db.execute(
                "INSERT OR IGNORE INTO loss_settled (id, day) VALUES (?, ?)", (f"{self._ledger}{reservation_id}", key)
            ).rowcount
            if fresh:
                self._db.execute(
                    "INSERT INTO loss_realized (day, pnl_micro) VALUES (?, ?) "
                    "ON CONFLICT(day) DO UPDATE SET pnl_micro = pnl_micro + excluded.pnl_micro",
                    (key, store.to_micro(pnl)),
                )
            return self._day(key, now)

    def _day_key(self, day: float) -> str:
        """The loss ledger is per world: a devnet's losses never spend a paper budget."""
        return f"{self._ledger}{store.day_key(day)}"

    def shared_day(self, day: float, now: float) -> store.SharedDay:
        return self._day(self._day_key(day), now)

    def _day(self, key: str, now: float) -> store.SharedDay:
        row = self._db.execute("SELECT pnl_micro FROM loss_realized WHERE day = ?", (key,)).fetchone()
        reserved = self._db.execute(
            "SELECT COALESCE(SUM(amount_micro), 0) FROM loss_reservation WHERE expires_at > ?", (now,)
        ).fetchone()[0]
        return store.SharedDay.from_micro(row[0] if row else 0, reserved)

    def _used(self, key: str, now: float, exclude: str) -> int:
        self._db.execute("DELETE FROM loss_reservation WHERE expires_at <= ?", (now,))
        row = self._db.execute("SELECT pnl_micro FROM loss_realized WHERE day = ?", (key,)).fetchone()
        reserved = self._db.execute(
            "SELECT COALESCE(SUM(amount_micro), 0) FROM loss_reservation WHERE id != ? AND substr(id, 1, ?) = ?",
            (exclude, len(self._ledger), self._ledger),
        ).fetchone()[0]
        return max(0, -(row[0] if row else 0)) + int(reserved)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the write lock is taken up front, so two
    processes reserving from one ledger serialize instead of both reading the old total."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
