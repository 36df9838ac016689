"""Small Block Kit pieces and Slack's limits, shared by the builders in bot/views/. Pure."""

from __future__ import annotations

import re

from datetime import date, datetime

from bot.timeutil import zone

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 3000            # section / context text
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000           # button value
MAX_FALLBACK = 3000        # the `text` of a message with blocks (shown in notifications)

PLATFORM_NAMES = {
    "zoom": "Zoom", "meet": "Google Meet", "google_meet": "Google Meet", "teams": "Microsoft Teams",
    "webex": "Webex", "goto": "GoTo Meeting", "chime": "Amazon Chime", "whereby": "Whereby", "jitsi": "Jitsi",
    "other": "online meeting",
}


def escape(text: str | None) -> str:
    """Slack mrkdwn escaping: only &, < and > are special."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9_]{2,})&gt;")


def escape_keeping_mentions(text: str | None) -> str:
    """`escape`, except that a user mention calbot itself wrote into a reason ("approved by
    <@U123>") stays a mention: Slack shows it as @ana rather than as the raw id."""
    return _ESCAPED_MENTION.sub(r"<@\1>", escape(text))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def section(text: str, **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_TEXT)}, **extra}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_TEXT)}]}


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, 150), "emoji": True}}


def divider() -> dict:
    return {"type": "divider"}


def plain(text: str, limit: int = MAX_BUTTON_TEXT) -> dict:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def button(text: str, action_id: str, value: str | None = None, *, style: str | None = None,
           url: str | None = None) -> dict:
    element = {"type": "button", "text": plain(text), "action_id": action_id}
    if value is not None:
        element["value"] = clip(value, MAX_VALUE)
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    return element


def actions(*elements: dict, block_id: str | None = None) -> dict:
    block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def message(text: str, blocks: list[dict], **extra) -> dict:
    """A message payload: fallback text (for notifications) plus blocks, within Slack's limits."""
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks in one message (Slack allows {MAX_MESSAGE_BLOCKS})")
    return {"text": clip(text, MAX_FALLBACK), "blocks": blocks, **extra}


def platform_name(platform: str | None) -> str:
    return PLATFORM_NAMES.get(platform or "", (platform or "online meeting").capitalize())


def local(moment: datetime, tz: str | None) -> datetime:
    return moment.astimezone(zone(tz))


def hhmm(moment: datetime, tz: str | None) -> str:
    return local(moment, tz).strftime("%H:%M")


def day_label(day: date, today: date) -> str:
    if day == today:
        return f"Today, {day:%A} {day.day} {day:%B}"
    if (day - today).days == 1:
        return f"Tomorrow, {day:%A} {day.day} {day:%B}"
    return f"{day:%A} {day.day} {day:%B}"


def short_when(moment: datetime, tz: str | None, now: datetime | None = None) -> str:
    """"Thu 10:00" (or "today 10:00" / "tomorrow 10:00" when `now` is given)."""
    at = local(moment, tz)
    if now is not None:
        today = local(now, tz).date()
        if at.date() == today:
            return f"today {at:%H:%M}"
        if (at.date() - today).days == 1:
            return f"tomorrow {at:%H:%M}"
    return f"{at:%a} {at.day} {at:%b} {at:%H:%M}"
