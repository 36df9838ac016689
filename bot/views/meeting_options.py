"""The per-meeting bot options modal: bot name and entry message for this one meeting. Pure."""

from __future__ import annotations

from datetime import datetime

from bot.views.common import escape, plain, section, short_when
from storage.agenda import AgendaItem
from storage.settings import BOT_NAME_MAX, ENTRY_MESSAGE_MAX, MemberSettings

OPTIONS_CALLBACK = "meeting_options"


def meeting_options_modal(item: AgendaItem, *, tz: str, now: datetime, defaults: MemberSettings,
                          metadata: str) -> dict:
    current = item.bot_config or {}
    bot_name = current.get("bot_name") or defaults.bot_name or ""
    entry = current.get("entry_message") or defaults.entry_message or ""
    name_input = {"type": "plain_text_input", "action_id": "value", "max_length": BOT_NAME_MAX,
                  "placeholder": plain("The workspace's bot name")}
    if bot_name:
        name_input["initial_value"] = bot_name
    entry_input = {"type": "plain_text_input", "action_id": "value", "multiline": True,
                   "max_length": ENTRY_MESSAGE_MAX, "placeholder": plain("The workspace's entry message")}
    if entry:
        entry_input["initial_value"] = entry
    return {
        "type": "modal", "callback_id": OPTIONS_CALLBACK, "private_metadata": metadata,
        "title": plain("Bot options", 24), "submit": plain("Record with these", 24), "close": plain("Cancel", 24),
        "blocks": [
            section(f"*{escape(item.title)}* — {short_when(item.start_at, tz, now)}\n"
                    "These apply to this meeting only; saving them also asks for it to be recorded."),
            {"type": "input", "block_id": "bot_name", "optional": True, "label": plain("Bot name"),
             "element": name_input, "hint": plain("The name people see in the meeting.", 150)},
            {"type": "input", "block_id": "entry_message", "optional": True, "label": plain("Entry message"),
             "element": entry_input, "hint": plain("Posted in the meeting chat when the bot joins.", 150)},
        ],
    }


def parse_options_submission(view: dict) -> tuple[dict, dict]:
    """(bot_config, errors by block id)."""
    values = (view.get("state") or {}).get("values") or {}
    bot_name = ((values.get("bot_name") or {}).get("value") or {}).get("value") or ""
    entry = ((values.get("entry_message") or {}).get("value") or {}).get("value") or ""
    bot_name, entry = bot_name.strip(), entry.strip()
    errors = {}
    if len(bot_name) > BOT_NAME_MAX:
        errors["bot_name"] = f"At most {BOT_NAME_MAX} characters."
    elif bot_name and not any(ch.isalnum() for ch in bot_name):
        errors["bot_name"] = "Use at least one letter or digit."
    if len(entry) > ENTRY_MESSAGE_MAX:
        errors["entry_message"] = f"At most {ENTRY_MESSAGE_MAX} characters."
    config = {}
    if bot_name:
        config["bot_name"] = bot_name
    if entry:
        config["entry_message"] = entry
    return config, errors
