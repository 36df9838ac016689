"""The personal settings modal: digest time and days, notice channel, bot name, entry message,
default action. Pure (the channel check happens in the handler)."""

from __future__ import annotations

from bot.views.common import plain, section
from storage.settings import BOT_NAME_MAX, DAY_NAMES, ENTRY_MESSAGE_MAX, MemberSettings

SETTINGS_CALLBACK = "member_settings"
DEFAULT_ACTION_LABELS = {"": "The workspace default", "record": "Record", "ask": "Ask me", "skip": "Skip"}


def _option(text: str, value: str) -> dict:
    return {"text": plain(text), "value": value}


def settings_modal(settings: MemberSettings, *, tz: str, workspace_default: str | None = None) -> dict:
    day_options = [_option(name, str(i)) for i, name in enumerate(DAY_NAMES)]
    days = {"type": "checkboxes", "action_id": "value", "options": day_options}
    chosen = [o for o in day_options if int(o["value"]) in settings.digest_days]
    if chosen:
        days["initial_options"] = chosen
    enabled_option = _option("Send me a digest of my day", "on")
    enabled = {"type": "checkboxes", "action_id": "value", "options": [enabled_option]}
    if settings.digest_enabled:
        enabled["initial_options"] = [enabled_option]
    channel = {"type": "conversations_select", "action_id": "value", "placeholder": plain("Direct message"),
               "filter": {"include": ["public", "private"], "exclude_bot_users": True,
                          "exclude_external_shared_channels": True}}
    if settings.notice_channel:
        channel["initial_conversation"] = settings.notice_channel
    name = {"type": "plain_text_input", "action_id": "value", "max_length": BOT_NAME_MAX,
            "placeholder": plain("The workspace's bot name")}
    if settings.bot_name:
        name["initial_value"] = settings.bot_name
    entry = {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": ENTRY_MESSAGE_MAX,
             "placeholder": plain("The workspace's entry message")}
    if settings.entry_message:
        entry["initial_value"] = settings.entry_message
    default_label = DEFAULT_ACTION_LABELS[""]
    if workspace_default:
        default_label += f" ({DEFAULT_ACTION_LABELS.get(workspace_default, workspace_default).lower()})"
    action_options = [_option(default_label, "-")] + [_option(t, v) for v, t in DEFAULT_ACTION_LABELS.items() if v]
    action = {"type": "static_select", "action_id": "value", "options": action_options,
              "initial_option": next(o for o in action_options if o["value"] == (settings.default_action or "-"))}
    return {
        "type": "modal", "callback_id": SETTINGS_CALLBACK, "title": plain("calbot settings", 24),
        "submit": plain("Save", 24), "close": plain("Cancel", 24),
        "blocks": [
            section(f"*Daily digest* — times are in your Slack time zone ({tz})."),
            {"type": "input", "block_id": "digest_enabled", "optional": True, "label": plain("Digest"),
             "element": enabled},
            {"type": "input", "block_id": "digest_time", "label": plain("At"),
             "element": {"type": "timepicker", "action_id": "value", "initial_time": settings.digest_time}},
            {"type": "input", "block_id": "digest_days", "optional": True, "label": plain("On"), "element": days},
            section("*Notices* about your recorded meetings (scheduled, moved, recording ready)."),
            {"type": "input", "block_id": "notice_channel", "optional": True, "label": plain("Send them to"),
             "element": channel, "hint": plain("Leave empty for no channel. For a private channel, "
                                               "invite @calbot there first.", 150)},
            section("*Your bot* — used for meetings you record unless a meeting says otherwise."),
            {"type": "input", "block_id": "bot_name", "optional": True, "label": plain("Bot name"), "element": name},
            {"type": "input", "block_id": "entry_message", "optional": True, "label": plain("Entry message"),
             "element": entry},
            {"type": "input", "block_id": "default_action", "label": plain("When no rule matches"),
             "element": action},
        ],
    }


def _value(values: dict, block: str) -> dict:
    return (values.get(block) or {}).get("value") or {}


def parse_settings_submission(view: dict) -> tuple[dict, dict]:
    """(changes for update_member_settings, errors by block id)."""
    values = (view.get("state") or {}).get("values") or {}
    errors: dict[str, str] = {}
    enabled = bool(_value(values, "digest_enabled").get("selected_options"))
    time = _value(values, "digest_time").get("selected_time") or ""
    days = sorted(int(o["value"]) for o in _value(values, "digest_days").get("selected_options") or [])
    channel = _value(values, "notice_channel").get("selected_conversation") or None
    bot_name = (_value(values, "bot_name").get("value") or "").strip()
    entry = (_value(values, "entry_message").get("value") or "").strip()
    action = ((_value(values, "default_action").get("selected_option") or {}).get("value")) or "-"
    if len(time) != 5 or time[2] != ":":
        errors["digest_time"] = "Pick a time."
    if enabled and not days:
        errors["digest_days"] = "Pick at least one day, or turn the digest off."
    if len(bot_name) > BOT_NAME_MAX:
        errors["bot_name"] = f"At most {BOT_NAME_MAX} characters."
    elif bot_name and not any(ch.isalnum() for ch in bot_name):
        errors["bot_name"] = "Use at least one letter or digit."
    if len(entry) > ENTRY_MESSAGE_MAX:
        errors["entry_message"] = f"At most {ENTRY_MESSAGE_MAX} characters."
    changes = {
        "digest_enabled": enabled, "digest_days": days, "notice_channel": channel,
        "bot_name": bot_name or None, "entry_message": entry or None,
        "default_action": None if action == "-" else action,
    }
    if not errors.get("digest_time"):
        changes["digest_time"] = time
    return changes, errors
