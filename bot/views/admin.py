"""Admin views: the workspace policy modal and every member's connection health. Pure."""

from __future__ import annotations

from bot.rules import Policy
from bot.views.common import button, clip, context, divider, escape, plain, section
from storage.settings import TeamDigest

POLICY_CALLBACK = "workspace_policy"
MAX_HEALTH_ROWS = 95  # a view holds 100 blocks
DEFAULTS = {"-": "Ask if they organise it, else skip", "record": "Record", "ask": "Ask", "skip": "Skip"}
MODES = {"speaker_view": "Speaker view", "gallery_view": "Gallery view", "audio_only": "Audio only"}


def _opt(text: str, value: str) -> dict:
    return {"text": plain(text), "value": value}


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def policy_modal(policy: Policy, *, digest_channel: str | None = None, digest: TeamDigest | None = None,
                 tz: str = "UTC") -> dict:
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
            *_team_digest_blocks(digest_channel, digest or TeamDigest(digest_tz=tz), tz),
        ],
    }


def _team_digest_blocks(channel_id: str | None, digest: TeamDigest, tz: str) -> list[dict]:
    """The optional channel digest of the day's recorded meetings: where, when, which days."""
    channel = {"type": "conversations_select", "action_id": "value", "placeholder": plain("No team digest"),
               "filter": {"include": ["public", "private"], "exclude_bot_users": True,
                          "exclude_external_shared_channels": True}}
    if channel_id:
        channel["initial_conversation"] = channel_id
    day_options = [_opt(name, str(i)) for i, name in enumerate(DAY_NAMES)]
    days = {"type": "checkboxes", "action_id": "value", "options": day_options}
    chosen = [o for o in day_options if int(o["value"]) in digest.digest_days]
    if chosen:
        days["initial_options"] = chosen
    zone = digest.digest_tz if channel_id else tz
    return [
        section(f"*Team digest* — the day's recorded meetings, posted in a channel ({escape(zone)} time)."),
        {"type": "input", "block_id": "team_digest_channel", "optional": True, "label": plain("Post it in"),
         "element": channel, "hint": plain("Leave empty for none. For a private channel, invite @calbot there first.",
                                           150)},
        {"type": "input", "block_id": "team_digest_time", "label": plain("At"),
         "element": {"type": "timepicker", "action_id": "value", "initial_time": digest.digest_time}},
        {"type": "input", "block_id": "team_digest_days", "optional": True, "label": plain("On"), "element": days},
    ]


def parse_team_digest(view: dict, *, current: TeamDigest, current_channel: str | None,
                      tz: str) -> tuple[str | None, TeamDigest | None, dict]:
    """(channel or None, schedule, errors by block id) from the policy modal. A newly chosen
    schedule is in the admin's time zone (the modal says so); an unchanged one keeps its zone."""
    values = (view.get("state") or {}).get("values") or {}

    def get(block: str) -> dict:
        return (values.get(block) or {}).get("value") or {}

    channel = get("team_digest_channel").get("selected_conversation") or None
    time = get("team_digest_time").get("selected_time") or current.digest_time
    days = sorted(int(o["value"]) for o in get("team_digest_days").get("selected_options") or [])
    if channel and not days:
        return None, None, {"team_digest_days": "Pick at least one day, or leave the channel empty."}
    unchanged = bool(current_channel) and time == current.digest_time and days == sorted(current.digest_days)
    try:
        schedule = TeamDigest(digest_time=time, digest_days=days or current.digest_days,
                              digest_tz=current.digest_tz if unchanged else tz)
    except ValueError:
        return None, None, {"team_digest_time": "Pick a time."}
    return channel, schedule, {}


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


# -- API keys ------------------------------------------------------------------------------------

API_KEYS_CALLBACK = "api_keys"
REVOKE_KEY_ACTION = "api_key_revoke"
MAX_KEYS_SHOWN = 40  # a section each, with the form, within a view's 100 blocks
SCOPES = {"workspace": "The whole workspace", "me": "Only my calendars"}


def api_keys_modal(keys: list[dict], *, created: tuple[str, str] | None = None) -> dict:
    """The workspace's REST API keys (newest first) with a Revoke button each, and a form to
    create one. `created` = (name, key) right after creating: the only time a key is shown."""
    blocks: list[dict] = []
    if created is not None:
        name, key = created
        blocks += [section(f":key: *{escape(name)}* — copy it now, calbot shows a key only once:\n```{key}```"),
                   divider()]
    live = [k for k in keys if not k["revoked_at"]]
    for key in sorted(live, key=lambda k: k["id"], reverse=True)[:MAX_KEYS_SHOWN]:
        scope = f"<@{key['user_id']}>'s calendars" if key["user_id"] else "the workspace"
        used = f"last used {key['last_used_at'][:16].replace('T', ' ')} UTC" if key["last_used_at"] else "never used"
        blocks.append(section(f"*{escape(key['name'])}* `{escape(key['prefix'])}…` — {scope}\n"
                              f"created {key['created_at'][:10]} · {used}",
                              accessory=_revoke_button(key), block_id=f"key:{key['id']}"))
    if not live:
        blocks.append(section("_No API keys yet._"))
    revoked = len(keys) - len(live)
    if revoked:
        blocks.append(context(f"{revoked} revoked key(s) not shown (`calbot api-key list` shows the history)."))
    scope_options = [_opt(text, value) for value, text in SCOPES.items()]
    blocks += [
        divider(),
        section("*New key* — for scripts and the REST Calendars API (see /api/docs)."),
        {"type": "input", "block_id": "key_name", "label": plain("Name"),
         "element": {"type": "plain_text_input", "action_id": "value", "max_length": 60,
                     "placeholder": plain("e.g. ci, crm-sync")}},
        {"type": "input", "block_id": "key_scope", "label": plain("Sees"),
         "element": {"type": "static_select", "action_id": "value", "options": scope_options,
                     "initial_option": scope_options[0]}},
    ]
    return {"type": "modal", "callback_id": API_KEYS_CALLBACK, "title": plain("API keys", 24),
            "submit": plain("Create key", 24), "close": plain("Done", 24), "blocks": blocks}


def _revoke_button(key: dict) -> dict:
    revoke = button("Revoke", REVOKE_KEY_ACTION, str(key["id"]), style="danger")
    revoke["confirm"] = {"title": plain("Revoke this key?", 100),
                         "text": plain(f"Scripts using “{clip(key['name'], 60)}” stop working at once.", 300),
                         "confirm": plain("Revoke", 30), "deny": plain("Keep it", 30), "style": "danger"}
    return revoke


def parse_new_key(view: dict) -> tuple[str | None, str, dict]:
    """(name, scope, errors by block id) from the API keys modal's form."""
    values = (view.get("state") or {}).get("values") or {}
    name = (((values.get("key_name") or {}).get("value") or {}).get("value") or "").strip()
    scope = ((((values.get("key_scope") or {}).get("value") or {}).get("selected_option") or {}).get("value")
             or "workspace")
    if not name or not any(ch.isalnum() for ch in name):
        return None, scope, {"key_name": "Give the key a name with at least one letter or digit."}
    return name, scope, {}
