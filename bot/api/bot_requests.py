"""Reading a seed-style `POST /api/bots` body into what the engine needs: a joinable meeting link,
a join time, and a bot config."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.api.errors import ApiError
from bot.api.schemas import CreateBotRequest, SpeechToText
from bot.api.timeparams import parse_time
from bot.calendars.links import detect_meeting
from bot.engine.requests import soonest_join_time

PROVIDER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
OFF = {"", "none", "off", "false", "no"}
# Meeting BaaS calls its default speech-to-text provider "Default" in v1 and "gladia" in v2.
ALIASES = {"default": "gladia"}
FURTHEST_PAST = timedelta(hours=24)
FURTHEST_AHEAD = timedelta(days=366)


def speech_to_text_provider(value: str | SpeechToText | bool | None) -> str | None:
    """"Gladia" / {"provider": "Gladia"} / true → "gladia"; false / null / "none" → None."""
    if value is None or value is False:
        return None
    if value is True:
        return "gladia"
    name = value.provider if isinstance(value, SpeechToText) else value
    name = name.strip()
    if name.lower() in OFF:
        return None
    if not PROVIDER_NAME.match(name):
        raise ApiError(422, "speech_to_text: a provider name such as \"Gladia\", an object "
                            "{\"provider\": ...}, true or false")
    return ALIASES.get(name.lower(), name.lower())


def meeting_link(url: str) -> tuple[str, str]:
    """(join URL, platform) of a link a bot can join, or 422."""
    meeting = detect_meeting("api", {"location": url.strip()})
    if meeting is None:
        raise ApiError(422, "meeting_url: not a joinable online meeting link (Zoom, Google Meet, Microsoft Teams, "
                            "Webex, ...)")
    return meeting.url, meeting.platform


def requested_join_time(body: CreateBotRequest, now: datetime) -> datetime:
    """When the bot joins, as the engine takes it: the time the request gives, or for "join now"
    (no time given) the soonest time the recorder accepts — "now" itself has passed by the time
    the engine sees it."""
    return join_time(body, now) if _time_names(body) else soonest_join_time(now)


def _time_names(body: CreateBotRequest) -> list[str]:
    return [name for name in ("scheduled_time", "start_time", "join_at") if getattr(body, name)]


def join_time(body: CreateBotRequest, now: datetime) -> datetime:
    """When the bot should join: `scheduled_time`, else `start_time`, else `join_at`, else now."""
    names = _time_names(body)
    if not names:
        return now.replace(microsecond=0)
    values = {parse_time(getattr(body, name), name) for name in names}
    if len(values) > 1:
        raise ApiError(422, f"{', '.join(names)} disagree: send one join time")
    moment = values.pop().replace(microsecond=0)
    if moment < now - FURTHEST_PAST:
        raise ApiError(422, f"{names[0]}: more than a day in the past")
    if moment > now + FURTHEST_AHEAD:
        raise ApiError(422, f"{names[0]}: more than a year ahead")
    return moment


def bot_config(body: CreateBotRequest) -> dict:
    """The bot settings the request sets (BotConfig field names); the rest come from policy."""
    config: dict = {}
    if "speech_to_text" in body.model_fields_set:
        config["speech_to_text"] = speech_to_text_provider(body.speech_to_text)
    if body.bot_name and body.bot_name.strip():
        config["bot_name"] = body.bot_name.strip()
    if body.entry_message is not None:
        config["entry_message"] = body.entry_message.strip() or None
    if body.recording_mode:
        config["recording_mode"] = body.recording_mode
    return config
