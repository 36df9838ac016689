"""Seeding calbot's database with members, calendars, meetings and planner decisions, for the Slack
tests. Not a test module.

The Slack side reads what sync and the planner wrote; these tests are about what people see and
click, so they write those rows directly (sync and planning have their own tests). Works on the
database file of a running `calbot serve` too (WAL: a second connection is fine).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import datetime, timedelta, timezone

from bot.timeutil import to_iso

_seq = itertools.count(1)


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


class World:
    def __init__(self, db, team_id: str = "T0001"):
        self.db = db
        self.team_id = team_id
        self.calendars: dict[str, int] = {}
        self.members: dict[str, int] = {}

    def workspace(self, team_id: str | None = None, *, name: str = "Acme") -> None:
        self.db.execute("INSERT INTO workspaces (team_id, name, installed_at) VALUES (?, ?, ?) "
                        "ON CONFLICT DO NOTHING", [team_id or self.team_id, name, to_iso(now_utc())])

    def member(self, user_id: str, *, tz: str = "Europe/Paris", name: str | None = None, settings: dict | None = None,
               connected: bool = True, provider: str = "google", status: str = "active", is_admin: bool = False,
               team_id: str | None = None, profile_synced: bool = True) -> int:
        team_id = team_id or self.team_id
        self.workspace(team_id)
        now = to_iso(now_utc())
        self.db.execute(
            "INSERT INTO members (team_id, user_id, name, email, tz, is_admin, settings, profile_synced_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (team_id, user_id) DO UPDATE SET tz = excluded.tz, "
            "name = excluded.name, settings = excluded.settings, is_admin = excluded.is_admin, "
            "profile_synced_at = excluded.profile_synced_at",
            [team_id, user_id, name or user_id, f"{user_id.lower()}@acme.example", tz, int(is_admin),
             json.dumps(settings or {}), now if profile_synced else None, now])
        member_id = self.db.execute("SELECT id FROM members WHERE team_id = ? AND user_id = ?",
                                    [team_id, user_id]).fetchone()[0]
        self.members[user_id] = member_id
        if connected:
            self.connect(user_id, provider=provider, status=status)
        return member_id

    def connect(self, user_id: str, *, provider: str = "google", status: str = "active",
                account: str | None = None) -> int:
        member_id = self.members[user_id]
        now = to_iso(now_utc())
        account = account or f"{user_id.lower()}@acme.example"
        cursor = self.db.execute(
            "INSERT INTO connections (member_id, provider, account, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", [member_id, provider, account, status, now, now])
        connection_id = cursor.lastrowid
        # synced and not due: the running engine leaves these calendars alone
        far = to_iso(now_utc() + timedelta(days=365))
        cursor = self.db.execute(
            "INSERT INTO calendars (connection_id, provider_calendar_id, name, is_primary, selected, sync_token, "
            "last_synced_at, next_sync_at, window_start, window_end) VALUES (?, ?, ?, 1, 1, 'tok', ?, ?, ?, ?)",
            [connection_id, account, account, now, far, to_iso(now_utc() - timedelta(days=1)), far])
        self.calendars[user_id] = cursor.lastrowid
        return connection_id

    def event(self, user_id: str, title: str, start: datetime, minutes: int = 30, *,
              url: str | None = "https://zoom.us/j/1234567890", platform: str | None = "zoom",
              desired: str | None = None, reason: str = "", all_day: bool = False, status: str = "confirmed",
              my_response: str | None = "accepted", organizer_self: bool = False, series_id: str | None = None,
              meeting_id: int | None = None, bot_state: str | None = None, team_id: str | None = None) -> int:
        """An event on the member's calendar; with `desired`, the planner's meeting row too."""
        team_id = team_id or self.team_id
        n = next(_seq)
        end = start + timedelta(minutes=minutes)
        now = to_iso(now_utc())
        if url:
            url = f"{url}{n}" if url.endswith("j/1234567890") else url
        if desired is not None and meeting_id is None:
            cursor = self.db.execute(
                "INSERT INTO meetings (team_id, identity, title, meeting_url, platform, start_at, end_at, desired, "
                "reason, planned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [team_id, f"seed-{n}", title, url, platform, to_iso(start), to_iso(end), desired, reason, now])
            meeting_id = cursor.lastrowid
        cursor = self.db.execute(
            "INSERT INTO events (calendar_id, provider_event_id, ical_uid, series_id, title, start_at, end_at, all_day, "
            "status, my_response, organizer_self, meeting_url, platform, meeting_key, meeting_id, content_hash, "
            "synced_at, attendee_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 2)",
            [self.calendars[user_id], f"ev{n}", f"uid{n}@seed", series_id, title, to_iso(start), to_iso(end),
             int(all_day), status, my_response, int(organizer_self), url, platform if url else None,
             url, meeting_id, hashlib.sha1(f"{n}".encode()).hexdigest(), now])
        if bot_state is not None and meeting_id is not None:
            self.db.execute(
                "INSERT INTO bots (team_id, meeting_id, idempotency_key, state, meeting_url, join_at, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [team_id, meeting_id, f"idem-{n}", bot_state, url or "", to_iso(start), now, now])
        return cursor.lastrowid

    def plan(self, event_id: int, desired: str, reason: str = "") -> int:
        """What the planner would do: a meeting row with the desired state for this event."""
        row = self.db.execute("SELECT meeting_id, title, meeting_url, platform, start_at, end_at FROM events WHERE id = ?",
                              [event_id]).fetchone()
        now = to_iso(now_utc())
        if row[0] is not None:
            self.db.execute("UPDATE meetings SET desired = ?, reason = ?, planned_at = ? WHERE id = ?",
                            [desired, reason, now, row[0]])
            return row[0]
        cursor = self.db.execute(
            "INSERT INTO meetings (team_id, identity, title, meeting_url, platform, start_at, end_at, desired, reason, "
            "planned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self.team_id, f"plan-{event_id}", row[1], row[2], row[3], row[4], row[5], desired, reason, now])
        self.db.execute("UPDATE events SET meeting_id = ? WHERE id = ?", [cursor.lastrowid, event_id])
        return cursor.lastrowid


def make_slack_ctx(tmp_path, fake, *, clock=None, name: str = "calbot.db", token: str = "xoxb-test-token",
                   secret_key: str | None = None):
    """An in-process AppContext whose Slack is the fake (single-workspace token), no loops running."""
    from bot.config import load_settings
    from bot.crypto import new_secret_key
    from bot.server import build_context
    from bot.slack_gateway import SlackGateway

    settings = load_settings(
        calbot_database=str(tmp_path / name), calbot_secret_key=secret_key or new_secret_key(),
        calbot_public_url="http://127.0.0.1:9", calbot_push="off", slack_bot_token=token,
        slack_signing_secret="test-signing-secret", calbot_slack_api_url=f"{fake.url}/api/", _env_file=None)
    ctx = build_context(settings, clock)
    ctx.slack = SlackGateway(settings, db=ctx.db)
    return ctx


async def close_ctx(ctx) -> None:
    await ctx.http.aclose()
    ctx.db.close()
