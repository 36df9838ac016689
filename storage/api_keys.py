"""REST API keys: shown once, stored as a SHA-256 hash, looked up by hash."""

from __future__ import annotations

import sqlite_utils

from bot.crypto import hash_secret, new_token
from bot.timeutil import Clock, parse_iso

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


def list_api_keys(db: sqlite_utils.Database, team_id: str) -> list[dict]:
    """Every key of a workspace (revoked ones too, so an operator sees the whole history),
    with the Slack user id of the member a member key belongs to."""
    return list(db.query(
        "SELECT k.id, k.team_id, k.member_id, m.user_id, k.name, k.prefix, k.created_at, k.last_used_at, "
        "k.revoked_at FROM api_keys k LEFT JOIN members m ON m.id = k.member_id "
        "WHERE k.team_id = ? ORDER BY k.id",
        [team_id],
    ))


LAST_USED_GRANULARITY_SECONDS = 60


def touch_api_key(db: sqlite_utils.Database, key: dict, *, clock: Clock) -> None:
    """Record that `key` was used now — at most one write a minute per key, so an API client
    polling in a loop costs a read, not a write, per request."""
    now = clock.now()
    last = key.get("last_used_at")
    if last is not None:
        try:
            if (now - parse_iso(last)).total_seconds() < LAST_USED_GRANULARITY_SECONDS:
                return
        except ValueError:
            pass
    db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [clock.now_iso(), key["id"]])
