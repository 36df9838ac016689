"""Meetings (one recording unit per workspace), their lookup keys, plans, and the planner's queue."""

from __future__ import annotations

import json
from typing import Iterable

import sqlite_utils

from storage.decisions import uid_root

PLANNING_COLUMNS = """
    e.id, e.calendar_id, e.provider_event_id, e.ical_uid, e.series_id, e.original_start, e.title,
    e.description, e.start_at, e.end_at, e.all_day, e.status, e.my_response, e.organizer_email,
    e.organizer_self, e.attendee_count, e.has_external, e.meeting_url, e.platform, e.meeting_key,
    e.meeting_id, e.synced_at, c.name AS calendar_name, m.id AS member_id, m.team_id, m.user_id, m.tz
"""
_FROM = """
    FROM events e JOIN calendars c ON c.id = e.calendar_id
    JOIN connections cn ON cn.id = c.connection_id JOIN members m ON m.id = cn.member_id
"""


# -- the planner's queue ----------------------------------------------------------------------

def enqueue(db: sqlite_utils.Database, kind: str, refs: Iterable) -> None:
    """Ask the planner to look at these events / members / meetings / teams again."""
    db.conn.executemany("INSERT OR IGNORE INTO plan_queue (kind, ref) VALUES (?, ?)",
                        [(kind, str(ref)) for ref in refs])


def expand_queue(db: sqlite_utils.Database, *, since: str, members_per_step: int = 25) -> None:
    """Turn "a team's events" into its members, and a few members at a time into their events,
    so that each planning step handles a bounded batch however big the workspace is."""
    for (team,) in db.execute("SELECT ref FROM plan_queue WHERE kind = 'team'").fetchall():
        db.execute("INSERT OR IGNORE INTO plan_queue (kind, ref) SELECT 'member', CAST(id AS TEXT) FROM members "
                   "WHERE team_id = ?", [team])
        db.execute("DELETE FROM plan_queue WHERE kind = 'team' AND ref = ?", [team])
    members = db.execute("SELECT ref FROM plan_queue WHERE kind = 'member' LIMIT ?", [members_per_step]).fetchall()
    for (member,) in members:
        db.execute(f"INSERT OR IGNORE INTO plan_queue (kind, ref) SELECT 'event', CAST(e.id AS TEXT) {_FROM} "
                   "WHERE m.id = ? AND e.end_at > ?", [int(member), since])
        db.execute("DELETE FROM plan_queue WHERE kind = 'member' AND ref = ?", [member])


def take_queue(db: sqlite_utils.Database, limit: int) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in db.execute(
        "SELECT kind, ref FROM plan_queue WHERE kind IN ('event', 'meeting') LIMIT ?", [limit])]


def done_queue(db: sqlite_utils.Database, items: list[tuple[str, str]]) -> None:
    db.conn.executemany("DELETE FROM plan_queue WHERE kind = ? AND ref = ?", items)


