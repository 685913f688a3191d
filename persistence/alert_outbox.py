"""The alert outbox: one SQLite file (WAL, synchronous=FULL) the alert router alone writes.

An alert is accepted when its row is committed. Each notification for a channel is a `deliveries`
row that moves queued -> sending -> delivered | failed | expired (its delivery deadline passed
unsent); a row found `sending` when the outbox is opened again (the process died mid-request)
becomes `unknown`: it may or may not have reached the service, and it is never sent again, so
nothing is sent twice. Rows merged into another one's message (held back by a rate limit) follow
their lead row's fate.

Writes are batched: the router opens a transaction with `begin()` on its first write and commits
with `commit()` once its mailbox has no more alerts waiting, so a burst costs one fsync, not one per
alert.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from protocol.alerts import Alert, AlertType, ChannelKind, Notification, Priority, Silence

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL, condition TEXT NOT NULL, grp TEXT NOT NULL,
    type TEXT NOT NULL, priority TEXT NOT NULL, title TEXT NOT NULL, data TEXT NOT NULL, source TEXT NOT NULL,
    resolved INTEGER NOT NULL, accepted_at REAL NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, flush INTEGER NOT NULL, channel TEXT NOT NULL, priority TEXT NOT NULL,
    notification BLOB NOT NULL, alert_ids TEXT NOT NULL, created_at REAL NOT NULL, status TEXT NOT NULL,
    lead INTEGER, incarnation INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '', done_at REAL);
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, channel);
CREATE INDEX IF NOT EXISTS deliveries_lead ON deliveries (lead);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT, matcher TEXT NOT NULL, until REAL NOT NULL, reason TEXT NOT NULL,
    created_at REAL NOT NULL, by TEXT NOT NULL, removed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS groups (key TEXT PRIMARY KEY, state BLOB NOT NULL);
"""
BUSY_TIMEOUT_S = 5.0
#: The console looks for the recent alerts' deliveries among this many newest rows.
RECENT_DELIVERIES = 2000


class DeliveryRow(msgspec.Struct, frozen=True):
    id: int
    flush: int
    channel: ChannelKind
    priority: Priority
    notification: Notification
    alert_ids: tuple[int, ...]
    created_at: float
    status: str
    lead: int | None
    attempts: int
    detail: str


_COLUMNS = "id, flush, channel, priority, notification, alert_ids, created_at, status, lead, attempts, detail"


def _row(r: tuple[Any, ...]) -> DeliveryRow:
    return DeliveryRow(id=r[0], flush=r[1], channel=ChannelKind(r[2]), priority=Priority(r[3]),
                       notification=msgspec.json.decode(r[4], type=Notification),
                       alert_ids=tuple(msgspec.json.decode(r[5])), created_at=r[6], status=r[7], lead=r[8],
                       attempts=r[9], detail=r[10])


