"""A member's personal settings and a workspace's Slack-side settings, as typed models.

Member settings live in `members.settings` (JSON). They are read with defaults filled in and
written as a JSON *patch*, so keys other parts of calbot keep there survive a settings save:

  digest_enabled   the daily digest DM on or off                         default on
  digest_time      local time of the daily digest, "HH:MM"                default "08:30"
  digest_days      weekdays it is sent, 0 = Monday                        default Mon–Fri
  notice_channel   channel id that gets the notices for my meetings      (read by bot/engine/notices.py)
  bot_name         my bot's name in meetings                             default: workspace policy
  entry_message    what my bot says when it joins                        default: workspace policy
  default_action   record / ask / skip when no rule matches               default: workspace policy

The workspace's team digest (`workspaces.digest_channel`) is posted at `digest_time` in
`digest_tz` kept in the workspace policy JSON under `team_digest`.
"""

from __future__ import annotations

import json
import re
from typing import Literal

import sqlite_utils
from pydantic import BaseModel, Field, field_validator

DEFAULT_DIGEST_TIME = "08:30"
WEEKDAYS = (0, 1, 2, 3, 4)
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BOT_NAME_MAX = 100
ENTRY_MESSAGE_MAX = 500
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def check_time(value: str) -> str:
    if not _TIME.match(value or ""):
        raise ValueError("a time like 08:30")
    return value


class MemberSettings(BaseModel):
    digest_enabled: bool = True
    digest_time: str = DEFAULT_DIGEST_TIME
    digest_days: list[int] = Field(default_factory=lambda: list(WEEKDAYS))
    notice_channel: str | None = None
    bot_name: str | None = None
    entry_message: str | None = None
    default_action: Literal["record", "ask", "skip"] | None = None

    @field_validator("digest_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        return check_time(value)

    @field_validator("digest_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        return sorted({int(d) for d in value if 0 <= int(d) <= 6})

    @property
    def digest_minutes(self) -> int:
        hours, minutes = self.digest_time.split(":")
        return int(hours) * 60 + int(minutes)

    def describe_days(self) -> str:
        days = self.digest_days
        if days == list(WEEKDAYS):
            return "weekdays"
        if days == list(range(7)):
            return "every day"
        if not days:
            return "never"
        return ", ".join(DAY_NAMES[d] for d in days)


def parse_member_settings(raw: str | dict | None) -> MemberSettings:
    """Settings with defaults filled in; a value that no longer validates falls back to its default."""
    data = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    known = {k: v for k, v in data.items() if k in MemberSettings.model_fields}
    try:
        return MemberSettings(**known)
    except ValueError:
        good = {}
        for key, value in known.items():
            try:
                MemberSettings(**{key: value})
                good[key] = value
            except ValueError:
                continue
        return MemberSettings(**good)


def member_settings(db: sqlite_utils.Database, member_id: int) -> MemberSettings:
    row = db.execute("SELECT settings FROM members WHERE id = ?", [member_id]).fetchone()
    return parse_member_settings(row[0] if row else None)


def update_member_settings(db: sqlite_utils.Database, member_id: int, **changes) -> MemberSettings:
    """Set (or, with None, remove) some settings; other keys in the JSON are left alone."""
    current = member_settings(db, member_id)
    merged = MemberSettings(**{**current.model_dump(), **changes})  # validates
    patch = {key: (getattr(merged, key) if changes[key] is not None else None) for key in changes}
    db.execute("UPDATE members SET settings = json_patch(COALESCE(settings, '{}'), ?) WHERE id = ?",
               [json.dumps(patch), member_id])
    return member_settings(db, member_id)


# -- workspace ----------------------------------------------------------------------------------

class TeamDigest(BaseModel):
    digest_time: str = DEFAULT_DIGEST_TIME
    digest_tz: str = "UTC"
    digest_days: list[int] = Field(default_factory=lambda: list(WEEKDAYS))

    @field_validator("digest_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        return check_time(value)


def workspace_policy(db: sqlite_utils.Database, team_id: str) -> dict:
    row = db.execute("SELECT policy FROM workspaces WHERE team_id = ?", [team_id]).fetchone()
    return json.loads(row[0] or "{}") if row else {}


def update_workspace_policy(db: sqlite_utils.Database, team_id: str, patch: dict) -> dict:
    """Merge `patch` into the workspace policy JSON (None removes a key)."""
    db.execute("UPDATE workspaces SET policy = json_patch(COALESCE(policy, '{}'), ?) WHERE team_id = ?",
               [json.dumps(patch), team_id])
    return workspace_policy(db, team_id)


def team_digest(db: sqlite_utils.Database, team_id: str) -> tuple[str | None, TeamDigest]:
    """(digest channel or None, when it is posted)."""
    row = db.execute("SELECT digest_channel, policy FROM workspaces WHERE team_id = ?", [team_id]).fetchone()
    if row is None:
        return None, TeamDigest()
    raw = (json.loads(row[1] or "{}") or {}).get("team_digest") or {}
    try:
        schedule = TeamDigest(**raw)
    except ValueError:
        schedule = TeamDigest()
    return row[0], schedule


def set_team_digest(db: sqlite_utils.Database, team_id: str, channel: str | None, schedule: TeamDigest) -> None:
    db.execute("UPDATE workspaces SET digest_channel = ? WHERE team_id = ?", [channel, team_id])
    update_workspace_policy(db, team_id, {"team_digest": schedule.model_dump()})
