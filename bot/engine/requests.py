"""Recording requests from people and scripts: record them durably, then let the engine act.

Slack buttons, `/calbot record|skip`, approval clicks and the REST API all come through here.
Each function writes its fact in one transaction (a decision, and for the API the meeting and
its bot row so the caller gets a bot id at once) and pokes the planner; the planner and the
reconciler do the rest. Nothing here calls the recorder.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.calendars.links import detect_meeting, normalize_join_url
from bot.context import AppContext
from bot.engine.reconciler import LEAD_TIME
from bot.errors import UserError
from bot.rules import BotOverrides, hard_rule
from bot.timeutil import parse_iso, to_iso
from storage import bots as bot_store
from storage import meetings as store
from storage.decisions import (forget_decision, meeting_decision, occurrence_subject, record_decision,
                               series_root, series_subjects)
from storage.events import transaction

API_MEETING_LENGTH = timedelta(hours=1)


def _event_with_owner(db, event_id: int) -> dict:
    rows = list(db.query(
        f"SELECT {store.PLANNING_COLUMNS} {store._FROM} WHERE e.id = ?", [event_id]))
    if not rows:
        raise UserError("That meeting isn't in calbot's copy of your calendar any more.")
    return rows[0]


def _clean_overrides(config: dict | None) -> dict:
    if not config:
        return {}
    data = {k: v for k, v in config.items() if k in BotOverrides.model_fields}
    if "speech_to_text" in data and not isinstance(data["speech_to_text"], bool):
        data["speech_to_text"] = bool(data["speech_to_text"])
    return BotOverrides.model_validate(data).model_dump(exclude_none=True)


def decide_event(ctx: AppContext, *, member_id: int | None, event_id: int, action: str, scope: str = "occurrence",
                 actor: str | None, source: str = "slack", bot_config: dict | None = None) -> dict:
    """Record "record" or "skip" for one occurrence or its whole series.

    `member_id` (when given) must own the event's calendar: people decide for their own
    calendar. Raises UserError when the choice cannot apply (e.g. recording a declined meeting).
    """
    if action not in ("record", "skip") or scope not in ("occurrence", "series"):
        raise UserError("A choice is record or skip, for this meeting or the whole series.")
    from bot.engine.planner import facts_of

    db = ctx.db
    event = _event_with_owner(db, event_id)
    if member_id is not None and event["member_id"] != member_id:
        raise UserError("That meeting isn't on your calendar.")
    if action == "record":
        blocked = hard_rule(facts_of(event))
        if blocked is not None:
            raise UserError(f"calbot can't record *{event['title'] or 'that meeting'}*: {blocked.reason}.")
    if action == "record" and scope == "occurrence" and parse_iso(event["end_at"]) <= ctx.clock.now():
        # (A series choice still applies to the occurrences to come.)
        raise UserError(f"*{event['title'] or 'That meeting'}* has already ended: there is nothing left to record.")
    if scope == "series" and not event["series_id"]:
        raise UserError(f"*{event['title'] or 'That meeting'}* isn't part of a series.")
    overrides = _clean_overrides(bot_config)
    owner = event["member_id"]
    with transaction(db):
        if scope == "series":
            # The series choice now speaks for every occurrence: earlier one-off choices for
            # occurrences of this series step aside.
            db.execute("DELETE FROM decisions WHERE member_id = ? AND scope = 'occurrence' AND subject LIKE ?",
                       [owner, f"occ:{series_root(event['series_id'])}@%"])
            for subject in series_subjects(event):
                record_decision(db, team_id=event["team_id"], member_id=owner, scope="series", subject=subject,
                                action=action, source=source, actor=actor, clock=ctx.clock, bot_config=overrides)
            store.enqueue(db, "member", [owner])
        else:
            record_decision(db, team_id=event["team_id"], member_id=owner, scope="occurrence",
                            subject=occurrence_subject(event), action=action, source=source, actor=actor,
                            clock=ctx.clock, bot_config=overrides)
            store.enqueue(db, "event", [event_id])
    ctx.engine.poke("planner")
    return {"event_id": event_id, "action": action, "scope": scope, "title": event["title"]}


def forget_event_choice(ctx: AppContext, *, member_id: int, event_id: int) -> None:
    """Back to the rules for this occurrence (undo a one-off choice)."""
    db = ctx.db
    event = _event_with_owner(db, event_id)
    with transaction(db):
        forget_decision(db, team_id=event["team_id"], member_id=member_id, scope="occurrence",
                        subject=occurrence_subject(event))
        store.enqueue(db, "event", [event_id])
    ctx.engine.poke("planner")


def schedule_event_bot(ctx: AppContext, *, team_id: str, event_id: int, all_occurrences: bool = False,
                       actor: str | None, member_id: int | None = None, bot_config: dict | None = None) -> dict:
    """REST: record this event (or its whole series) for the calendar's owner."""
    event = _event_for_team(ctx, team_id, event_id, member_id)
    scope = "series" if all_occurrences and event["series_id"] else "occurrence"
    return decide_event(ctx, member_id=event["member_id"], event_id=event_id, action="record", scope=scope,
                        actor=actor, source="api", bot_config=bot_config)


def cancel_event_bot(ctx: AppContext, *, team_id: str, event_id: int, all_occurrences: bool = False,
                     actor: str | None, member_id: int | None = None) -> dict:
    """REST: don't record this event (or its whole series)."""
    event = _event_for_team(ctx, team_id, event_id, member_id)
    scope = "series" if all_occurrences and event["series_id"] else "occurrence"
    return decide_event(ctx, member_id=event["member_id"], event_id=event_id, action="skip", scope=scope,
                        actor=actor, source="api")


