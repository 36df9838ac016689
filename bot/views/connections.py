"""Block Kit (and the two small HTML pages) for connecting calendars. Pure builders."""

from __future__ import annotations

import html

PROVIDER_NAMES = {"google": "Google Calendar", "microsoft": "Microsoft 365"}
CHECKBOXES_PER_BLOCK = 10      # Block Kit limit for one checkboxes element
MAX_CALENDAR_BLOCKS = 40       # 400 calendars; a message holds at most 50 blocks

SELECT_ACTION = "calendars_select"
RECONNECT_ACTION = "connection_reconnect"
CONNECT_LINK_ACTION = "connection_open_link"


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _escape(text: str | None) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int = 75) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def connect_message(provider: str, url: str) -> dict:
    name = provider_name(provider)
    text = (f"Connect your {name} so calbot can see your meetings. "
            "The link works once and for 10 minutes.")
    return {
        "text": f"Connect your {name}: {url}",
        "blocks": [
            _section(text),
            {"type": "actions", "elements": [{
                "type": "button", "action_id": CONNECT_LINK_ACTION, "style": "primary",
                "text": {"type": "plain_text", "text": f"Connect {name}"}, "url": url,
            }]},
        ],
    }


def not_configured_message(provider: str, reason: str) -> dict:
    name = provider_name(provider)
    text = (f"{name} isn't set up on this calbot yet, so it can't be connected. "
            f"Ask your admin to {reason}.")
    return {"text": text, "blocks": [_section(f":warning: {text}")]}


def calendar_selection_blocks(connection: dict, calendars: list[dict]) -> list[dict]:
    """Checkboxes for each calendar of a connection (10 per block, Block Kit's limit); the block id
    names the calendars it covers, so a click updates exactly those."""
    blocks: list[dict] = []
    shown = calendars[: CHECKBOXES_PER_BLOCK * MAX_CALENDAR_BLOCKS]
    for start in range(0, len(shown), CHECKBOXES_PER_BLOCK):
        chunk = shown[start:start + CHECKBOXES_PER_BLOCK]
        options = []
        for cal in chunk:
            label = cal["name"] or cal["provider_calendar_id"]
            option = {"text": {"type": "plain_text", "text": _plain(label)}, "value": str(cal["id"])}
            if cal["is_primary"]:
                option["description"] = {"type": "plain_text", "text": "primary"}
            options.append(option)
        element = {"type": "checkboxes", "action_id": SELECT_ACTION, "options": options}
        initial = [o for o, cal in zip(options, chunk) if cal["selected"]]
        if initial:
            element["initial_options"] = initial
        block_id = f"calsel:{connection['id']}:" + ",".join(str(c["id"]) for c in chunk)
        blocks.append({"type": "actions", "block_id": block_id, "elements": [element]})
    if len(calendars) > len(shown):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                       "text": f"{len(calendars) - len(shown)} more calendars are not shown."}]})
    return blocks


def calendars_message(connection: dict, calendars: list[dict], *, intro: str | None = None) -> dict:
    account = _escape(connection["account"])
    name = provider_name(connection["provider"])
    head = intro or f"Calendars of *{account}* ({name}) that calbot watches:"
    blocks = [_section(head)]
    if calendars:
        blocks += calendar_selection_blocks(connection, calendars)
    else:
        blocks.append(_section("_This account has no calendars calbot can read._"))
    selected = [c["name"] or c["provider_calendar_id"] for c in calendars if c["selected"]]
    fallback = f"{head} " + (", ".join(selected) if selected else "none selected")
    return {"text": fallback, "blocks": blocks}


def connected_dm(connection: dict, calendars: list[dict]) -> dict:
    account = _escape(connection["account"])
    intro = (f":white_check_mark: Connected *{account}* ({provider_name(connection['provider'])}). "
             "Choose the calendars calbot should watch — your primary one is already on:")
    return calendars_message(connection, calendars, intro=intro)


def all_calendars_message(connections: list[tuple[dict, list[dict]]]) -> dict:
    if not connections:
        text = "You haven't connected a calendar yet. Try `/calbot connect google` or `/calbot connect microsoft`."
        return {"text": text, "blocks": [_section(text)]}
    blocks: list[dict] = []
    texts = []
    for connection, calendars in connections:
        message = calendars_message(connection, calendars)
        if blocks:
            blocks.append({"type": "divider"})
        blocks += message["blocks"]
        texts.append(message["text"])
    return {"text": "\n".join(texts), "blocks": blocks[:50]}


