"""Daily digests: each member's day in a DM at their chosen local time, exactly once.

Loop "digests" (level-triggered): every step asks "whose digest is due now and not yet sent?"
— a member is due when, in their Slack time zone, today is one of their digest days and the
local time is between their digest time and the end of the morning (noon, or two hours after
a later digest time). So a short downtime sends the digest late rather than never, and the
clock jumping back or forth never sends it twice: the `digests` row (member, local date) and
the outbox key `digest:<member>:<date>` are written in one transaction, and the outbox posts a
key once. DST needs nothing special: local times are computed with zoneinfo from UTC.

Composition is batched (one agenda query for the whole batch), so 5,000 members at 08:30 Paris
time cost a second or two of CPU, not 5,000 round trips. Days with no meetings send nothing
(the row is still written: decided, once).

The team digest (`workspaces.digest_channel`) works the same way, keyed
`teamdigest:<team>:<date>`, at the workspace's team digest time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.context import AppContext
from bot.timeutil import to_iso, zone
from bot.views.digest import digest_message, team_digest_message
from storage import outbox
from storage.agenda import agenda
from storage.events import transaction
from storage.settings import MemberSettings, parse_member_settings, team_digest

log = logging.getLogger("calbot.digests")

BATCH = 1000
MORNING_ENDS = 12 * 60          # a late digest is still sent until noon local time...
LATE_GRACE = 120                # ...or two hours after a digest time later than 10:00


@dataclass
class Due:
    member_id: int
    team_id: str
    user_id: str
    name: str | None
    tz: str
    day: date
    settings: MemberSettings


def send_window(settings_or_minutes) -> tuple[int, int]:
    start = settings_or_minutes if isinstance(settings_or_minutes, int) else settings_or_minutes.digest_minutes
    return start, max(MORNING_ENDS, start + LATE_GRACE)


def is_due(settings: MemberSettings, local_now: datetime) -> bool:
    if not settings.digest_enabled or local_now.weekday() not in settings.digest_days:
        return False
    minutes = local_now.hour * 60 + local_now.minute
    start, end = send_window(settings)
    return start <= minutes < min(end, 24 * 60)


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """[local midnight, next local midnight) of `day` in UTC-aware datetimes (23 or 25 h on DST days)."""
    tzinfo = zone(tz)
    start = datetime.combine(day, time.min, tzinfo=tzinfo)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tzinfo)
    return start, end


def due_members(ctx: AppContext, now: datetime, *, limit: int = BATCH) -> list[Due]:
    """Members whose digest is due at `now` and not yet decided for their local date."""
    db = ctx.db
    rows = db.execute(
        "SELECT m.id, m.team_id, m.user_id, m.name, m.tz, m.settings FROM members m "
        "JOIN workspaces w ON w.team_id = m.team_id WHERE w.uninstalled_at IS NULL "
        "AND EXISTS (SELECT 1 FROM connections c WHERE c.member_id = m.id AND c.status != 'disconnected') "
        "ORDER BY m.id").fetchall()
    candidates: list[Due] = []
    for member_id, team_id, user_id, name, tz, raw in rows:
        data = json.loads(raw or "{}")
        if data.get("slack_deleted"):
            continue
        settings = parse_member_settings(data)
        local_now = now.astimezone(zone(tz))
        if is_due(settings, local_now):
            candidates.append(Due(member_id, team_id, user_id, name, tz or "UTC", local_now.date(), settings))
    if not candidates:
        return []
    days = sorted({c.day.isoformat() for c in candidates})
    marks = ", ".join("?" for _ in days)
    done = {(m, d) for m, d in db.execute(f"SELECT member_id, local_date FROM digests WHERE local_date IN ({marks})",
                                          days)}
    return [c for c in candidates if (c.member_id, c.day.isoformat()) not in done][:limit]


def compose(ctx: AppContext, due: list[Due], now: datetime) -> list[tuple[Due, dict | None]]:
    """The digest payload of each due member (None: nothing today), with one agenda query."""
    if not due:
        return []
    # the union of everyone's local day; each member's items are then cut to their own day
    bounds = {d.member_id: day_bounds(d.day, d.tz) for d in due}
    start = min(b[0] for b in bounds.values())
    end = max(b[1] for b in bounds.values())
    by_member = agenda(ctx.db, [d.member_id for d in due], max(start, now - timedelta(days=1)), end)
    composed = []
    for d in due:
        day_start, day_end = bounds[d.member_id]
        items = [i for i in by_member.get(d.member_id, [])
                 if i.start_at < day_end and i.end_at > max(day_start, now) and not i.all_day]
        composed.append((d, digest_message(items, tz=d.tz, now=now, day=d.day, name=d.name, settings=d.settings)
                         if items else None))
    return composed


def digest_key(member_id: int, day: date) -> str:
    return f"digest:{member_id}:{day.isoformat()}"


def record_and_queue(ctx: AppContext, composed: list[tuple[Due, dict | None]]) -> int:
    """In one transaction: the exactly-once rows and their outbox messages. Returns messages queued."""
    queued = 0
    now_iso = ctx.clock.now_iso()
    with transaction(ctx.db):
        for due, payload in composed:
            cursor = ctx.db.execute(
                "INSERT INTO digests (member_id, local_date, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [due.member_id, due.day.isoformat(), now_iso])
            if cursor.rowcount and payload is not None:
                queued += outbox.post_message(ctx.db, key=digest_key(due.member_id, due.day), team_id=due.team_id,
                                              kind="slack.dm", target=due.user_id, payload=payload, clock=ctx.clock)
    return queued


def send_digest_now(ctx: AppContext, member: dict) -> dict:
    """`/calbot digest`: today's digest to the member's DM now (even on a day without meetings).
    It counts as today's digest, so the scheduled one does not follow it."""
    now = ctx.clock.now()
    tz = member.get("tz") or "UTC"
    settings = parse_member_settings(member.get("settings"))
    due = Due(member["id"], member["team_id"], member["user_id"], member.get("name"), tz,
              now.astimezone(zone(tz)).date(), settings)
    ((_, payload),) = compose(ctx, [due], now)
    if payload is None:
        payload = digest_message([], tz=tz, now=now, day=due.day, name=due.name, settings=settings)
    key = digest_key(due.member_id, due.day)
    with transaction(ctx.db):
        ctx.db.execute("INSERT INTO digests (member_id, local_date, created_at) VALUES (?, ?, ?) "
                       "ON CONFLICT DO NOTHING", [due.member_id, due.day.isoformat(), ctx.clock.now_iso()])
        if not outbox.post_message(ctx.db, key=key, team_id=due.team_id, kind="slack.dm", target=due.user_id,
                                   payload=payload, clock=ctx.clock):
            # today's digest already went out: this one is asked for, so it gets its own key
            outbox.post_message(ctx.db, key=f"{key}:asked:{to_iso(now)}", team_id=due.team_id, kind="slack.dm",
                                target=due.user_id, payload=payload, clock=ctx.clock)
    ctx.engine.poke("notifier")
    return payload