def queue_length(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT COUNT(*) FROM plan_queue").fetchone()[0]


# -- events to plan ---------------------------------------------------------------------------

def events_for_planning(db: sqlite_utils.Database, *, event_ids: list[int], since: str) -> list[dict]:
    """Event rows with their member, for events ending after `since`."""
    found = []
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found += db.query(f"SELECT {PLANNING_COLUMNS} {_FROM} WHERE e.id IN ({marks}) AND e.end_at > ?", [*chunk, since])
    return found


def meeting_event_keys(event: dict) -> list[str]:
    """Keys by which the same meeting is found on other calendars, best first."""
    keys = []
    if event.get("ical_uid"):
        keys.append(f"uid:{uid_root(event['ical_uid'])}@{event.get('original_start') or event['start_at']}")
    if event.get("meeting_key"):
        keys.append(f"url:{event['meeting_key']}@{event['start_at']}")
    return keys


def find_meeting_by_keys(db: sqlite_utils.Database, team_id: str, keys: list[str]) -> int | None:
    for key in keys:
        row = db.execute("SELECT meeting_id FROM meeting_keys WHERE team_id = ? AND key = ?", [team_id, key]).fetchone()
        if row:
            return row[0]
    return None


def remember_keys(db: sqlite_utils.Database, team_id: str, keys: list[str], meeting_id: int) -> None:
    db.conn.executemany("INSERT OR IGNORE INTO meeting_keys (team_id, key, meeting_id) VALUES (?, ?, ?)",
                        [(team_id, key, meeting_id) for key in keys])


def create_meeting(db: sqlite_utils.Database, *, team_id: str, identity: str, title: str, meeting_url: str | None,
                   platform: str | None, start_at: str, end_at: str, now: str) -> int:
    cursor = db.execute(
        "INSERT INTO meetings (team_id, identity, title, meeting_url, platform, start_at, end_at, planned_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (team_id, identity) DO NOTHING",
        [team_id, identity, title, meeting_url, platform, start_at, end_at, now])
    if cursor.rowcount:
        return cursor.lastrowid
    return db.execute("SELECT id FROM meetings WHERE team_id = ? AND identity = ?", [team_id, identity]).fetchone()[0]


def get_meeting(db: sqlite_utils.Database, meeting_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM meetings WHERE id = ?", [meeting_id]))
    return rows[0] if rows else None


def write_plans(db: sqlite_utils.Database, rows: list[tuple]) -> None:
    """rows: (event_id, member_id, meeting_id, action, reason, source, bot_config_json, now)."""
    db.conn.executemany(
        "INSERT INTO plans (event_id, member_id, meeting_id, action, reason, source, bot_config, planned_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE SET member_id = excluded.member_id, "
        "meeting_id = excluded.meeting_id, action = excluded.action, reason = excluded.reason, "
        "source = excluded.source, bot_config = excluded.bot_config, planned_at = excluded.planned_at", rows)


def _in_chunks(db: sqlite_utils.Database, sql: str, ids: list[int]) -> list[dict]:
    """Rows of `sql` (with one `{marks}` placeholder list) for all `ids`, 500 at a time."""
    rows: list[dict] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows += db.query(sql.format(marks=",".join("?" * len(chunk))), chunk)
    return rows


def get_meetings(db: sqlite_utils.Database, meeting_ids: list[int]) -> dict[int, dict]:
    return {r["id"]: r for r in _in_chunks(db, "SELECT * FROM meetings WHERE id IN ({marks})", meeting_ids)}


def plans_of_meetings(db: sqlite_utils.Database, meeting_ids: list[int]) -> dict[int, list[dict]]:
    """Plans of the events still in each meeting, with what the meeting should look like."""
    found: dict[int, list[dict]] = {m: [] for m in meeting_ids}
    for row in _in_chunks(db, (
            "SELECT p.*, e.title, e.meeting_url, e.platform, e.start_at, e.end_at, e.status, e.synced_at, "
            "e.series_id, e.attendee_count, e.has_external, mb.user_id, mb.tz, mb.team_id, mb.settings "
            "FROM plans p JOIN events e ON e.id = p.event_id AND e.meeting_id = p.meeting_id "
            "JOIN members mb ON mb.id = p.member_id WHERE p.meeting_id IN ({marks})"), meeting_ids):
        found[row["meeting_id"]].append(row)
    return found


def meetings_with_approvals(db: sqlite_utils.Database, meeting_ids: list[int]) -> set[int]:
    return {r["meeting_id"] for r in _in_chunks(
        db, "SELECT DISTINCT meeting_id FROM approvals WHERE meeting_id IN ({marks})", meeting_ids)}


def api_choices(db: sqlite_utils.Database, meeting_ids: list[int]) -> dict[int, dict]:
    """The latest team-level (API) choice per meeting."""
    subjects = {f"meeting:{m}": m for m in meeting_ids}
    found: dict[int, dict] = {}
    for start in range(0, len(meeting_ids), 500):
        chunk = [f"meeting:{m}" for m in meeting_ids[start:start + 500]]
        marks = ",".join("?" * len(chunk))
        for row in db.query(f"SELECT * FROM decisions WHERE scope = 'meeting' AND subject IN ({marks}) "
                            "ORDER BY updated_at, id", chunk):
            found[subjects[row["subject"]]] = row
    return found


def update_meeting(db: sqlite_utils.Database, meeting_id: int, **fields) -> None:
    if "bot_config" in fields and not isinstance(fields["bot_config"], str):
        fields["bot_config"] = json.dumps(fields["bot_config"], sort_keys=True)
    assignments = ", ".join(f"{name} = ?" for name in fields)
    db.execute(f"UPDATE meetings SET {assignments} WHERE id = ?", [*fields.values(), meeting_id])
