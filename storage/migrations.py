"""Versioned schema migrations, applied in order at start-up inside a transaction each.

A migration is only ever added, never edited once released. Migrations may add tables, columns
and indexes; anything destructive must copy data forward first — never drop data silently.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from importlib import resources
from typing import Callable

import sqlite_utils

Migration = tuple[int, str, Callable[[sqlite_utils.Database], None]]


def _sql_file(name: str) -> Callable[[sqlite_utils.Database], None]:
    def run(db: sqlite_utils.Database) -> None:
        script = resources.files("storage").joinpath(name).read_text()
        for statement in _statements(script):
            db.execute(statement)

    return run


def _statements(script: str) -> list[str]:
    """Split a schema script into statements (our scripts have no ';' inside literals)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


MIGRATIONS: list[Migration] = [
    (1, "initial schema", _sql_file("schema_0001.sql")),
]


class MigrationError(Exception):
    pass


def applied_versions(db: sqlite_utils.Database) -> set[int]:
    if "schema_migrations" not in db.table_names():
        return set()
    return {row[0] for row in db.execute("SELECT version FROM schema_migrations")}


def apply_migrations(db: sqlite_utils.Database, migrations: list[Migration] | None = None) -> list[int]:
    """Bring the schema up to date; returns the versions applied now."""
    migrations = MIGRATIONS if migrations is None else migrations
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    have = applied_versions(db)
    unknown = have - {v for v, _, _ in migrations}
    if unknown:
        raise MigrationError(
            f"database has schema versions {sorted(unknown)} this calbot does not know; "
            "upgrade calbot or point CALBOT_DATABASE at another file"
        )
    applied = []
    # Any missing version is applied, not just those above the highest: migrations written on
    # parallel branches may land in either order.
    for version, name, run in sorted(migrations, key=lambda m: m[0]):
        if version in have:
            continue
        conn = db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            run(db)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise MigrationError(f"migration {version} ({name}) failed: {exc}") from exc
        applied.append(version)
    return applied