# -- team digest ------------------------------------------------------------------------------------

def team_digest_rows(ctx: AppContext, team_id: str, start: datetime, end: datetime) -> list[dict]:
    rows = ctx.db.execute(
        "SELECT mt.title, mt.start_at, mt.platform, "
        "(SELECT GROUP_CONCAT(DISTINCT COALESCE(m.name, m.user_id)) FROM events e "
        " JOIN calendars c ON c.id = e.calendar_id JOIN connections cn ON cn.id = c.connection_id "
        " JOIN members m ON m.id = cn.member_id WHERE e.meeting_id = mt.id) AS who "
        "FROM meetings mt WHERE mt.team_id = ? AND mt.desired = 'record' AND mt.start_at >= ? AND mt.start_at < ? "
        "ORDER BY mt.start_at, mt.id", [team_id, to_iso(start), to_iso(end)]).fetchall()
    from bot.timeutil import parse_iso

    return [{"title": t, "start_at": parse_iso(s), "platform": p, "who": (w or "").replace(",", ", ")}
            for t, s, p, w in rows]


def queue_team_digests(ctx: AppContext, now: datetime) -> int:
    queued = 0
    teams = [r[0] for r in ctx.db.execute(
        "SELECT team_id FROM workspaces WHERE digest_channel IS NOT NULL AND uninstalled_at IS NULL")]
    for team_id in teams:
        channel, schedule = team_digest(ctx.db, team_id)
        local_now = now.astimezone(zone(schedule.digest_tz))
        if local_now.weekday() not in schedule.digest_days:
            continue
        minutes = local_now.hour * 60 + local_now.minute
        start, end = send_window(int(schedule.digest_time[:2]) * 60 + int(schedule.digest_time[3:]))
        if not start <= minutes < min(end, 24 * 60):
            continue
        day = local_now.date()
        key = f"teamdigest:{team_id}:{day.isoformat()}"
        if outbox.find_message(ctx.db, key) is not None:
            continue
        day_start, day_end = day_bounds(day, schedule.digest_tz)
        rows = team_digest_rows(ctx, team_id, day_start, day_end)
        payload = team_digest_message(rows, tz=schedule.digest_tz, day=day)
        queued += outbox.post_message(ctx.db, key=key, team_id=team_id, kind="slack.post", target=channel,
                                      payload=payload, clock=ctx.clock)
    return queued


class DigestSender:
    def __init__(self, ctx: AppContext, batch: int = BATCH):
        self.ctx = ctx
        self.batch = batch

    async def step(self) -> bool:
        ctx = self.ctx
        now = ctx.clock.now()
        due = due_members(ctx, now, limit=self.batch)
        queued = record_and_queue(ctx, compose(ctx, due, now)) if due else 0
        queued += queue_team_digests(ctx, now)
        if queued:
            log.info("queued %d digests", queued)
            ctx.engine.poke("notifier")
        return len(due) >= self.batch
