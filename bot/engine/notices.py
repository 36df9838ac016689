"""Notices about a meeting's bot, to the member who asked for it and to their notice channel.

Several changes to one meeting within a minute become one message edited in place: the running
lines live in `notices` (per channel and meeting) and go to one outbox key; a change after a
quiet minute starts a new message. Written inside the caller's transaction, sent by the notifier.
"""

from __future__ import annotations

import json
from datetime import timedelta

from bot.context import AppContext
from bot.timeutil import parse_iso, to_iso
from bot.views.notices import notice_message, notice_line
from storage import outbox
from storage.settings import parse_member_settings

COALESCE_WINDOW = timedelta(minutes=1)


def notify(ctx: AppContext, meeting: dict, kind: str, *, reason: str = "", video_url: str | None = None,
           transcript_url: str | None = None) -> None:
    """Tell the meeting's requester (DM) and their notice channel what happened to its bot."""
    db = ctx.db
    if not meeting or not meeting.get("requested_by"):
        return
    rows = list(db.query("SELECT team_id, user_id, tz, settings FROM members WHERE id = ?", [meeting["requested_by"]]))
    if not rows:
        return
    member = rows[0]
    line = notice_line(kind, title=meeting["title"], start=parse_iso(meeting["start_at"]), tz=member["tz"],
                       reason=reason, video_url=video_url, transcript_url=transcript_url,
                       requested_by=member["user_id"] if kind == "scheduled" else None)
    targets = [("slack.dm", member["user_id"])]
    channel = parse_member_settings(member["settings"]).notice_channel
    if channel:
        targets.append(("slack.post", channel))
    for kind_of_message, target in targets:
        _add_line(ctx, team_id=member["team_id"], kind=kind_of_message, target=target,
                  meeting_id=meeting["id"], line=line)


def _add_line(ctx: AppContext, *, team_id: str, kind: str, target: str, meeting_id: int, line: str) -> None:
    db, now = ctx.db, ctx.clock.now()
    rows = list(db.query("SELECT * FROM notices WHERE channel = ? AND meeting_id = ?", [target, meeting_id]))
    current = rows[0] if rows else None
    if current and current["outbox_key"] and parse_iso(current["updated_at"]) > now - COALESCE_WINDOW:
        lines = json.loads(current["lines"])
        if lines and lines[-1] == line:
            return  # the same news twice (a redelivered callback) is not news
        lines.append(line)
        key = current["outbox_key"]
    else:
        lines, key = [line], f"notice:{target}:{meeting_id}:{to_iso(now)}"
    db.execute(
        "INSERT INTO notices (channel, meeting_id, outbox_key, lines, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (channel, meeting_id) DO UPDATE SET outbox_key = excluded.outbox_key, lines = excluded.lines, "
        "updated_at = excluded.updated_at", [target, meeting_id, key, json.dumps(lines), to_iso(now)])
    outbox.upsert_message(db, key=key, team_id=team_id, kind=kind, target=target, payload=notice_message(lines),
                          clock=ctx.clock)
