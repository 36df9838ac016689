"""Opening the database: one SQLite file, WAL, foreign keys, migrations applied at start-up."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from storage.migrations import apply_migrations


class DatabaseError(Exception):
    """The database cannot be opened or migrated; the message says what to do."""


def open_database(path: str | Path, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the calbot database.

    WAL lets the HTTP handlers read while the engine writes; `synchronous=NORMAL` is safe with
    WAL (a power cut may lose the last transaction, never corrupt the file) and much faster.
    `check_same_thread=False` because uvicorn's lifespan and request handling may run on a
    different thread than the one that opened it; calbot itself uses it from one event loop.
    """
    path = str(path)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        # No checkpoint inside our own commits: copying the WAL into the database file and
        # fsyncing it would hold the event loop (and every Slack ack) for as long as the disk
        # takes. `checkpoint` does it from a worker thread on its own connection instead
        # (bot/engine/checkpoints.py).
        conn.execute("PRAGMA wal_autocheckpoint=0")
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open database {path!r} (CALBOT_DATABASE): {exc}") from exc
    db = sqlite_utils.Database(conn)
    if migrate:
        apply_migrations(db)
    return db


def checkpoint(path: str | Path) -> tuple[int, int, int]:
    """Copy the WAL back into the database file without blocking writers (PASSIVE), on a
    connection of its own — made to run in a worker thread. Returns SQLite's (busy, log, done)."""
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        return tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
    finally:
        conn.close()
