"""The App Home tab: connections and their health, the next 7 days with record state and toggles,
a summary of the member's rules, and the buttons to change settings and rules. Pure.

A Home view holds at most 100 blocks; the agenda gets what the other sections leave.
"""

from __future__ import annotations

from datetime import datetime

from bot.views.agenda import pack_days, summary
from bot.views.common import (
    MAX_VIEW_BLOCKS, actions, button, clip, context, divider, escape, header, section,
)
from storage.agenda import AgendaItem
from storage.settings import MemberSettings

SETTINGS_ACTION = "home_settings"
RULES_ACTION = "home_rules"
CONNECT_ACTION = "home_connect"
RECONNECT_ACTION = "home_reconnect"
POLICY_ACTION = "home_policy"
ADMIN_HEALTH_ACTION = "home_admin_health"
API_KEYS_ACTION = "home_api_keys"
RULES_SHOWN = 5

PROVIDER_NAMES = {"google": "Google Calendar", "microsoft": "Microsoft 365"}


def connection_line(connection: dict, calendars: list[dict]) -> str:
    """"*ana@acme.com* (Google Calendar): healthy — 2 calendars watched"."""
    account = escape(connection["account"])
    name = PROVIDER_NAMES.get(connection["provider"], connection["provider"])
    status = connection["status"]
    if status == "needs_reauth":
        health = ":red_circle: needs reconnecting — calbot can no longer read this calendar"
    elif status != "active":
        health = f":white_circle: {escape(status)}"
    else:
        selected = [c for c in calendars if c.get("selected")]
        failing = [c for c in selected if c.get("failures")]
        if failing:
            names = ", ".join(escape(c.get("name") or c.get("provider_calendar_id") or "?") for c in failing[:3])
            health = f":large_yellow_circle: having trouble syncing {names} (retrying)"
        elif not selected:
            health = ":white_circle: no calendar selected — `/calbot calendars`"
        else:
            synced = [c["last_synced_at"] for c in selected if c.get("last_synced_at")]
            health = (f":large_green_circle: healthy — {len(selected)} calendar{'s' if len(selected) != 1 else ''} "
                      f"watched" + ("" if synced else ", first sync running"))
    return f"*{account}* ({name}): {health}"


def home_view(*, member: dict, settings: MemberSettings, connections: list[tuple[dict, list[dict]]],
              items: list[AgendaItem], rules: list[str], now: datetime, is_admin: bool = False) -> dict:
    tz = member.get("tz") or "UTC"
    name = (member.get("name") or "").split(" ")[0]
    blocks: list[dict] = [
        header("calbot"),
        section(f"Hi{(' ' + escape(name)) if name else ''} — here is what calbot will record for you. "
                "Change anything with the buttons; it takes effect at once."),
        actions(button("Settings", SETTINGS_ACTION, style="primary"), button("Rules", RULES_ACTION),
                block_id="home:top"),
        divider(),
        section("*Your calendars*"),
    ]
    if not connections:
        blocks.append(section("No calendar connected yet — connect one so calbot can see your meetings."))
        blocks.append(actions(button("Connect Google Calendar", f"{CONNECT_ACTION}:google", "google"),
                              button("Connect Microsoft 365", f"{CONNECT_ACTION}:microsoft", "microsoft"),
                              block_id="home:connect"))
    for connection, calendars in connections[:8]:
        line = section(connection_line(connection, calendars))
        if connection["status"] in ("needs_reauth", "error"):
            line["accessory"] = button("Reconnect", RECONNECT_ACTION, str(connection["id"]), style="danger")
        blocks.append(line)
    tail = _tail(settings, rules, is_admin)
    blocks.append(divider())
    blocks.append(section(f"*Next 7 days* · {summary(items)}" if items else "*Next 7 days*"))
    budget = MAX_VIEW_BLOCKS - len(blocks) - len(tail) - 1
    if items:
        packed = pack_days(items, tz, "home", now=now, budget=budget)
        blocks += packed.blocks
        if packed.shown < len(items):
            blocks.append(context(f"…and {len(items) - packed.shown} more — `/calbot upcoming week` lists them all."))
    else:
        blocks.append(context("Nothing in the next 7 days." if connections else
                              "Your meetings will show here once a calendar is connected."))
    blocks += tail
    return {"type": "home", "callback_id": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


def _tail(settings: MemberSettings, rules: list[str], is_admin: bool) -> list[dict]:
    blocks = [divider(), section("*Your rules* (first match wins)")]
    if rules:
        shown = [f"{i}. {escape(clip(text, 200))}" for i, text in enumerate(rules[:RULES_SHOWN], 1)]
        if len(rules) > RULES_SHOWN:
            shown.append(f"…and {len(rules) - RULES_SHOWN} more")
        blocks.append(section("\n".join(shown)))
    else:
        blocks.append(context("No rules yet: meetings you organise ask you first, others are skipped. "
                              "Add rules to record automatically."))
    hints = [f"Digest at {settings.digest_time} on {settings.describe_days()}" if settings.digest_enabled
             else "Digest off"]
    hints.append(f"notices to <#{settings.notice_channel}>" if settings.notice_channel else "notices by DM")
    if settings.bot_name:
        hints.append(f"bot name “{escape(clip(settings.bot_name, 60))}”")
    blocks.append(context(" · ".join(hints)))
    if is_admin:
        blocks.append(actions(button("Workspace policy", POLICY_ACTION), button("Members' calendars", ADMIN_HEALTH_ACTION),
                              button("API keys", API_KEYS_ACTION), block_id="home:admin"))
    return blocks