def _event_for_team(ctx: AppContext, team_id: str, event_id: int, member_id: int | None) -> dict:
    event = _event_with_owner(ctx.db, event_id)
    if event["team_id"] != team_id or (member_id is not None and event["member_id"] != member_id):
        raise LookupError(event_id)  # another workspace's (or member's) event: the API says 404
    return event


def soonest_join_time(now: datetime) -> datetime:
    """"Join now" as a join time the recorder accepts: its lead time ahead, rounded up to the
    minute, so that a client retrying "join now" within that minute gets the same bot (the same
    meeting at the same time) rather than a second one."""
    earliest = now + LEAD_TIME
    minute = earliest.replace(second=0, microsecond=0)
    return minute if minute == earliest else minute + timedelta(minutes=1)


def _in_progress(db, meeting_id: int | None, now: datetime) -> bool:
    meeting = store.get_meeting(db, meeting_id) if meeting_id is not None else None
    return meeting is not None and meeting["end_at"] is not None and parse_iso(meeting["end_at"]) > now


def request_bot(ctx: AppContext, *, team_id: str, meeting_url: str, join_at: datetime, config: dict | None,
                actor: str | None, member_id: int | None = None) -> str:
    """REST `POST /api/bots`: a bot for this link at this time; returns the public bot id.

    The same meeting (normalized link) at the same time always gives the same bot — also when a
    calendar event is that meeting, whose bot it then is."""
    db, now = ctx.db, ctx.clock.now()
    found = detect_meeting("google", {"location": meeting_url})
    platform = found.platform if found else "other"
    key = normalize_join_url(meeting_url)
    start = to_iso(join_at)
    overrides = _clean_overrides(config)
    with transaction(db):
        meeting_id = store.find_meeting_by_keys(db, team_id, [f"url:{key}@{start}"])
        if join_at <= now and not _in_progress(db, meeting_id, now):
            # A start in the past is fine for a meeting calbot knows is still going on (the bot
            # joins as soon as the recorder allows); otherwise there is nothing left to join.
            raise UserError("scheduled_time has already passed")
        if meeting_id is None:
            meeting_id = store.create_meeting(
                db, team_id=team_id, identity=f"url:{key}@{start}", title=f"{_PLATFORM_TITLES.get(platform, 'Online')} meeting",
                meeting_url=meeting_url, platform=platform, start_at=start, end_at=to_iso(join_at + API_MEETING_LENGTH),
                now=ctx.clock.now_iso())
            store.remember_keys(db, team_id, [f"url:{key}@{start}"], meeting_id)
        earlier = meeting_decision(db, team_id, meeting_id)
        if earlier is not None:  # asking again keeps the bot settings given before, unless changed
            overrides = {**json.loads(earlier["bot_config"] or "{}"), **overrides}
        record_decision(db, team_id=team_id, member_id=member_id, scope="meeting", subject=f"meeting:{meeting_id}",
                        action="record", source="api", actor=actor, clock=ctx.clock, bot_config=overrides)
        meeting = store.get_meeting(db, meeting_id)
        if meeting["desired"] != "record":
            from bot.planning import describe_choice
            from storage.rules import workspace_policy

            # The requester is set here too, not only by the planner: the reconciler may schedule
            # the bot (and send its "Bot scheduled" notice) before the planner has run.
            store.update_meeting(db, meeting_id, desired="record", reason=describe_choice("record", actor, source="api"),
                                 bot_config=workspace_policy(db, team_id).bot_config(BotOverrides(**overrides)),
                                 requested_by=member_id or meeting["requested_by"])
        store.enqueue(db, "meeting", [meeting_id])
        bot = bot_store.current_bot(db, meeting_id) or bot_store.create_bot(
            db, ctx.cipher, team_id=team_id, meeting_id=meeting_id, meeting_url=meeting["meeting_url"] or meeting_url,
            join_at=meeting["start_at"], config=json.loads(store.get_meeting(db, meeting_id)["bot_config"]),
            clock=ctx.clock)
    ctx.engine.poke("planner")
    ctx.engine.poke("reconciler")
    return bot["idempotency_key"]


def recording_state(db, event_id: int) -> dict:
    """Will this event be recorded, why, and what the bot is doing."""
    rows = list(db.query(
        "SELECT p.action AS planned, p.reason AS plan_reason, mt.id AS meeting_id, mt.desired, mt.reason "
        "FROM events e LEFT JOIN plans p ON p.event_id = e.id LEFT JOIN meetings mt ON mt.id = e.meeting_id "
        "WHERE e.id = ?", [event_id]))
    if not rows:
        return {"desired": None, "reason": "unknown event", "bot_id": None, "bot_state": None, "recording": {}}
    row = rows[0]
    bot = bot_store.current_bot(db, row["meeting_id"]) if row["meeting_id"] else None
    return {
        "desired": row["desired"] or row["planned"],
        "reason": row["reason"] if row["desired"] else (row["plan_reason"] or "not decided yet"),
        "bot_id": bot["idempotency_key"] if bot else None,
        "bot_state": bot["state"] if bot else None,
        "recording": json.loads(bot["recording"]) if bot else {},
    }


_PLATFORM_TITLES = {"zoom": "Zoom", "meet": "Google Meet", "teams": "Microsoft Teams", "webex": "Webex",
                    "goto": "GoTo", "chime": "Chime", "whereby": "Whereby", "jitsi": "Jitsi"}

