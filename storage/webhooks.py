"""Outbound webhook subscriptions and their deliveries.

A subscription belongs to a workspace (or, when made with a member key, to one member: it only
gets that member's events). Each (subscription, event) is one `outbox` row of kind `webhook`
whose `dedup_key` is `webhook:<webhook-id>`: producing the same event twice is a no-op, and the
webhook-id a receiver sees is the same on every retry (at-least-once, de-duplicable).
"""

from __future__ import annotations

import base64
import json
import secrets
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator

import sqlite_utils

from bot.timeutil import Clock, to_iso

KIND = "webhook"
SECRET_PREFIX = "whsec_"


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """All or nothing, for work that must not be half done (never hold one across an await)."""
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# -- subscriptions --------------------------------------------------------------------------

def create_subscription(db: sqlite_utils.Database, *, team_id: str, member_id: int | None,
                        created_by: int | None, url: str, events: list[str], description: str | None,
                        secret_enc: str, clock: Clock) -> dict:
    cursor = db.execute(
        "INSERT INTO webhook_subscriptions (team_id, member_id, created_by, url, events, description, "
        "secret_enc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [team_id, member_id, created_by, url, json.dumps(events), description, secret_enc, clock.now_iso()],
    )
    return get_subscription(db, cursor.lastrowid)


def get_subscription(db: sqlite_utils.Database, subscription_id: int) -> dict | None:
    rows = list(db.query(
        "SELECT s.*, m.user_id AS member_user_id FROM webhook_subscriptions s "
        "LEFT JOIN members m ON m.id = s.member_id WHERE s.id = ?", [subscription_id]))
    return rows[0] if rows else None


def find_subscription(db: sqlite_utils.Database, subscription_id: int, *, team_id: str,
                      member_id: int | None) -> dict | None:
    """The subscription if the caller may see it: a workspace key sees the workspace's, a member
    key only the member's own."""
    row = get_subscription(db, subscription_id)
    if row is None or row["team_id"] != team_id:
        return None
    if member_id is not None and row["member_id"] != member_id:
        return None
    return row


def list_subscriptions(db: sqlite_utils.Database, *, team_id: str, member_id: int | None) -> list[dict]:
    sql = ("SELECT s.*, m.user_id AS member_user_id FROM webhook_subscriptions s "
           "LEFT JOIN members m ON m.id = s.member_id WHERE s.team_id = ?")
    params: list = [team_id]
    if member_id is not None:
        sql += " AND s.member_id = ?"
        params.append(member_id)
    return list(db.query(sql + " ORDER BY s.id", params))


def update_subscription(db: sqlite_utils.Database, subscription_id: int, *, url: str | None = None,
                        events: list[str] | None = None, description: str | None = None) -> None:
    changes, params = [], []
    for column, value in (("url", url), ("events", json.dumps(events) if events is not None else None),
                          ("description", description)):
        if value is not None:
            changes.append(f"{column} = ?")
            params.append(value)
    if changes:
        db.execute(f"UPDATE webhook_subscriptions SET {', '.join(changes)} WHERE id = ?", params + [subscription_id])


def enable_subscription(db: sqlite_utils.Database, subscription_id: int) -> None:
    db.execute(
        "UPDATE webhook_subscriptions SET status = 'active', failing_since = NULL, disabled_at = NULL, "
        "disabled_reason = NULL WHERE id = ?", [subscription_id])


def disable_subscription(db: sqlite_utils.Database, subscription_id: int, *, reason: str, clock: Clock) -> bool:
    """Stop sending to this endpoint; pending deliveries are cancelled. False if already disabled."""
    with transaction(db):
        cursor = db.execute(
            "UPDATE webhook_subscriptions SET status = 'disabled', disabled_at = ?, disabled_reason = ? "
            "WHERE id = ? AND status = 'active'", [clock.now_iso(), reason, subscription_id])
        if cursor.rowcount == 0:
            return False
        cancel_deliveries(db, subscription_id, reason=f"endpoint disabled: {reason}")
    return True


def delete_subscription(db: sqlite_utils.Database, subscription_id: int) -> None:
    with transaction(db):
        cancel_deliveries(db, subscription_id, reason="subscription deleted")
        db.execute("DELETE FROM webhook_subscriptions WHERE id = ?", [subscription_id])


def active_subscriptions(db: sqlite_utils.Database, team_id: str, event_type: str) -> list[dict]:
    """Active subscriptions of a workspace that want `event_type`."""
    return [
        row for row in db.query(
            "SELECT * FROM webhook_subscriptions WHERE team_id = ? AND status = 'active' ORDER BY id", [team_id])
        if event_type in _event_list(row["events"])
    ]


