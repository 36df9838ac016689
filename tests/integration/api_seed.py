"""Rows for API tests: workspaces, members, connected calendars, events, meetings, bots, keys.

Plain inserts with the schema's own columns, so API tests do not depend on the syncer or the
planner being run; the shapes match what those write.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

from bot.timeutil import Clock, to_iso
from storage.api_keys import create_api_key
from storage.members import ensure_member, ensure_workspace


def add_member(db, team_id: str, user_id: str, clock: Clock, *, is_admin: bool = False) -> int:
    ensure_workspace(db, team_id, clock=clock)
    member = ensure_member(db, team_id, user_id, clock=clock)
    if is_admin:
        db.execute("UPDATE members SET is_admin = 1 WHERE id = ?", [member["id"]])
    return member["id"]


def add_calendar(db, member_id: int, clock: Clock, *, provider: str = "google", account: str | None = None,
                 name: str = "Work", primary: bool = True, selected: bool = True,
                 connection_status: str = "active") -> int:
    account = account or f"member{member_id}@example.com"
    now = clock.now_iso()
    db.execute(
        "INSERT INTO connections (member_id, provider, account, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (member_id, provider, account) DO NOTHING",
        [member_id, provider, account, connection_status, now, now])
    connection_id = db.execute("SELECT id FROM connections WHERE member_id = ? AND provider = ? AND account = ?",
                               [member_id, provider, account]).fetchone()[0]
    cursor = db.execute(
        "INSERT INTO calendars (connection_id, provider_calendar_id, name, timezone, is_primary, selected, last_synced_at) "
        "VALUES (?, ?, ?, 'Europe/Paris', ?, ?, ?)",
        [connection_id, f"{account}/{name}/{uuid.uuid4().hex[:6]}", name, int(primary), int(selected), now])
    return cursor.lastrowid


def add_event(db, calendar_id: int, clock: Clock, *, title: str, start: datetime, minutes: int = 30,
              meeting_url: str | None = "https://meet.google.com/abc-defg-hij", platform: str | None = "meet",
              attendees: list[dict] | None = None, organizer: str | None = "boss@example.com",
              organizer_self: bool = False, series_id: str | None = None, status: str = "confirmed",
              meeting_id: int | None = None, synced_at: datetime | None = None) -> int:
    attendees = attendees or []
    cursor = db.execute(
        "INSERT INTO events (calendar_id, provider_event_id, ical_uid, series_id, title, start_at, end_at, status, "
        "organizer_email, organizer_self, attendees, attendee_count, meeting_url, platform, meeting_key, meeting_id, "
        "content_hash, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [calendar_id, uuid.uuid4().hex, uuid.uuid4().hex + "@google.com", series_id, title, to_iso(start),
         to_iso(start + timedelta(minutes=minutes)), status, organizer, int(organizer_self), json.dumps(attendees),
         len(attendees), meeting_url, platform, meeting_url, meeting_id,
         hashlib.sha256(title.encode()).hexdigest()[:32], to_iso(synced_at or clock.now())])
    return cursor.lastrowid


def add_change(db, event_id: int, calendar_id: int, team_id: str, clock: Clock, kind: str = "created") -> int:
    return db.execute("INSERT INTO changes (event_id, calendar_id, team_id, kind, created_at) VALUES (?, ?, ?, ?, ?)",
                      [event_id, calendar_id, team_id, kind, clock.now_iso()]).lastrowid


def add_meeting(db, team_id: str, clock: Clock, *, title: str, start: datetime, desired: str = "record",
                reason: str = "rule 1: title contains 'demo'", url: str = "https://meet.google.com/abc-defg-hij",
                requested_by: int | None = None) -> int:
    return db.execute(
        "INSERT INTO meetings (team_id, identity, title, meeting_url, start_at, end_at, desired, reason, requested_by, "
        "planned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [team_id, f"{url}|{to_iso(start)}|{uuid.uuid4().hex[:6]}", title, url, to_iso(start),
         to_iso(start + timedelta(minutes=30)), desired, reason, requested_by, clock.now_iso()]).lastrowid


def add_bot(db, team_id: str, meeting_id: int | None, clock: Clock, *, state: str = "scheduled",
            url: str = "https://meet.google.com/abc-defg-hij", join_at: datetime | None = None,
            recorder_bot_id: str | None = None) -> dict:
    key = str(uuid.uuid4())
    now = clock.now_iso()
    db.execute(
        "INSERT INTO bots (team_id, meeting_id, idempotency_key, recorder_bot_id, state, meeting_url, join_at, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [team_id, meeting_id, key, recorder_bot_id or f"mb-{key[:8]}", state, url,
         to_iso(join_at or clock.now()), now, now])
    return dict(next(db.query("SELECT * FROM bots WHERE idempotency_key = ?", [key])))


def set_bot_state(db, bot_id: int, state: str, clock: Clock, **columns) -> None:
    sets = ", ".join(["state = ?", "updated_at = ?"] + [f"{c} = ?" for c in columns])
    db.execute(f"UPDATE bots SET {sets} WHERE id = ?", [state, clock.now_iso(), *columns.values(), bot_id])


def api_key(db, team_id: str, clock: Clock, member_id: int | None = None, name: str = "test") -> str:
    ensure_workspace(db, team_id, clock=clock)
    return create_api_key(db, team_id=team_id, member_id=member_id, name=name, clock=clock)[1]


class ApiEnv:
    """The ASGI app (engine loops not started: tests step them), its context, clock and a client."""

    def __init__(self, tmp_path, clock=None, **settings_overrides):
        from fastapi.testclient import TestClient

        from bot.config import load_settings
        from bot.crypto import new_secret_key
        from bot.server import create_app
        from bot.timeutil import FixedClock

        self.clock = clock or FixedClock(datetime.now(timezone.utc).replace(microsecond=0))
        settings = load_settings(calbot_database=str(tmp_path / "api.db"), calbot_secret_key=new_secret_key(),
                                 _env_file=None, **settings_overrides)
        self.app = create_app(settings, clock=self.clock)
        self.ctx = self.app.state.ctx
        self.db = self.ctx.db
        self.client = TestClient(self.app)

    def get(self, path: str, key: str | None = None, **kwargs):
        return self.client.get(path, headers=_auth(key), **kwargs)

    def post(self, path: str, key: str | None = None, **kwargs):
        return self.client.post(path, headers=_auth(key), **kwargs)

    def patch(self, path: str, key: str | None = None, **kwargs):
        return self.client.patch(path, headers=_auth(key), **kwargs)

    def delete(self, path: str, key: str | None = None, **kwargs):
        return self.client.delete(path, headers=_auth(key), **kwargs)

    def close(self) -> None:
        self.db.close()


def _auth(key: str | None) -> dict:
    return {"x-spoke-api-key": key} if key else {}
