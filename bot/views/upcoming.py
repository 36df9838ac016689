"""`/calbot upcoming [today|tomorrow|week]`: the member's meetings, numbered, paginated. Pure.

A page is as many whole meetings as fit in one message (50 blocks); "Show more" asks for the
next page. Numbers run across pages so `/calbot record 23` works whatever page 23 was on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.views.agenda import fallback_lines, pack_days, summary
from bot.views.common import MAX_MESSAGE_BLOCKS, actions, button, context, local, message, section
from bot.timeutil import zone
from storage.agenda import AgendaItem

MORE_ACTION = "upcoming_more"
RANGES = {"": "today and tomorrow", "today": "today", "tomorrow": "tomorrow", "week": "in the next 7 days"}
RESERVED = 3   # heading, hint, "Show more"


def range_window(name: str, now: datetime, tz: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC for a range name, in the member's days (DST-correct)."""
    here = local(now, tz)
    midnight = datetime.combine(here.date(), datetime.min.time(), tzinfo=zone(tz))

    def day_start(offset: int) -> datetime:
        day = midnight.date() + timedelta(days=offset)
        return datetime.combine(day, datetime.min.time(), tzinfo=zone(tz))

    if name == "today":
        return now, day_start(1)
    if name == "tomorrow":
        return day_start(1), day_start(2)
    if name == "week":
        return now, now + timedelta(days=7)
    return now, day_start(2)


def page_starts(items: list[AgendaItem], tz: str, *, now: datetime) -> list[int]:
    """Index of the first item of each page."""
    starts, index = [0], 0
    budget = MAX_MESSAGE_BLOCKS - RESERVED
    while index < len(items):
        packed = pack_days(items[index:], tz, "x", now=now, budget=budget, first_number=index + 1)
        index += max(packed.shown, 1)
        if index < len(items):
            starts.append(index)
    return starts


def upcoming_message(items: list[AgendaItem], *, tz: str, now: datetime, range_name: str = "", page: int = 0,
                     connected: bool = True, more_button: bool = True) -> dict:
    label = RANGES.get(range_name, RANGES[""])
    if not items:
        if not connected:
            text = ("You haven't connected a calendar yet, so there is nothing to show. "
                    "Try `/calbot connect google` or `/calbot connect microsoft`.")
        else:
            text = f"Nothing on your calendar {label}."
            if range_name in ("", "today", "tomorrow"):
                text += " `/calbot upcoming week` shows the next 7 days."
        return message(text, [section(text)])
    starts = page_starts(items, tz, now=now)
    page = max(0, min(page, len(starts) - 1))
    first = starts[page]
    end = starts[page + 1] if page + 1 < len(starts) else len(items)
    where = f"up:{range_name or '-'}:{page}"
    packed = pack_days(items[first:end], tz, where, now=now, budget=MAX_MESSAGE_BLOCKS - RESERVED,
                       first_number=first + 1)
    heading = f"*Your meetings {label}* · {summary(items)}"
    if page:
        heading = f"*Your meetings {label}* (continued: {first + 1}–{first + packed.shown} of {len(items)})"
    blocks = [section(heading + f"\n_Times in {tz}_")]
    blocks += packed.blocks
    blocks.append(context("Use the buttons, or `/calbot record 2` · `/calbot skip 2` with a number from this list."))
    left = len(items) - (first + packed.shown)
    if left > 0 and more_button:
        blocks.append(actions(button(f"Show more ({left} left)", MORE_ACTION, f"{range_name or '-'}:{page + 1}"),
                              block_id="upcoming:more"))
    text = f"Your meetings {label}: {summary(items)}\n" + fallback_lines(items[first:first + packed.shown], tz)
    return message(text, blocks)


def parse_more_value(value: str | None) -> tuple[str, int]:
    name, _, page = (value or "").partition(":")
    name = "" if name == "-" else name
    if name not in RANGES:
        name = ""
    try:
        return name, max(0, int(page))
    except ValueError:
        return name, 0