class AlertOutbox:
    def __init__(self, path: str | os.PathLike[str], before_commit: Callable[[], None] | None = None) -> None:
        """`before_commit` writes what must land with every commit (the router's group state)."""
        self.path = Path(path)
        self._before_commit = before_commit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        if self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise sqlite3.DatabaseError(f"{self.path}: WAL could not be enabled")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._open_tx = False

    def close(self) -> None:
        self.commit()
        self._db.close()

    # --- transactions ---------------------------------------------------------------------------

    def begin(self) -> None:
        if not self._open_tx:
            self._db.execute("BEGIN IMMEDIATE")
            self._open_tx = True

    def commit(self) -> None:
        if self._before_commit is not None:
            self._before_commit()
        if self._open_tx:
            self._db.execute("COMMIT")
            self._open_tx = False

    @property
    def dirty(self) -> bool:
        return self._open_tx

    # --- alerts --------------------------------------------------------------------------------

    def add_alert(self, alert: Alert, condition: str, status: str) -> int:
        """Insert (inside the open transaction) and return the alert's id."""
        self.begin()
        cur = self._db.execute(
            "INSERT INTO alerts (fingerprint, condition, grp, type, priority, title, data, source, resolved, "
            "accepted_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (alert.fingerprint, condition, alert.group, alert.type.value, alert.priority.value, alert.title,
             msgspec.json.encode(alert.data).decode(), alert.source, int(alert.resolved), alert.accepted_at, status))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def alerts(self, ids: Iterable[int]) -> dict[int, Alert]:
        wanted = list(ids)
        out: dict[int, Alert] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = self._db.execute(
                f"SELECT id, fingerprint, grp, type, priority, title, data, source, resolved, accepted_at "
                f"FROM alerts WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
            for r in rows:
                out[r[0]] = Alert(id=r[0], fingerprint=r[1], group=r[2], type=AlertType(r[3]), priority=Priority(r[4]),
                                  title=r[5], data=msgspec.json.decode(r[6]), source=r[7], resolved=bool(r[8]),
                                  accepted_at=r[9])
        return out

    def pending_alerts(self) -> list[tuple[Alert, str]]:
        """The alerts still `pending` (not yet told by a group flush), each with its condition."""
        rows = self._db.execute("SELECT id, condition FROM alerts WHERE status = 'pending' ORDER BY id").fetchall()
        found = self.alerts(r[0] for r in rows)
        return [(found[i], condition) for i, condition in rows if i in found]

    def set_alert_status(self, ids: Iterable[int], status: str) -> None:
        self.begin()
        self._db.executemany("UPDATE alerts SET status = ? WHERE id = ?", [(status, i) for i in ids])

    def recent_alerts(self, limit: int) -> list[tuple[int, str, str, str, str, float]]:
        return self._db.execute(
            "SELECT id, type, priority, title, status, accepted_at FROM alerts ORDER BY id DESC LIMIT ?",
            (limit,)).fetchall()

    def count_alerts(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])

    # --- groups --------------------------------------------------------------------------------

    def save_group(self, key: str, state: bytes | None) -> None:
        self.begin()
        if state is None:
            self._db.execute("DELETE FROM groups WHERE key = ?", (key,))
        else:
            self._db.execute("INSERT INTO groups (key, state) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                             "state = excluded.state", (key, state))

    def groups(self) -> list[tuple[str, bytes]]:
        return self._db.execute("SELECT key, state FROM groups").fetchall()

    # --- deliveries ----------------------------------------------------------------------------

    def add_delivery(self, flush: int, channel: ChannelKind, notification: Notification, alert_ids: Iterable[int],
                     now: float) -> int:
        self.begin()
        cur = self._db.execute(
            "INSERT INTO deliveries (flush, channel, priority, notification, alert_ids, created_at, status) "
            "VALUES (?, ?, ?, ?, ?, ?, 'queued')",
            (flush, channel.value, notification.priority.value, msgspec.json.encode(notification),
             msgspec.json.encode(list(alert_ids)).decode(), now))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def next_flush_id(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(flush), 0) FROM deliveries").fetchone()
        return int(row[0]) + 1

    def queued(self, channel: ChannelKind | None = None) -> list[DeliveryRow]:
        if channel is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE status = 'queued' ORDER BY id")
        else:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE status = 'queued' AND channel = ? "
                                    "ORDER BY id", (channel.value,))
        return [_row(r) for r in rows.fetchall()]

    def mark_sending(self, lead: int, ids: Iterable[int], incarnation: int) -> None:
        self.begin()
        self._db.executemany(
            "UPDATE deliveries SET status = 'sending', lead = ?, incarnation = ?, attempts = attempts + 1 "
            "WHERE id = ?", [(lead, incarnation, i) for i in ids])

    def finish(self, lead: int, status: str, detail: str, now: float) -> list[DeliveryRow]:
        """Settle every row sent under `lead` (still sending, or unknown after a restart); returns them."""
        self.begin()
        rows = [_row(r) for r in self._db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE lead = ? AND status IN ('sending', 'unknown')",
            (lead,)).fetchall()]
        self._db.execute("UPDATE deliveries SET status = ?, detail = ?, done_at = ? WHERE lead = ? AND status IN "
                         "('sending', 'unknown')", (status, detail, now, lead))
        return rows

    def requeue(self, lead: int) -> None:
        self.begin()
        self._db.execute("UPDATE deliveries SET status = 'queued', lead = NULL WHERE lead = ? AND status = 'sending'",
                         (lead,))

    def fail_rows(self, ids: Iterable[int], detail: str, now: float, status: str = "failed") -> None:
        """Settle rows that were never sent: `failed`, or `expired` (their delivery deadline passed)."""
        self.begin()
        self._db.executemany("UPDATE deliveries SET status = ?, detail = ?, done_at = ? WHERE id = ?",
                             [(status, detail, now, i) for i in ids])

    def orphan_sending(self, channel: ChannelKind | None = None, below_incarnation: int | None = None) -> int:
        """Rows `sending` whose request may or may not have reached the service become `unknown`."""
        self.begin()
        sql = "UPDATE deliveries SET status = 'unknown', detail = 'in flight when the sender stopped' " \
              "WHERE status = 'sending'"
        args: list[Any] = []
        if channel is not None:
            sql += " AND channel = ?"
            args.append(channel.value)
        if below_incarnation is not None:
            sql += " AND incarnation < ?"
            args.append(below_incarnation)
        return self._db.execute(sql, args).rowcount

    def deliveries_of(self, alert_ids: Iterable[int]) -> dict[int, list[tuple[str, str, int, str]]]:
        """alert id -> [(channel, status, attempts, detail)]; for the console's `alerts`."""
        wanted = set(alert_ids)
        out: dict[int, list[tuple[str, str, int, str]]] = {}
        if not wanted:
            return out
        rows = self._db.execute("SELECT channel, status, attempts, detail, alert_ids FROM deliveries "
                                "ORDER BY id DESC LIMIT ?", (RECENT_DELIVERIES,)).fetchall()[::-1]
        for channel, status, attempts, detail, ids in rows:
            for alert_id in msgspec.json.decode(ids):
                if alert_id in wanted:
                    out.setdefault(alert_id, []).append((channel, status, attempts, detail))
        return out

    def flush_rows(self, flushes: Iterable[int]) -> list[DeliveryRow]:
        wanted = list(flushes)
        if not wanted:
            return []
        return [_row(r) for r in self._db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE flush IN ({','.join('?' * len(wanted))})", wanted).fetchall()]

    def open_critical_flushes(self) -> list[int]:
        """Flushes of critical alerts with no row delivered on a human channel and some still undecided."""
        rows = self._db.execute(
            "SELECT flush FROM deliveries WHERE priority = 'critical' GROUP BY flush HAVING "
            "SUM(CASE WHEN status = 'delivered' AND channel != 'log' THEN 1 ELSE 0 END) = 0").fetchall()
        return [r[0] for r in rows]

    def status_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall())

    def queued_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT channel, COUNT(*) FROM deliveries WHERE status = 'queued' "
                                     "GROUP BY channel").fetchall())

    # --- silences ------------------------------------------------------------------------------

    def add_silence(self, matcher: str, until: float, reason: str, created_at: float, by: str) -> Silence:
        self.begin()
        cur = self._db.execute("INSERT INTO silences (matcher, until, reason, created_at, by) VALUES (?, ?, ?, ?, ?)",
                               (matcher, until, reason, created_at, by))
        self.commit()
        assert cur.lastrowid is not None
        return Silence(id=cur.lastrowid, matcher=matcher, until=until, reason=reason, created_at=created_at, by=by)

    def remove_silence(self, silence_id: int) -> bool:
        self.begin()
        changed = self._db.execute("UPDATE silences SET removed = 1 WHERE id = ? AND removed = 0",
                                   (silence_id,)).rowcount
        self.commit()
        return bool(changed)

    def silences(self, now: float) -> list[Silence]:
        rows = self._db.execute("SELECT id, matcher, until, reason, created_at, by FROM silences "
                                "WHERE removed = 0 AND until > ? ORDER BY id", (now,)).fetchall()
        return [Silence(id=r[0], matcher=r[1], until=r[2], reason=r[3], created_at=r[4], by=r[5]) for r in rows]
