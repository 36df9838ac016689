"""The daily digest DM and the team digest for a channel. Pure."""

from __future__ import annotations

from datetime import date, datetime

from bot.views.agenda import fallback_lines, pack_days, summary
from bot.views.common import (
    MAX_MESSAGE_BLOCKS, clip, context, escape, hhmm, message, platform_name, section,
)
from storage.agenda import AgendaItem
from storage.settings import MemberSettings

RESERVED = 3


def first_name(name: str | None) -> str:
    return (name or "").split(" ")[0].strip()


def digest_message(items: list[AgendaItem], *, tz: str, now: datetime, day: date, name: str | None,
                   settings: MemberSettings) -> dict:
    greeting = f"Good morning, {escape(first_name(name))}" if first_name(name) else "Good morning"
    if local_hour(now, tz) >= 12:
        greeting = f"Hi {escape(first_name(name))}".rstrip() if first_name(name) else "Hi"
    when = f"{day:%A} {day.day} {day:%B}"
    if not items:
        text = f"{greeting} — nothing on your calendar today, {when}."
        return message(text, [section(text), _settings_hint(settings)])
    head = f"*{greeting}* — today, {when}: {summary(items)}."
    packed = pack_days(items, tz, f"digest:{day.isoformat()}", now=now, budget=MAX_MESSAGE_BLOCKS - RESERVED)
    blocks = [section(head + f"\n_Times in {tz}_")] + packed.blocks
    left = len(items) - packed.shown
    if left:
        blocks.append(context(f"…and {left} more today — `/calbot upcoming today` lists them all."))
    blocks.append(_settings_hint(settings))
    text = f"{greeting} — today: {summary(items)}\n" + fallback_lines(items, tz)
    return message(text, blocks)


def local_hour(now: datetime, tz: str) -> int:
    return int(hhmm(now, tz)[:2])


def _settings_hint(settings: MemberSettings) -> dict:
    return context(f"Your digest comes at {settings.digest_time} on {settings.describe_days()} · "
                   "change it with `/calbot settings`.")


def team_digest_message(rows: list[dict], *, tz: str, day: date) -> dict:
    """`rows`: today's meetings that will be recorded: {title, start_at, platform, who}."""
    when = f"{day:%A} {day.day} {day:%B}"
    if not rows:
        text = f"No meetings will be recorded today, {when}."
        return message(text, [section(text)])
    head = f"*Meetings recorded today, {when}* ({len(rows)})"
    lines = []
    for row in rows:
        who = f" — {escape(row['who'])}" if row.get("who") else ""
        lines.append(f"*{hhmm(row['start_at'], tz)}* {escape(clip(row['title'], 120))} · "
                     f"{platform_name(row.get('platform'))}{who}")
    blocks = [section(head)]
    # ~20 lines per section keeps each well under 3,000 characters
    for start in range(0, len(lines), 20):
        if len(blocks) >= MAX_MESSAGE_BLOCKS - 2:
            blocks.append(context(f"…and {len(lines) - start} more."))
            break
        blocks.append(section("\n".join(lines[start:start + 20])))
    blocks.append(context(f"Times in {tz}."))
    text = f"Meetings recorded today ({len(rows)}): " + ", ".join(clip(r["title"], 40) for r in rows[:10])
    return message(text, blocks)
