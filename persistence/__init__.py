"""Durable stores for the risk book: SQLite by default, Redis when REDIS_URL is set."""

from __future__ import annotations

import os

from persistence import arrow_pool
from persistence.sqlite_store import SqliteRiskStore
from persistence.store import RiskStore, SharedDay, StateUnreadable

arrow_pool.configure()  # before any module of this package imports pyarrow (none of the above does)

DEFAULT_SQLITE_PATH = "var/risk_book.sqlite3"


def open_risk_store(
    redis_url: str | None = None, sqlite_path: str | None = None, book_id: str = "main", ledger: str = ""
) -> RiskStore:
    """Redis when a URL is given (or REDIS_URL is set), else the SQLite file (var/risk_book.sqlite3).

    book_id keys the book's state; ledger namespaces the shared daily loss ledger
    (the bot passes its world for both, risk.world.BookWorld.book_id)."""
    url = redis_url if redis_url is not None else os.environ.get("REDIS_URL")
    if url:
        from persistence.redis_store import RedisRiskStore

        return RedisRiskStore(url, book_id, ledger=ledger)
    return SqliteRiskStore(sqlite_path or DEFAULT_SQLITE_PATH, book_id, ledger=ledger)


__all__ = ["RiskStore", "SharedDay", "SqliteRiskStore", "StateUnreadable", "open_risk_store"]
