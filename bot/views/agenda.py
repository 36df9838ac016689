"""Meetings as Block Kit: one section per meeting (time, title, platform, will it be recorded and
why) and its Record / Skip / Bot options buttons, grouped by day in the member's time zone.
Used by `/calbot upcoming`, the daily digest and the App Home. Pure.

Buttons carry `<event id>|<where>` in their value; `where` tells the click handler what to
redraw (an `upcoming` page, a digest, the Home tab).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.views.common import (actions, button, clip, context, day_label, escape, escape_keeping_mentions, hhmm, local,
                              platform_name, section)
from storage.agenda import AgendaItem

RECORD_ACTION = "meeting_record"
SKIP_ACTION = "meeting_skip"
OPTIONS_ACTION = "meeting_options"
MEETING_ACTIONS = (RECORD_ACTION, SKIP_ACTION, OPTIONS_ACTION)

TITLE_LIMIT = 150
REASON_LIMIT = 300

STATE_LINES = {
    "record": ":red_circle: *Will be recorded*",
    "ask": ":grey_question: *Waiting for your answer*",
    "skip": ":white_circle: Not recorded",
    "never": ":heavy_minus_sign: Can't be recorded",
    "undecided": ":hourglass_flowing_sand: Not decided yet",
    "failed": ":warning: *Bot failed*",
    "done": ":white_check_mark: Recorded",
}


def button_value(event_id: int, where: str) -> str:
    return f"{event_id}|{where}"


def parse_button_value(value: str | None) -> tuple[int, str] | None:
    try:
        event, _, where = (value or "").partition("|")
        return int(event), where
    except ValueError:
        return None


def state_line(item: AgendaItem) -> str:
    state = item.state
    line = STATE_LINES[state]
    why = item.why
    if state in ("record", "skip", "never", "failed") and why and why not in ("will be recorded", "not recorded"):
        line += f" — {escape_keeping_mentions(clip(why, REASON_LIMIT))}"
    elif state == "ask" and item.reason and item.reason != "waiting for your answer":
        line += f" — {escape_keeping_mentions(clip(item.reason, REASON_LIMIT))}"
    if state == "done":
        links = [f"<{escape(url)}|{label}>" for label, url in (item.recording or {}).items()
                 if isinstance(url, str) and url.startswith("http")]
        if links:
            line += " — " + " · ".join(links)
    return line


def meeting_text(item: AgendaItem, tz: str, number: int | None = None) -> str:
    when = "all day" if item.all_day else f"{hhmm(item.start_at, tz)}–{hhmm(item.end_at, tz)}"
    prefix = f"`{number}` " if number is not None else ""
    where = f" · {platform_name(item.platform)}" if item.meeting_url else ""
    title = escape(clip(item.title, TITLE_LIMIT))
    return f"{prefix}*{when}*  {title}{where}\n{state_line(item)}"


def meeting_buttons(item: AgendaItem, where: str, *, now: datetime) -> list[dict]:
    """The buttons that change something for this meeting (none for link-less or ended ones)."""
    if not item.recordable or item.end_at <= now or item.state == "done":
        return []
    value = button_value(item.event_id, where)
    state = item.state
    elements = []
    if state != "record":
        elements.append(button("Record", RECORD_ACTION, value, style="primary"))
    if state in ("record", "ask", "undecided", "failed"):
        elements.append(button("Skip", SKIP_ACTION, value))
    elements.append(button("Bot options", OPTIONS_ACTION, value))
    return elements


def meeting_blocks(item: AgendaItem, tz: str, where: str, *, now: datetime, number: int | None = None,
                   with_buttons: bool = True) -> list[dict]:
    blocks = [section(meeting_text(item, tz, number))]
    elements = meeting_buttons(item, where, now=now) if with_buttons else []
    if elements:
        blocks.append(actions(*elements, block_id=f"meeting:{item.event_id}"))
    return blocks


@dataclass
class Packed:
    blocks: list[dict]
    shown: int          # how many items fit


def pack_days(items: list[AgendaItem], tz: str, where: str, *, now: datetime, budget: int,
              first_number: int | None = None, with_buttons: bool = True) -> Packed:
    """Day headings and meetings, as many whole meetings as fit in `budget` blocks."""
    blocks: list[dict] = []
    today = local(now, tz).date()
    current_day = None
    shown = 0
    for index, item in enumerate(items):
        day = local(item.start_at, tz).date()
        piece = []
        if day != current_day:
            piece.append(section(f"*{day_label(day, today)}*"))
        number = first_number + index if first_number is not None else None
        piece += meeting_blocks(item, tz, where, now=now, number=number, with_buttons=with_buttons)
        if len(blocks) + len(piece) > budget:
            break
        blocks += piece
        current_day = day
        shown += 1
    return Packed(blocks, shown)


def summary(items: list[AgendaItem]) -> str:
    recorded = sum(1 for i in items if i.will_record)
    asking = sum(1 for i in items if i.state in ("ask", "undecided"))
    parts = [f"{len(items)} meeting{'s' if len(items) != 1 else ''}", f"{recorded} will be recorded"]
    if asking:
        parts.append(f"{asking} waiting for a decision")
    return ", ".join(parts)


def fallback_lines(items: list[AgendaItem], tz: str, limit: int = 15) -> str:
    """Plain text for notifications and screen readers."""
    lines = []
    for item in items[:limit]:
        when = "all day" if item.all_day else hhmm(item.start_at, tz)
        mark = "● " if item.will_record else ""
        lines.append(f"{when} {mark}{clip(item.title, 80)}")
    if len(items) > limit:
        lines.append(f"… and {len(items) - limit} more")
    return "\n".join(lines)


def footer(text: str) -> dict:
    return context(text)
