"""Approval requests: a DM per member who should be asked, kept in step with the meeting.

The planner calls `keep_in_step` for every meeting it touches: members whose plan is `ask`
(while nobody wants the meeting recorded) get one DM (`approval:<id>`), re-worded in place if the
meeting moves; when the question stops mattering — someone else asked for the bot, the member
chose another way, the meeting was cancelled — the DM is edited to say so instead of leaving
dead buttons. Requests nobody answered resolve to the policy default shortly before the start
(the recorder needs a minute's notice to send a bot).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.context import AppContext
from bot.timeutil import parse_iso, to_iso
from bot.views.approval import ApprovalCard, approval_request, approval_settled, outcome_text
from storage import outbox
from storage.decisions import occurrence_subject, record_decision
from storage.meetings import enqueue, get_meeting
from storage.rules import member_policy, workspace_policy

# Answers are useful until the recorder can no longer be told in time.
EXPIRE_BEFORE_START = timedelta(minutes=3)


def approval_key(approval_id: int) -> str:
    return f"approval:{approval_id}"


def _card(approval_id: int, meeting: dict, row: dict) -> ApprovalCard:
    return ApprovalCard(
        approval_id=approval_id, title=meeting["title"], start=parse_iso(meeting["start_at"]),
        end=parse_iso(meeting["end_at"]), tz=row["tz"], platform=meeting["platform"],
        attendee_count=row.get("attendee_count") or 0, has_external=bool(row.get("has_external")),
        recurring=bool(row.get("series_id")), why=row["reason"],
    )


def keep_in_step(ctx: AppContext, meeting_id: int, rows: list[dict], now: datetime) -> None:
    """Make the meeting's approval DMs match its plans (called inside the planner's transaction)."""
    db, clock = ctx.db, ctx.clock
    meeting = get_meeting(db, meeting_id)
    if meeting is None:
        return
    start = parse_iso(meeting["start_at"])
    open_question = meeting["desired"] == "ask" and start - EXPIRE_BEFORE_START > now
    asking = {r["member_id"]: r for r in rows if r["action"] == "ask"} if open_question else {}
    existing = {a["member_id"]: a for a in db.query("SELECT * FROM approvals WHERE meeting_id = ?", [meeting_id])}
    expires = to_iso(start - EXPIRE_BEFORE_START)

    for member_id, row in asking.items():
        approval = existing.get(member_id)
        if approval is None:
            cursor = db.execute(
                "INSERT INTO approvals (member_id, meeting_id, event_id, status, created_at, expires_at) "
                "VALUES (?, ?, ?, 'pending', ?, ?)", [member_id, meeting_id, row["event_id"], clock.now_iso(), expires])
            approval_id = cursor.lastrowid
        elif approval["status"] in ("pending", "withdrawn"):
            approval_id = approval["id"]
            db.execute("UPDATE approvals SET status = 'pending', event_id = ?, expires_at = ?, resolved_at = NULL "
                       "WHERE id = ?", [row["event_id"], expires, approval_id])
        else:
            continue  # answered or expired: that answer stands
        outbox.upsert_message(db, key=approval_key(approval_id), team_id=row["team_id"], kind="slack.dm",
                              target=row["user_id"], payload=approval_request(_card(approval_id, meeting, row)),
                              clock=clock)

    plans_by_member = {r["member_id"]: r for r in rows}
    for member_id, approval in existing.items():
        if approval["status"] != "pending" or member_id in asking:
            continue
        row = plans_by_member.get(member_id)
        if row is not None and row["source"] in ("decision", "series"):
            status, outcome = "answered", f"Answered: {row['reason']}"
        elif meeting["desired"] == "record":
            who = _requester(db, meeting)
            status, outcome = "withdrawn", ":red_circle: Will be recorded" + (f" — <@{who}> asked for it" if who else "")
        else:
            status, outcome = "withdrawn", f"No answer needed any more: {meeting['reason']}"
        _settle(ctx, approval, meeting, row, status=status, outcome=outcome)


def expire_due(ctx: AppContext, now: datetime) -> bool:
    """Resolve unanswered requests whose time is up to the policy default. True if any."""
    db = ctx.db
    due = list(db.query(
        "SELECT a.*, m.user_id, m.tz, m.team_id, m.settings FROM approvals a JOIN members m ON m.id = a.member_id "
        "WHERE a.status = 'pending' AND a.expires_at <= ?", [to_iso(now)]))
    for approval in due:
        meeting = get_meeting(db, approval["meeting_id"])
        policy = member_policy(workspace_policy(db, approval["team_id"]), approval["settings"])
        default = policy.default_action if policy.default_action in ("record", "skip") else "skip"
        events = list(db.query("SELECT * FROM events WHERE id = ?", [approval["event_id"]]))
        if default == "record" and events:
            record_decision(db, team_id=approval["team_id"], member_id=approval["member_id"], scope="occurrence",
                            subject=occurrence_subject(events[0]), action="record", source="default",
                            actor="the policy default (no answer in time)", clock=ctx.clock)
            enqueue(db, "event", [approval["event_id"]])
            outcome = ":red_circle: No answer before the meeting — recording (policy default)"
        else:
            outcome = ":white_circle: No answer before the meeting — not recorded (policy default: skip)"
        _settle(ctx, approval, meeting, approval, status="expired", outcome=outcome)
    return bool(due)


def answer(ctx: AppContext, approval: dict, *, action: str, scope: str, user_id: str) -> str:
    """A click on the DM: mark it answered and show who chose what. Returns the outcome text."""
    meeting = get_meeting(ctx.db, approval["meeting_id"])
    outcome = outcome_text(action, scope, user_id)
    row = ctx.db.execute(
        "SELECT p.reason, e.attendee_count, e.has_external, e.series_id, m.tz FROM approvals a "
        "JOIN members m ON m.id = a.member_id LEFT JOIN events e ON e.id = a.event_id "
        "LEFT JOIN plans p ON p.event_id = a.event_id WHERE a.id = ?", [approval["id"]]).fetchone()
    details = dict(zip(("reason", "attendee_count", "has_external", "series_id", "tz"), row or (None,) * 5))
    ctx.db.execute("UPDATE approvals SET answer = ?, answered_by = ? WHERE id = ?",
                   [f"{action}:{scope}", user_id, approval["id"]])
    _settle(ctx, approval, meeting, details, status="answered", outcome=outcome)
    return outcome


def _settle(ctx: AppContext, approval: dict, meeting: dict | None, row: dict | None, *, status: str,
            outcome: str) -> None:
    db = ctx.db
    db.execute("UPDATE approvals SET status = ?, resolved_at = ? WHERE id = ?",
               [status, ctx.clock.now_iso(), approval["id"]])
    if meeting is None:
        return
    details = {"tz": None, "attendee_count": 0, "has_external": False, "series_id": None, "reason": ""}
    details.update({k: v for k, v in (row or {}).items() if k in details and v is not None})
    card = _card(approval["id"], meeting, details)
    outbox.edit_message(db, key=approval_key(approval["id"]), payload=approval_settled(card, outcome), clock=ctx.clock)


def _requester(db, meeting: dict) -> str | None:
    if not meeting.get("requested_by"):
        return None
    row = db.execute("SELECT user_id FROM members WHERE id = ?", [meeting["requested_by"]]).fetchone()
    return row[0] if row else None