def subscription_events(row: dict) -> list[str]:
    return _event_list(row["events"])


def _event_list(text: str) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def record_success(db: sqlite_utils.Database, subscription_id: int, *, clock: Clock) -> None:
    db.execute("UPDATE webhook_subscriptions SET failing_since = NULL, last_error = NULL, last_success_at = ? "
               "WHERE id = ?", [clock.now_iso(), subscription_id])


def record_failure(db: sqlite_utils.Database, subscription_id: int, *, error: str, clock: Clock) -> str | None:
    """Note a failed attempt; returns since when the endpoint has been failing (UTC text)."""
    db.execute("UPDATE webhook_subscriptions SET failing_since = COALESCE(failing_since, ?), last_error = ? "
               "WHERE id = ?", [clock.now_iso(), error[:500], subscription_id])
    row = db.execute("SELECT failing_since FROM webhook_subscriptions WHERE id = ?", [subscription_id]).fetchone()
    return row[0] if row else None


# -- deliveries (outbox rows of kind 'webhook') ---------------------------------------------

def enqueue_delivery(db: sqlite_utils.Database, *, subscription: dict, message_id: str, body: dict,
                     clock: Clock) -> bool:
    """Queue one event for one subscription, once: False when this webhook-id was already queued."""
    now = clock.now_iso()
    cursor = db.execute(
        "INSERT INTO outbox (dedup_key, team_id, kind, target, payload, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING",
        [f"{KIND}:{message_id}", subscription["team_id"], KIND, str(subscription["id"]),
         json.dumps(body, separators=(",", ":"), sort_keys=True), now, now],
    )
    return cursor.rowcount > 0


def message_id_of(item: dict) -> str:
    return item["dedup_key"].removeprefix(f"{KIND}:")


def due_deliveries(db: sqlite_utils.Database, *, now: str, limit: int = 50) -> list[dict]:
    """Deliveries to attempt now, oldest first; 'sending' ones were interrupted by a crash."""
    return list(db.query(
        "SELECT o.* FROM outbox o JOIN webhook_subscriptions s ON s.id = CAST(o.target AS INTEGER) "
        "WHERE o.kind = ? AND o.status IN ('pending', 'sending') AND o.next_attempt_at <= ? "
        "AND s.status = 'active' ORDER BY o.next_attempt_at, o.id LIMIT ?",
        [KIND, now, limit],
    ))


def next_due_at(db: sqlite_utils.Database) -> str | None:
    row = db.execute(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE kind = ? AND status IN ('pending', 'sending')", [KIND]
    ).fetchone()
    return row[0] if row else None


def mark_attempt(db: sqlite_utils.Database, item_id: int) -> None:
    db.execute("UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ?", [item_id])


def mark_delivered(db: sqlite_utils.Database, item_id: int, *, result: str, clock: Clock) -> None:
    db.execute("UPDATE outbox SET status = 'sent', sent_at = ?, result = ?, last_error = NULL WHERE id = ?",
               [clock.now_iso(), result[:500], item_id])


def retry_delivery(db: sqlite_utils.Database, item_id: int, *, at: datetime, error: str) -> None:
    db.execute("UPDATE outbox SET status = 'pending', next_attempt_at = ?, last_error = ? WHERE id = ?",
               [to_iso(at), error[:500], item_id])


def fail_delivery(db: sqlite_utils.Database, item_id: int, *, error: str) -> None:
    db.execute("UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?", [error[:500], item_id])


def cancel_deliveries(db: sqlite_utils.Database, subscription_id: int, *, reason: str) -> int:
    cursor = db.execute(
        "UPDATE outbox SET status = 'cancelled', last_error = ? "
        "WHERE kind = ? AND target = ? AND status IN ('pending', 'sending')",
        [reason, KIND, str(subscription_id)])
    return cursor.rowcount


def deliveries(db: sqlite_utils.Database, subscription_id: int) -> list[dict]:
    """Every delivery to this endpoint, oldest first (the API pages them: bot/api/queries.py)."""
    return list(db.query("SELECT * FROM outbox WHERE kind = ? AND target = ? ORDER BY id",
                         [KIND, str(subscription_id)]))


# -- cursors --------------------------------------------------------------------------------

def get_cursor(db: sqlite_utils.Database, name: str) -> str | None:
    row = db.execute("SELECT value FROM cursors WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def set_cursor(db: sqlite_utils.Database, name: str, value: str) -> None:
    db.execute("INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
               [name, value])
