"""The `/calbot` grammar (PRODUCT.md): text in, a parsed command or a specific error out. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

# name -> (argument pattern for the help, whether an argument is required, allowed values or None)
GRAMMAR: dict[str, tuple[str, bool, tuple[str, ...] | None]] = {
    "help": ("", False, None),
    "connect": ("google|microsoft", True, ("google", "microsoft")),
    "calendars": ("", False, None),
    "upcoming": ("[today|tomorrow|week]", False, ("today", "tomorrow", "week")),
    "record": ("<meeting>", True, None),
    "skip": ("<meeting>", True, None),
    "rules": ("", False, None),
    "settings": ("", False, None),
    "digest": ("", False, None),
    "notify": ("#channel", True, None),
    "status": ("", False, None),
    "disconnect": ("<account>", True, None),
}

DESCRIPTIONS: dict[str, str] = {
    "help": "show this list",
    "connect": "connect a Google or Microsoft 365 calendar",
    "calendars": "choose which of your calendars calbot watches",
    "upcoming": "your meetings and which will be recorded",
    "record": "record a meeting — a number from `upcoming`, `next`, or words from its title",
    "skip": "don't record a meeting",
    "rules": "your recording rules",
    "settings": "digest time, notice channel, bot name and defaults",
    "digest": "post today's digest to you now",
    "notify": "send the notices for your recorded meetings to a channel (`off` to stop)",
    "status": "your connections and whether they are healthy",
    "disconnect": "disconnect a calendar account (its email)",
}

_CHANNEL_MENTION = re.compile(r"^<#(?P<id>[CG][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>$")


@dataclass(frozen=True)
class SlashCommand:
    name: str
    arg: str = ""


class SlashError(Exception):
    """Input that doesn't fit the grammar; the message says specifically what is wrong."""


def parse_slash(text: str | None) -> SlashCommand:
    words = (text or "").strip().split(None, 1)
    if not words:
        return SlashCommand("help")
    name = words[0].lower()
    arg = words[1].strip() if len(words) > 1 else ""
    if name in ("?", "-h", "--help"):
        name = "help"
    if name not in GRAMMAR:
        raise SlashError(f"I don't know `{_clip(words[0])}`.")
    pattern, required, allowed = GRAMMAR[name]
    if required and not arg:
        raise SlashError(f"`/calbot {name}` needs {pattern}.")
    if allowed is not None and arg:
        if arg.lower() not in allowed:
            raise SlashError(f"`/calbot {name}` takes {pattern}, not `{_clip(arg)}`.")
        arg = arg.lower()
    if not GRAMMAR[name][0] and arg and name != "help":
        raise SlashError(f"`/calbot {name}` takes nothing after it.")
    return SlashCommand(name, arg)


@dataclass(frozen=True)
class ChannelRef:
    id: str | None      # known when Slack escaped the mention (<#C123|name>)
    name: str | None


def parse_channel(arg: str) -> ChannelRef | None:
    """`<#C123|sales>` (Slack-escaped) or `#sales`; None when it is neither."""
    arg = arg.strip()
    match = _CHANNEL_MENTION.match(arg)
    if match:
        return ChannelRef(match["id"], match["name"] or None)
    if arg.startswith("#") and re.fullmatch(r"#[a-z0-9][a-z0-9._-]{0,79}", arg):
        return ChannelRef(None, arg[1:])
    return None


def _clip(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
