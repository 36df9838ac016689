"""The approval DM: "Record this meeting?" with its buttons, and how it reads once settled. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.rules import platform_name
from bot.timeutil import zone

ACTION_RECORD = "approval_record"
ACTION_SKIP = "approval_skip"
ACTION_ALWAYS = "approval_series_always"
ACTION_NEVER = "approval_series_never"
ACTIONS = (ACTION_RECORD, ACTION_SKIP, ACTION_ALWAYS, ACTION_NEVER)


@dataclass(frozen=True)
class ApprovalCard:
    approval_id: int
    title: str
    start: datetime
    end: datetime
    tz: str | None
    platform: str | None
    attendee_count: int
    has_external: bool
    recurring: bool
    why: str                      # why we ask: "default: you organise it"


def when(start: datetime, end: datetime, tz: str | None) -> str:
    local_start, local_end = start.astimezone(zone(tz)), end.astimezone(zone(tz))
    return f"{local_start:%a %d %b, %H:%M}–{local_end:%H:%M}"


def _title(card: ApprovalCard) -> str:
    return (card.title or "(no title)").replace("*", "")[:200]


def _summary(card: ApprovalCard) -> str:
    people = f"{card.attendee_count} attendee{'s' if card.attendee_count != 1 else ''}"
    external = " · :globe_with_meridians: includes external guests" if card.has_external else ""
    return f"{when(card.start, card.end, card.tz)} · {platform_name(card.platform)} · {people}{external}"


def approval_request(card: ApprovalCard) -> dict:
    """The question, with Record / Skip (and series buttons for recurring meetings)."""
    value = str(card.approval_id)
    buttons = [
        {"type": "button", "action_id": ACTION_RECORD, "style": "primary", "value": value,
         "text": {"type": "plain_text", "text": "Record"}},
        {"type": "button", "action_id": ACTION_SKIP, "value": value, "text": {"type": "plain_text", "text": "Skip"}},
    ]
    if card.recurring:
        buttons += [
            {"type": "button", "action_id": ACTION_ALWAYS, "value": value,
             "text": {"type": "plain_text", "text": "Always for this series"}},
            {"type": "button", "action_id": ACTION_NEVER, "value": value,
             "text": {"type": "plain_text", "text": "Never for this series"}},
        ]
    text = f"Record *{_title(card)}*?"
    return {
        "text": f"Record {_title(card)}? {_summary(card)}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n{_summary(card)}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Asking because {card.why[:500]}."}]},
            {"type": "actions", "block_id": f"approval:{card.approval_id}", "elements": buttons},
        ],
    }


def approval_settled(card: ApprovalCard, outcome: str) -> dict:
    """The same message once there is nothing to click any more; `outcome` says what and who."""
    return {
        "text": f"{_title(card)}: {outcome}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_title(card)}*\n{_summary(card)}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": outcome[:2000]}]},
        ],
    }


def outcome_text(action: str, scope: str, user_id: str | None) -> str:
    who = f" — chosen by <@{user_id}>" if user_id else ""
    if scope == "series":
        return (":repeat: Recording every meeting of this series" if action == "record"
                else ":no_entry_sign: Not recording this series") + who
    return (":red_circle: Recording" if action == "record" else ":white_circle: Not recording") + who