def _health(connection: dict, calendars: list[dict]) -> str:
    if connection["status"] == "needs_reauth":
        return ":red_circle: needs reconnecting — calbot can no longer read this calendar"
    if connection["status"] != "active":
        return f":white_circle: {connection['status']}"
    selected = [c for c in calendars if c["selected"]]
    failing = [c for c in selected if c.get("failures")]
    if failing:
        names = ", ".join(_escape(c["name"] or c["provider_calendar_id"]) for c in failing[:3])
        return f":large_yellow_circle: having trouble syncing {names} (retrying)"
    synced = [c["last_synced_at"] for c in selected if c.get("last_synced_at")]
    when = f", last synced {max(synced)}" if synced else ""
    return f":large_green_circle: healthy — {len(selected)} calendar{'s' if len(selected) != 1 else ''} watched{when}"


def status_message(connections: list[tuple[dict, list[dict], str | None]]) -> dict:
    """One section per connection with its health; broken ones get a reconnect button (a fresh,
    single-use link made for this message)."""
    if not connections:
        text = "No calendars connected. Try `/calbot connect google` or `/calbot connect microsoft`."
        return {"text": text, "blocks": [_section(text)]}
    blocks = [_section("*Your calendar connections*")]
    lines = []
    for connection, calendars, reconnect_url in connections:
        line = f"*{_escape(connection['account'])}* ({provider_name(connection['provider'])}): {_health(connection, calendars)}"
        lines.append(line)
        section = _section(line)
        if reconnect_url:
            section["accessory"] = {"type": "button", "action_id": CONNECT_LINK_ACTION, "style": "danger",
                                    "text": {"type": "plain_text", "text": "Reconnect"}, "url": reconnect_url}
        blocks.append(section)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                   "text": "`/calbot calendars` to choose calendars · `/calbot disconnect <account>` to remove one"}]})
    return {"text": "\n".join(lines), "blocks": blocks}


def reauth_dm(connection: dict) -> dict:
    account = _escape(connection["account"])
    name = provider_name(connection["provider"])
    text = (f":warning: calbot lost access to *{account}* ({name}) — the permission was revoked or expired. "
            "Until you reconnect, its meetings won't be synced or recorded.")
    return {
        "text": f"calbot lost access to {connection['account']} ({name}). Reconnect to keep recording its meetings.",
        "blocks": [
            _section(text),
            {"type": "actions", "elements": [{
                "type": "button", "action_id": RECONNECT_ACTION, "style": "primary",
                "value": str(connection["id"]), "text": {"type": "plain_text", "text": f"Reconnect {name}"},
            }]},
        ],
    }


def oauth_problem_dm(provider: str, problem: str) -> dict:
    name = provider_name(provider)
    text = f"Connecting {name} didn't work: {problem} Try `/calbot connect {provider}` again."
    return {"text": text, "blocks": [_section(f":warning: {text}")]}


def reused_link_dm(provider: str, connected_accounts: list[str]) -> dict:
    """A replayed callback link: it is spent, and whether the member is connected (the first use
    may have worked — a reload — or may still be finishing)."""
    name = provider_name(provider)
    text = f"That {name} connect link was already used — each link works once."
    if connected_accounts:
        names = ", ".join(f"*{_escape(a)}*" for a in connected_accounts)
        text += f" {name} is connected as {names}; nothing more to do."
    else:
        text += (f" If you don't get a message from me saying {name} is connected, type "
                 f"`/calbot connect {provider}` for a new link.")
    return {"text": text, "blocks": [_section(text)]}


def disconnected_message(accounts: list[str], events_removed: int) -> dict:
    names = ", ".join(f"*{_escape(a)}*" for a in accounts)
    text = (f"Disconnected {names}. Its tokens are deleted, calbot stopped watching it, "
            f"and bots for its upcoming meetings are being cancelled ({events_removed} events removed).")
    return {"text": text, "blocks": [_section(text)]}


# -- the pages the browser lands on after the OAuth dance ---------------------------------------

def _page(title: str, body_html: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;"
        "line-height:1.5;color:#1d1c1d}a.button{display:inline-block;background:#4a154b;color:#fff;"
        "padding:.6rem 1rem;border-radius:.3rem;text-decoration:none}</style></head>"
        f"<body>{body_html}</body></html>"
    )


def slack_link(team_id: str | None) -> str:
    return f"slack://open?team={team_id}" if team_id else "slack://open"


def connected_page(account: str, provider: str, team_id: str | None) -> str:
    return _page(
        "Connected — calbot",
        f"<h1>Connected as {html.escape(account)} — back to Slack</h1>"
        f"<p>calbot can now see your {html.escape(provider_name(provider))} meetings. "
        "Choose which calendars it watches in the message it just sent you.</p>"
        f"<p><a class=\"button\" href=\"{html.escape(slack_link(team_id))}\">Open Slack</a></p>",
    )


def problem_page(headline: str, explanation: str, team_id: str | None = None) -> str:
    return _page(
        f"{headline} — calbot",
        f"<h1>{html.escape(headline)}</h1><p>{html.escape(explanation)}</p>"
        f"<p><a class=\"button\" href=\"{html.escape(slack_link(team_id))}\">Back to Slack</a></p>",
    )
