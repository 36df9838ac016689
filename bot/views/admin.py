"""Admin views: the workspace policy modal and every member's connection health. Pure."""

from __future__ import annotations

from bot.rules import Policy
from bot.views.common import context, escape, plain, section

POLICY_CALLBACK = "workspace_policy"
MAX_HEALTH_ROWS = 95  # a view holds 100 blocks
DEFAULTS = {"-": "Ask if they organise it, else skip", "record": "Record", "ask": "Ask", "skip": "Skip"}
MODES = {"speaker_view": "Speaker view", "gallery_view": "Gallery view", "audio_only": "Audio only"}


def _opt(text: str, value: str) -> dict:
    return {"text": plain(text), "value": value}


def policy_modal(policy: Policy) -> dict:
    def choose(block_id: str, label: str, options: dict, current: str) -> dict:
        opts = [_opt(t, v) for v, t in options.items()]
        return {"type": "input", "block_id": block_id, "label": plain(label),
                "element": {"type": "static_select", "action_id": "value", "options": opts,
                            "initial_option": next(o for o in opts if o["value"] == current)}}

    def checkbox(block_id: str, label: str, text: str, on: bool) -> dict:
        option = _opt(text, "on")
        element = {"type": "checkboxes", "action_id": "value", "options": [option]}
        if on:
            element["initial_options"] = [option]
        return {"type": "input", "block_id": block_id, "optional": True, "label": plain(label), "element": element}

    entry = {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 500}
    if policy.entry_message:
        entry["initial_value"] = policy.entry_message
    never = {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 2000}
    if policy.never_record_titles:
        never["initial_value"] = "\n".join(policy.never_record_titles)
    return {
        "type": "modal", "callback_id": POLICY_CALLBACK, "title": plain("Workspace policy", 24),
        "submit": plain("Save", 24), "close": plain("Cancel", 24),
        "blocks": [
            context("Applies to everyone, above their own rules. Members may still choose their own bot "
                    "name and default in their settings."),
            {"type": "input", "block_id": "bot_name", "label": plain("Bot name"),
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 100,
                         "initial_value": policy.bot_name}},
            {"type": "input", "block_id": "entry_message", "optional": True, "label": plain("Entry message"),
             "element": entry},
            choose("recording_mode", "Recording", MODES, policy.recording_mode),
            checkbox("speech_to_text", "Transcripts", "Transcribe recordings", policy.speech_to_text),
            choose("default_action", "When no rule matches", DEFAULTS, policy.default_action or "-"),
            checkbox("external_needs_approval", "External guests", "Meetings with external guests always need approval",
                     policy.external_needs_approval),
            {"type": "input", "block_id": "never_record_titles", "optional": True,
             "label": plain("Never record meetings whose title contains"), "element": never,
             "hint": plain("One per line, e.g. 1:1, interview, HR", 150)},
        ],
    }


def parse_policy(view: dict, current: Policy) -> tuple[Policy | None, dict]:
    values = (view.get("state") or {}).get("values") or {}

    def get(block: str) -> dict:
        return (values.get(block) or {}).get("value") or {}

    name = (get("bot_name").get("value") or "").strip()
    if not name or not any(ch.isalnum() for ch in name):
        return None, {"bot_name": "Give the bot a name with at least one letter or digit."}
    titles = [line.strip() for line in (get("never_record_titles").get("value") or "").splitlines() if line.strip()]
    if len(titles) > 50:
        return None, {"never_record_titles": "At most 50 lines."}
    default = (get("default_action").get("selected_option") or {}).get("value") or "-"
    policy = current.model_copy(update={
        "bot_name": name,
        "entry_message": (get("entry_message").get("value") or "").strip() or None,
        "recording_mode": (get("recording_mode").get("selected_option") or {}).get("value") or current.recording_mode,
        "speech_to_text": bool(get("speech_to_text").get("selected_options")),
        "default_action": None if default == "-" else default,
        "external_needs_approval": bool(get("external_needs_approval").get("selected_options")),
        "never_record_titles": titles,
    })
    return policy, {}


HEALTH_WORDS = {"active": ":large_green_circle: working", "needs_reauth": ":red_circle: needs reconnecting",
                "error": ":warning: failing", "disconnected": ":white_circle: disconnected"}


def health_view(rows: list[dict]) -> dict:
    """Every member's connections: account, provider, status, last sync, calendars watched."""
    blocks = []
    for row in rows[:MAX_HEALTH_ROWS]:
        state = HEALTH_WORDS.get(row["status"], row["status"])
        synced = row["last_synced_at"] or "never"
        problem = f"\n_{escape(row['last_error'][:200])}_" if row["status"] != "active" and row["last_error"] else ""
        blocks.append(section(f"<@{row['user_id']}> · {escape(row['account'])} ({row['provider'].title()}) — {state}\n"
                              f"{row['calendars']} calendar(s) watched · last synced {synced}{problem}"))
    if not rows:
        blocks.append(section("_Nobody has connected a calendar yet._"))
    if len(rows) > MAX_HEALTH_ROWS:
        blocks.append(context(f"…and {len(rows) - MAX_HEALTH_ROWS} more (the REST API lists them all)."))
    broken = sum(1 for r in rows if r["status"] != "active")
    title = f"{len(rows)} connection(s), {broken} need attention" if broken else f"{len(rows)} connection(s), all working"
    return {"type": "modal", "title": plain("Members' calendars", 24), "close": plain("Close", 24),
            "blocks": [context(title), *blocks]}
