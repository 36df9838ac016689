"""The planner loop: from the change feed and recorded choices to each meeting's desired state.

One step, all synchronous and in one transaction per batch (so a crash leaves the batch undone,
never half done):
1. read new rows of the change feed (own cursor) into the planner's queue, with the meetings
   that deleted events belonged to;
2. every half hour, queue every team's upcoming events (time-of-day rules, expiries);
3. plan each queued event for its member (bot/planning.py) and find its meeting: an event keeps
   the meeting it had (a move reschedules the bot rather than re-creating it); a new one finds
   an existing meeting by iCalUID + slot or join URL + start, else gets a new meeting;
4. aggregate each touched meeting's plans into its desired state, and keep approval DMs in step;
5. expire approvals nobody answered before the meeting.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from bot.context import AppContext
from bot.engine import approvals
from bot.planning import EventPlan, aggregate, plan_event
from bot.rules import MeetingFacts, Policy
from bot.timeutil import parse_iso, to_iso, zone
from storage import meetings as store
from storage.decisions import member_decisions, occurrence_subject, series_subjects
from storage.events import transaction
from storage.rules import member_policy, member_rules, workspace_policy

log = logging.getLogger("calbot.planner")

CURSOR = "planner"
SWEEP_CURSOR = "planner:last_sweep"
SWEEP_EVERY = timedelta(minutes=30)
BATCH = 250  # events per step: keeps each step (and the event loop) short


class Planner:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def step(self) -> bool:
        """One batch; True while there is more to plan."""
        db, now = self.ctx.db, self.ctx.clock.now()
        with transaction(db):
            self._read_change_feed()
            self._maybe_sweep(now)
            store.expand_queue(db, since=to_iso(now))
            items = store.take_queue(db, BATCH)
            touched = self._plan(items, now) if items else set()
            store.done_queue(db, items)
            changed = self._aggregate(touched, now)
            changed |= approvals.expire_due(self.ctx, now)
        if changed:
            for loop in ("reconciler", "notifier", "home"):
                self.ctx.engine.poke(loop)
        return store.queue_length(db) > 0

    # -- 1, 2: what to look at -------------------------------------------------------------

    def _read_change_feed(self) -> None:
        db = self.ctx.db
        row = db.execute("SELECT value FROM cursors WHERE name = ?", [CURSOR]).fetchone()
        after = int(row[0]) if row else 0
        rows = db.execute("SELECT id, event_id, kind, detail FROM changes WHERE id > ? ORDER BY id LIMIT 5000",
                          [after]).fetchall()
        if not rows:
            return
        events, gone_meetings = [], []
        for change_id, event_id, kind, detail in rows:
            if kind == "deleted":
                meeting_id = json.loads(detail or "{}").get("meeting_id")
                if meeting_id:
                    gone_meetings.append(meeting_id)
            elif event_id is not None:
                events.append(event_id)
        store.enqueue(db, "event", events)
        store.enqueue(db, "meeting", gone_meetings)
        db.execute("INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                   [CURSOR, str(rows[-1][0])])

    def _maybe_sweep(self, now: datetime) -> None:
        db = self.ctx.db
        row = db.execute("SELECT value FROM cursors WHERE name = ?", [SWEEP_CURSOR]).fetchone()
        if row and parse_iso(row[0]) > now - SWEEP_EVERY:
            return
        store.enqueue(db, "team", [r[0] for r in db.execute("SELECT team_id FROM workspaces WHERE uninstalled_at IS NULL")])
        db.execute("INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                   [SWEEP_CURSOR, to_iso(now)])

    # -- 3: plan events --------------------------------------------------------------------

    def _plan(self, items: list[tuple[str, str]], now: datetime) -> set[int]:
        db = self.ctx.db
        by_kind = defaultdict(list)
        for kind, ref in items:
            by_kind[kind].append(ref)
        touched = {int(m) for m in by_kind["meeting"]}
        since = to_iso(now)
        events = store.events_for_planning(db, event_ids=[int(e) for e in by_kind["event"]], since=since)
        if not events:
            return touched
        member_ids = sorted({e["member_id"] for e in events})
        rules = member_rules(db, member_ids)
        choices = member_decisions(db, member_ids)
        settings = {r[0]: r[1] for r in db.execute(
            f"SELECT id, settings FROM members WHERE id IN ({','.join('?' * len(member_ids))})", member_ids)}
        policies: dict[str, Policy] = {}
        plan_rows = []
        now_iso = since
        for event in events:
            team = event["team_id"]
            if team not in policies:
                policies[team] = workspace_policy(db, team)
            policy = member_policy(policies[team], settings.get(event["member_id"]))
            member = event["member_id"]
            series_choice = next((choices[(member, s)] for s in series_subjects(event) if (member, s) in choices), None)
            plan = plan_event(member, facts_of(event), [r for _, r in rules.get(member, [])], policy,
                              choices.get((member, occurrence_subject(event))), series_choice)
            meeting_id = self._meeting_for(event, now_iso)
            if event["meeting_id"] and event["meeting_id"] != meeting_id:
                touched.add(event["meeting_id"])
            if meeting_id is not None:
                touched.add(meeting_id)
            plan_rows.append((event["id"], member, meeting_id, plan.action, plan.reason, plan.source,
                              json.dumps(plan.bot_config, sort_keys=True), now_iso))
        store.write_plans(db, plan_rows)
        return touched

    def _meeting_for(self, event: dict, now: str) -> int | None:
        """The event's meeting: kept across moves; found by key on another calendar; or new."""
        db = self.ctx.db
        keys = store.meeting_event_keys(event)
        meeting_id = event["meeting_id"]
        if meeting_id is not None and store.get_meeting(db, meeting_id) is None:
            meeting_id = None
        if meeting_id is None and not event["meeting_url"]:
            return None  # never had a link: nothing to record, no meeting needed
        if meeting_id is None:
            meeting_id = store.find_meeting_by_keys(db, event["team_id"], keys)
        if meeting_id is None:
            meeting_id = store.create_meeting(
                db, team_id=event["team_id"], identity=keys[0] if keys else f"event:{event['id']}",
                title=event["title"], meeting_url=event["meeting_url"], platform=event["platform"],
                start_at=event["start_at"], end_at=event["end_at"], now=now)
        if meeting_id != event["meeting_id"]:
            db.execute("UPDATE events SET meeting_id = ? WHERE id = ?", [meeting_id, event["id"]])
        store.remember_keys(db, event["team_id"], keys, meeting_id)
        return meeting_id

    # -- 4: meetings -----------------------------------------------------------------------

    def _aggregate(self, meeting_ids: set[int], now: datetime) -> bool:
        db, changed = self.ctx.db, False
        ids = sorted(meeting_ids)
        meetings = store.get_meetings(db, ids)
        plans_by_meeting = store.plans_of_meetings(db, ids)
        choices = store.api_choices(db, ids)
        asked_before = store.meetings_with_approvals(db, ids)
        policies: dict[str, Policy] = {}
        for meeting_id in ids:
            meeting = meetings.get(meeting_id)
            if meeting is None:
                continue
            rows = plans_by_meeting[meeting_id]
            plans = [EventPlan(r["member_id"], r["action"], r["reason"], r["source"], json.loads(r["bot_config"]))
                     for r in rows]
            team = meeting["team_id"]
            if team not in policies:
                policies[team] = workspace_policy(db, team)
            desire = aggregate(plans, choices.get(meeting_id), policies[team])
            # requested_by keeps the last person who asked, so "bot cancelled" reaches them too.
            fields = {"desired": desire.desired, "reason": desire.reason,
                      "requested_by": desire.requested_by or meeting["requested_by"],
                      "bot_config": json.dumps(desire.bot_config or policies[team].bot_config(), sort_keys=True)}
            shown = _representative(rows)
            if shown is not None:
                fields.update(title=shown["title"], meeting_url=shown["meeting_url"], platform=shown["platform"],
                              start_at=shown["start_at"], end_at=shown["end_at"])
            if any(meeting.get(k) != v for k, v in fields.items()):
                fields["planned_at"] = to_iso(now)
                store.update_meeting(db, meeting_id, **fields)
                changed = True
            if meeting_id in asked_before or any(p.action == "ask" for p in plans):
                approvals.keep_in_step(self.ctx, meeting_id, rows, now)
        return changed


def _representative(rows: list[dict]) -> dict | None:
    """The copy whose title, link and time the meeting shows: the freshest one still on, if any.

    A copy whose link was removed counts as on: the meeting then has no link, and its bot goes."""
    if not rows:
        return None
    live = [r for r in rows if r["status"] != "cancelled"] or rows
    return max(live, key=lambda r: (r["synced_at"] or "", r["event_id"]))


def facts_of(event: dict) -> MeetingFacts:
    start = parse_iso(event["start_at"])
    return MeetingFacts(
        title=event["title"] or "", description=event.get("description") or "",
        organizer_email=event["organizer_email"], organizer_self=bool(event["organizer_self"]),
        attendee_count=event["attendee_count"] or 0, has_external=bool(event["has_external"]),
        platform=event["platform"], meeting_url=event["meeting_url"], calendar_id=event["calendar_id"],
        calendar_name=event.get("calendar_name"), is_recurring=bool(event["series_id"]),
        my_response=event["my_response"], local_start=start.astimezone(zone(event.get("tz"))),
        all_day=bool(event["all_day"]), status=event["status"],
    )
