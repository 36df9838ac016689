"""Keeps each member's App Home right: republished when their data changes, throttled.

Level-triggered: the "home" loop looks at what changed since it last looked — the sync change
feed (cursor `home`), planned meetings, bots, decisions, rules, connections and calendars (by
their timestamps) — and marks the Home of every affected member dirty (`home_views.dirty_at`).
Then it publishes dirty Homes, each at most once per `THROTTLE_SECONDS`, and skips a publish
whose content is what Slack already shows (`content_hash`). Only members who opened the Home tab
at least once have a row, so members who never look cost nothing.

Handlers that change a member's data call `mark_dirty` and poke the loop; a member's own click
publishes at once (`publish_home`) — that is an answer, not a notice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Iterable

from slack_sdk.errors import SlackApiError

from bot.context import AppContext
from bot.timeutil import to_iso
from bot.views.home import home_view
from storage import calendars as cal_store
from storage import connections as conn_store
from storage.agenda import agenda
from storage.members import get_member
from storage.settings import parse_member_settings

log = logging.getLogger("calbot.home")

THROTTLE_SECONDS = 5.0
AGENDA_DAYS = 7
BATCH = 50
SLACK_GONE = {"invalid_auth", "account_inactive", "token_revoked", "not_authed", "user_not_found",
              "team_access_not_granted", "missing_scope"}
_CHUNK = 900


def mark_dirty(db, member_ids: Iterable[int], *, now: str) -> int:
    ids = sorted(set(member_ids))
    marked = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        marked += db.execute(f"UPDATE home_views SET dirty_at = COALESCE(dirty_at, ?) WHERE member_id IN ({marks})",
                             [now, *chunk]).rowcount
    return marked


def mark_member_dirty(ctx: AppContext, member_id: int) -> None:
    mark_dirty(ctx.db, [member_id], now=ctx.clock.now_iso())
    ctx.engine.poke("home")


def rules_summary(db, member_id: int) -> list[str]:
    """Each rule of the member in order, as a sentence."""
    from bot.views.rules import describe_rule

    return [describe_rule(json.loads(r[0])) for r in
            db.execute("SELECT rule FROM rules WHERE member_id = ? ORDER BY position, id", [member_id])]


def build_home(ctx: AppContext, member: dict) -> dict:
    now = ctx.clock.now()
    connections = [(c, cal_store.connection_calendars(ctx.db, c["id"]))
                   for c in conn_store.member_connections(ctx.db, member["id"]) if c["status"] != "disconnected"]
    items = agenda(ctx.db, [member["id"]], now, now + timedelta(days=AGENDA_DAYS))[member["id"]]
    return home_view(member=member, settings=parse_member_settings(member.get("settings")), connections=connections,
                     items=items, rules=rules_summary(ctx.db, member["id"]), now=now,
                     is_admin=bool(member.get("is_admin")))


def content_hash(view: dict) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:32]


async def publish_home(ctx: AppContext, client, member: dict, *, force: bool = False) -> bool:
    """Build and publish now. Returns True when Slack was called."""
    view = build_home(ctx, member)
    digest = content_hash(view)
    now = ctx.clock.now_iso()
    row = ctx.db.execute("SELECT content_hash, dirty_at FROM home_views WHERE member_id = ?", [member["id"]]).fetchone()
    if row is not None and row[0] == digest and not force:
        ctx.db.execute("UPDATE home_views SET dirty_at = NULL WHERE member_id = ? AND dirty_at IS ?",
                       [member["id"], row[1]])
        return False
    await client.views_publish(user_id=member["user_id"], view=view)
    ctx.db.execute(
        "INSERT INTO home_views (member_id, dirty_at, published_at, content_hash) VALUES (?, NULL, ?, ?) "
        "ON CONFLICT (member_id) DO UPDATE SET published_at = excluded.published_at, "
        "content_hash = excluded.content_hash, "
        "dirty_at = CASE WHEN home_views.dirty_at IS ? THEN NULL ELSE home_views.dirty_at END",
        [member["id"], now, digest, row[1] if row else None])
    return True


class HomePublisher:
    """Loop "home": find whose Home is stale, then republish (throttled, unchanged ones skipped)."""

    def __init__(self, ctx: AppContext, throttle: float = THROTTLE_SECONDS):
        self.ctx = ctx
        self.throttle = throttle

    async def step(self) -> bool:
        self.find_changes()
        return await self.publish_dirty()

    # -- what changed -------------------------------------------------------------------------

    def find_changes(self) -> int:
        db, now = self.ctx.db, self.ctx.clock.now()
        if db.execute("SELECT 1 FROM home_views LIMIT 1").fetchone() is None:
            self._advance(now)
            return 0
        members: set[int] = set()
        after = int(_cursor(db, "home.changes") or 0)
        last = db.execute("SELECT MAX(id) FROM changes").fetchone()[0] or 0
        if last > after:
            members |= {r[0] for r in db.execute(
                "SELECT DISTINCT cn.member_id FROM changes ch JOIN calendars c ON c.id = ch.calendar_id "
                "JOIN connections cn ON cn.id = c.connection_id WHERE ch.id > ? AND ch.id <= ?", [after, last])}
        since = _cursor(db, "home.since")
        if since is not None:
            members |= {r[0] for r in db.execute(_TOUCHED_SQL, {"since": since})}
        marked = mark_dirty(db, members, now=to_iso(now)) if members else 0
        _set_cursor(db, "home.changes", str(last))
        self._advance(now)
        return marked

    def _advance(self, now) -> None:
        # Timestamps have one-second resolution: look back a little so a write in the same
        # second as the scan is not missed (re-marking is harmless — unchanged Homes are skipped).
        _set_cursor(self.ctx.db, "home.since", to_iso(now - timedelta(seconds=2)))
        if _cursor(self.ctx.db, "home.changes") is None:
            last = self.ctx.db.execute("SELECT MAX(id) FROM changes").fetchone()[0] or 0
            _set_cursor(self.ctx.db, "home.changes", str(last))

    # -- publishing ---------------------------------------------------------------------------

    async def publish_dirty(self) -> bool:
        ctx = self.ctx
        if ctx.slack is None:
            return False
        cutoff = to_iso(ctx.clock.now() - timedelta(seconds=self.throttle))
        rows = ctx.db.execute(
            "SELECT h.member_id FROM home_views h JOIN members m ON m.id = h.member_id "
            "JOIN workspaces w ON w.team_id = m.team_id WHERE h.dirty_at IS NOT NULL AND w.uninstalled_at IS NULL "
            "AND (h.published_at IS NULL OR h.published_at <= ?) ORDER BY h.dirty_at LIMIT ?",
            [cutoff, BATCH]).fetchall()
        for (member_id,) in rows:
            member = get_member(ctx.db, member_id)
            if member is None:
                continue
            client = await ctx.slack.client_for(member["team_id"])
            if client is None:
                ctx.db.execute("UPDATE home_views SET dirty_at = NULL WHERE member_id = ?", [member_id])
                continue
            try:
                await publish_home(ctx, client, member)
            except SlackApiError as exc:
                error = exc.response.get("error")
                log.warning("views.publish for %s failed: %s", member["user_id"], error,
                            extra={"team_id": member["team_id"], "user_id": member["user_id"]})
                # try again after the throttle (rate limits, hiccups); give up on permanent errors
                ctx.db.execute("UPDATE home_views SET published_at = ?, dirty_at = CASE WHEN ? THEN NULL "
                               "ELSE dirty_at END WHERE member_id = ?",
                               [ctx.clock.now_iso(), int(error in SLACK_GONE), member_id])
        return len(rows) == BATCH


_TOUCHED_SQL = """
SELECT DISTINCT cn.member_id FROM events e JOIN calendars c ON c.id = e.calendar_id
  JOIN connections cn ON cn.id = c.connection_id
  WHERE e.meeting_id IN (SELECT id FROM meetings WHERE planned_at >= :since
                         UNION SELECT meeting_id FROM bots WHERE updated_at >= :since)
UNION SELECT member_id FROM decisions WHERE updated_at >= :since AND member_id IS NOT NULL
UNION SELECT member_id FROM rules WHERE updated_at >= :since
UNION SELECT member_id FROM connections WHERE updated_at >= :since
UNION SELECT cn.member_id FROM calendars c JOIN connections cn ON cn.id = c.connection_id
  WHERE c.last_synced_at >= :since
"""


def _cursor(db, name: str) -> str | None:
    row = db.execute("SELECT value FROM cursors WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def _set_cursor(db, name: str, value: str) -> None:
    db.execute("INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
               [name, value])
