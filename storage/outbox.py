"""The outbox: every Slack message (and outbound webhook) calbot means to send, exactly once.

Callers say *what a message should look like*, under a stable key ("approval:42",
"notice:C123:7", "digest:5:2026-11-24"); the notifier makes Slack match. Posting the same key
twice is a no-op, so a retried loop never posts a notice twice; editing a key that was already
posted marks it for one `chat.update` with the latest content, however many edits came in between.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlite_utils

from bot.timeutil import Clock, to_iso


def post_message(db: sqlite_utils.Database, *, key: str, team_id: str | None, kind: str, target: str,
                 payload: dict, clock: Clock, not_before: datetime | None = None) -> bool:
    """Queue a message once. Returns False when `key` was already queued (nothing changes)."""
    now = clock.now_iso()
    cursor = db.execute(
        "INSERT INTO outbox (dedup_key, team_id, kind, target, payload, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING",
        [key, team_id, kind, target, json.dumps(payload), to_iso(not_before) if not_before else now, now],
    )
    return cursor.rowcount > 0


def edit_message(db: sqlite_utils.Database, *, key: str, payload: dict, clock: Clock) -> bool:
    """Change what message `key` says. Not yet posted: it will be posted with this content.
    Already posted: one chat.update with the latest content. Returns False for an unknown key."""
    cursor = db.execute(
        "UPDATE outbox SET payload = ?, version = version + 1, "
        "needs_update = CASE WHEN status = 'sent' THEN 1 ELSE needs_update END, "
        "next_attempt_at = CASE WHEN status = 'sent' THEN ? ELSE next_attempt_at END "
        "WHERE dedup_key = ? AND kind LIKE 'slack.%'",
        [json.dumps(payload), clock.now_iso(), key],
    )
    return cursor.rowcount > 0


def upsert_message(db: sqlite_utils.Database, *, key: str, team_id: str | None, kind: str, target: str,
                   payload: dict, clock: Clock) -> None:
    """Post if new, edit if known: for messages that track a living thing (a meeting's notice)."""
    if not post_message(db, key=key, team_id=team_id, kind=kind, target=target, payload=payload, clock=clock):
        current = db.execute("SELECT payload FROM outbox WHERE dedup_key = ?", [key]).fetchone()
        if current is None or json.loads(current[0]) != payload:
            edit_message(db, key=key, payload=payload, clock=clock)


def find_message(db: sqlite_utils.Database, key: str) -> dict | None:
    rows = list(db.query("SELECT * FROM outbox WHERE dedup_key = ?", [key]))
    return rows[0] if rows else None


def due_slack_messages(db: sqlite_utils.Database, *, now: str, limit: int = 50) -> list[dict]:
    """Messages to post or update now, oldest first. 'sending' ones were interrupted by a crash."""
    return list(db.query(
        "SELECT * FROM outbox WHERE kind LIKE 'slack.%' AND next_attempt_at <= ? AND "
        "(status IN ('pending', 'sending') OR (status = 'sent' AND needs_update = 1)) "
        "ORDER BY id LIMIT ?",
        [now, limit],
    ))


def pending_count(db: sqlite_utils.Database) -> int:
    return db.execute(
        "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending') OR needs_update = 1"
    ).fetchone()[0]


def mark_sending(db: sqlite_utils.Database, item_id: int) -> None:
    db.execute("UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ? AND status = 'pending'",
               [item_id])


def mark_posted(db: sqlite_utils.Database, item: dict, *, channel: str, ts: str, clock: Clock) -> None:
    """Posted with content `item['version']`; if it was edited meanwhile, an update is still due."""
    db.execute(
        "UPDATE outbox SET status = 'sent', channel = ?, message_ts = ?, sent_at = ?, last_error = NULL, "
        "needs_update = CASE WHEN version = ? THEN 0 ELSE 1 END, attempts = 0 WHERE id = ?",
        [channel, ts, clock.now_iso(), item["version"], item["id"]],
    )


def mark_updated(db: sqlite_utils.Database, item: dict) -> None:
    db.execute(
        "UPDATE outbox SET needs_update = CASE WHEN version = ? THEN 0 ELSE 1 END, attempts = 0, last_error = NULL "
        "WHERE id = ?",
        [item["version"], item["id"]],
    )


def retry_later(db: sqlite_utils.Database, item: dict, *, at: datetime, error: str) -> None:
    """Try again at `at`. An interrupted post goes back to pending; update attempts are counted
    here (post attempts are counted when sending starts)."""
    db.execute(
        "UPDATE outbox SET status = CASE WHEN status = 'sending' THEN 'pending' ELSE status END, "
        "attempts = attempts + CASE WHEN status = 'sent' THEN 1 ELSE 0 END, "
        "next_attempt_at = ?, last_error = ? WHERE id = ?",
        [to_iso(at), error, item["id"]],
    )


def give_up(db: sqlite_utils.Database, item: dict, *, error: str) -> None:
    """A permanent failure (channel gone, app uninstalled): stop trying, keep the reason."""
    if item["status"] == "sent":
        db.execute("UPDATE outbox SET needs_update = 0, last_error = ? WHERE id = ?", [error, item["id"]])
    else:
        db.execute("UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?", [error, item["id"]])
