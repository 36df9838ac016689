"""Bot rows: calbot's record of each recording bot, desired and actual.

`idempotency_key` (a UUID) is the bot's public id and, with `generation`, the key sent to the
recorder in `extra`, so a bot created just before a crash is found again instead of duplicated.
"""

from __future__ import annotations

import json
import uuid

import sqlite_utils

from bot.crypto import TokenCipher, new_token
from bot.timeutil import Clock

LIVE_STATES = ("pending", "creating", "scheduled", "updating", "deleting", "joining", "in_call")
# States the reconciler drives; the others are driven by the recorder's callbacks or are final.
WORKING_STATES = ("pending", "creating", "scheduled", "updating", "deleting")


def recorder_key(bot: dict) -> str:
    """The key in the recorder's `extra`: a re-created bot (new link) gets a new one."""
    return bot["idempotency_key"] if not bot["generation"] else f"{bot['idempotency_key']}:{bot['generation']}"


def current_bot(db: sqlite_utils.Database, meeting_id: int) -> dict | None:
    """The meeting's live bot, else its latest finished one (not a deleted one)."""
    rows = list(db.query(
        "SELECT * FROM bots WHERE meeting_id = ? AND state != 'deleted' "
        "ORDER BY CASE WHEN state IN ('completed', 'failed') THEN 1 ELSE 0 END, id DESC LIMIT 1", [meeting_id]))
    return rows[0] if rows else None


def live_bot(db: sqlite_utils.Database, meeting_id: int) -> dict | None:
    marks = ",".join("?" * len(LIVE_STATES))
    rows = list(db.query(f"SELECT * FROM bots WHERE meeting_id = ? AND state IN ({marks})", [meeting_id, *LIVE_STATES]))
    return rows[0] if rows else None


def create_bot(db: sqlite_utils.Database, cipher: TokenCipher, *, team_id: str, meeting_id: int, meeting_url: str,
               join_at: str, config: dict, clock: Clock) -> dict:
    now = clock.now_iso()
    cursor = db.execute(
        "INSERT INTO bots (team_id, meeting_id, idempotency_key, meeting_url, join_at, config, callback_secret_enc, "
        "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [team_id, meeting_id, str(uuid.uuid4()), meeting_url, join_at, json.dumps(config, sort_keys=True),
         cipher.encrypt(new_token(24)), now, now, now])
    return get_bot(db, cursor.lastrowid)


def get_bot(db: sqlite_utils.Database, bot_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM bots WHERE id = ?", [bot_id]))
    return rows[0] if rows else None


def find_by_recorder_id(db: sqlite_utils.Database, recorder_bot_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM bots WHERE recorder_bot_id = ?", [recorder_bot_id]))
    return rows[0] if rows else None


def find_by_public_id(db: sqlite_utils.Database, key: str) -> dict | None:
    rows = list(db.query("SELECT * FROM bots WHERE idempotency_key = ?", [key.split(":")[0]]))
    return rows[0] if rows else None


def update_bot(db: sqlite_utils.Database, bot_id: int, *, clock: Clock, **fields) -> None:
    """Change a bot row; `updated_at` always moves (outbound webhooks page by it)."""
    fields["updated_at"] = clock.now_iso()
    for name in ("config", "recording"):
        if name in fields and not isinstance(fields[name], str):
            fields[name] = json.dumps(fields[name], sort_keys=True)
    assignments = ", ".join(f"{name} = ?" for name in fields)
    db.execute(f"UPDATE bots SET {assignments} WHERE id = ?", [*fields.values(), bot_id])


def bots_to_work_on(db: sqlite_utils.Database, *, now: str, limit: int) -> list[dict]:
    marks = ",".join("?" * len(WORKING_STATES))
    return list(db.query(
        f"SELECT * FROM bots WHERE state IN ({marks}) AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
        "ORDER BY join_at LIMIT ?", [*WORKING_STATES, now, limit]))


def meetings_needing_a_bot(db: sqlite_utils.Database, *, now: str, limit: int) -> list[dict]:
    """Meetings that should be recorded, haven't ended, and have no live bot yet."""
    marks = ",".join("?" * len(LIVE_STATES))
    return list(db.query(
        "SELECT mt.* FROM meetings mt WHERE mt.desired = 'record' AND mt.meeting_url IS NOT NULL AND mt.end_at > ? "
        f"AND NOT EXISTS (SELECT 1 FROM bots b WHERE b.meeting_id = mt.id AND (b.state IN ({marks}) "
        "OR (b.state IN ('completed', 'failed') AND b.join_at = mt.start_at))) ORDER BY mt.start_at LIMIT ?",
        [now, *LIVE_STATES, limit]))


def callback_secret(db: sqlite_utils.Database, cipher: TokenCipher, recorder_bot_id: str) -> str | None:
    bot = find_by_recorder_id(db, recorder_bot_id)
    return cipher.decrypt(bot["callback_secret_enc"]) if bot and bot["callback_secret_enc"] else None
