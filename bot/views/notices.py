"""Notice lines about a meeting's bot ("Bot scheduled for *Acme demo* Thu 10:00"). Pure."""

from __future__ import annotations

from datetime import datetime

from bot.timeutil import zone


def short_when(moment: datetime, tz: str | None) -> str:
    return f"{moment.astimezone(zone(tz)):%a %d %b %H:%M}"


def _t(title: str) -> str:
    return (title or "(no title)").replace("*", "")[:150]


def notice_line(kind: str, *, title: str, start: datetime, tz: str | None, reason: str = "",
                video_url: str | None = None, transcript_url: str | None = None,
                requested_by: str | None = None) -> str:
    when = short_when(start, tz)
    asked = f" — asked by <@{requested_by}>" if requested_by and requested_by not in reason else ""
    why = f" ({reason})" if reason else ""
    lines = {
        "scheduled": f":calendar: Bot scheduled for *{_t(title)}* {when}{asked}{why}",
        "rescheduled": f":arrow_right: *{_t(title)}* moved to {when} — bot rescheduled",
        "relinked": f":link: *{_t(title)}* has a new meeting link — bot re-created for {when}",
        "cancelled": f":x: Bot for *{_t(title)}* {when} cancelled{' — ' + reason if reason else ''}",
        "cant_cancel": f":warning: Couldn't call off the bot for *{_t(title)}*: it is already on its way{why}",
        "cant_move": f":warning: *{_t(title)}* moved to {when}, but the bot could no longer be moved{why}",
        "change_failed": f":warning: Couldn't update the bot for *{_t(title)}* {when}{why} — until calbot gets "
                         "through, it keeps its earlier time and link",
        "cancel_failed": f":warning: Couldn't call off the bot for *{_t(title)}* {when}{why} — it may still join; "
                         "calbot keeps trying",
        "joining": f":door: Bot is joining *{_t(title)}*",
        "in_call": f":red_circle: Bot is in *{_t(title)}* and recording",
        "refused": f":no_entry: Bot was refused entry by the host of *{_t(title)}*{why}",
        "removed": f":no_entry: Bot was removed from *{_t(title)}*{why}",
        "failed": f":warning: Bot for *{_t(title)}* failed: {reason or 'no reason given'}",
    }
    if kind == "completed":
        links = [f"<{video_url}|video>" if video_url else None, f"<{transcript_url}|transcript>" if transcript_url else None]
        shown = " · ".join(link for link in links if link) or "the recorder has it"
        return f":white_check_mark: Recording ready for *{_t(title)}*: {shown}"
    return lines[kind]


MAX_TEXT = 2900  # a section block holds 3,000 characters


def notice_message(lines: list[str]) -> dict:
    # A long burst drops its oldest lines, not its newest: the latest news is the point.
    kept = list(lines)
    while len(kept) > 1 and len("\n".join(kept)) > MAX_TEXT:
        kept.pop(0)
    text = "\n".join(kept)[:MAX_TEXT]
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
