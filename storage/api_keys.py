"""REST API keys: shown once, stored as a SHA-256 hash, looked up by hash."""

from __future__ import annotations

import sqlite_utils

from bot.crypto import hash_secret, new_token
from bot.timeutil import Clock

KEY_PREFIX = "cbk_"


def create_api_key(db: sqlite_utils.Database, *, team_id: str, member_id: int | None, name: str,
                   clock: Clock) -> tuple[int, str]:
    """Store a new key and return (id, the key itself) — the only time the key is visible."""
    key = KEY_PREFIX + new_token(24)
    cursor = db.execute(
        "INSERT INTO api_keys (team_id, member_id, name, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [team_id, member_id, name, key[:10], hash_secret(key), clock.now_iso()],
    )
    return cursor.lastrowid, key


def find_api_key(db: sqlite_utils.Database, key: str) -> dict | None:
    """The active key row for a presented key, or None (unknown or revoked)."""
    rows = list(db.query(
        "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", [hash_secret(key)]
    ))
    return rows[0] if rows else None


def revoke_api_key(db: sqlite_utils.Database, key_id: int, *, team_id: str, clock: Clock) -> bool:
    cursor = db.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND team_id = ? AND revoked_at IS NULL",
        [clock.now_iso(), key_id, team_id],
    )
    return cursor.rowcount > 0
