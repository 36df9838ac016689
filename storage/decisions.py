"""Durable recording choices (from Slack clicks and the API), keyed by subjects that outlive rows.

A choice must survive everything the calendar can do: a full resync that re-lists every event,
a moved occurrence, Google regenerating a series on "this and following". So it is keyed not by
our event row but by what identifies the meeting at the provider:

- one occurrence of a series: the series' root id + the slot it was generated for
  (`occ:<root>@<original start>`), stable when that occurrence alone is moved;
- a single event: its iCalUID (or provider id) (`evt:<uid>`), stable when it moves;
- a whole series: `series:<root>`, and `seriesuid:<iCalUID root>` as a second handle, where the
  root drops Google's split suffix `_R<YYYYMMDDTHHMMSS>`;
- an ad-hoc meeting (API): `meeting:<meeting id>`, team-wide.
"""

from __future__ import annotations

import json
import re

import sqlite_utils

from bot.timeutil import Clock

_SPLIT_SUFFIX = re.compile(r"_R\d{8}(T\d{6}Z?)?$")


def series_root(series_id: str) -> str:
    """Google's "this and following" makes `<id>_R<stamp>`; the series is still `<id>`."""
    return _SPLIT_SUFFIX.sub("", series_id)


def uid_root(ical_uid: str) -> str:
    local, at, domain = ical_uid.partition("@")
    return series_root(local) + at + domain


def occurrence_subject(event: dict) -> str:
    if event.get("series_id"):
        slot = event.get("original_start") or event["start_at"]
        return f"occ:{series_root(event['series_id'])}@{slot}"
    return f"evt:{event.get('ical_uid') or event['provider_event_id']}"


def series_subjects(event: dict) -> list[str]:
    """Handles of the event's series, best first; empty for a single event."""
    if not event.get("series_id"):
        return []
    subjects = [f"series:{series_root(event['series_id'])}"]
    if event.get("ical_uid"):
        subjects.append(f"seriesuid:{uid_root(event['ical_uid'])}")
    return subjects


def record_decision(db: sqlite_utils.Database, *, team_id: str, member_id: int | None, scope: str,
                    subject: str, action: str, source: str, actor: str | None, clock: Clock,
                    bot_config: dict | None = None) -> None:
    """Insert or replace the choice for (member, scope, subject). The last choice wins."""
    now = clock.now_iso()
    db.execute(
        "DELETE FROM decisions WHERE team_id = ? AND COALESCE(member_id, 0) = COALESCE(?, 0) "
        "AND scope = ? AND subject = ?", [team_id, member_id, scope, subject])
    db.execute(
        "INSERT INTO decisions (team_id, member_id, scope, subject, action, source, actor, bot_config, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [team_id, member_id, scope, subject, action, source, actor, json.dumps(bot_config or {}), now, now])


def forget_decision(db: sqlite_utils.Database, *, team_id: str, member_id: int | None, scope: str,
                    subject: str) -> None:
    db.execute("DELETE FROM decisions WHERE team_id = ? AND COALESCE(member_id, 0) = COALESCE(?, 0) "
               "AND scope = ? AND subject = ?", [team_id, member_id, scope, subject])


def member_decisions(db: sqlite_utils.Database, member_ids: list[int]) -> dict[tuple[int, str], dict]:
    """{(member_id, subject): decision} for occurrence and series choices of these members."""
    found: dict[tuple[int, str], dict] = {}
    for start in range(0, len(member_ids), 500):
        chunk = member_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.query(f"SELECT * FROM decisions WHERE member_id IN ({marks})", chunk):
            found[(row["member_id"], row["subject"])] = row
    return found


def meeting_decision(db: sqlite_utils.Database, team_id: str, meeting_id: int) -> dict | None:
    rows = list(db.query(
        "SELECT * FROM decisions WHERE team_id = ? AND scope = 'meeting' AND subject = ? "
        "ORDER BY updated_at DESC, id DESC LIMIT 1", [team_id, f"meeting:{meeting_id}"]))
    return rows[0] if rows else None
