"""Members' Slack profiles: time zone, name, email, admin — kept fresh from `users.info`.

The time zone decides when a member's digest goes out and how their days are grouped, so it is
read on first contact (a handler calls `ensure_profile` before answering) and refreshed daily by
the "profiles" loop (people travel; DST needs no refresh — zones are IANA names). A deactivated
Slack account stops getting digests (`profile.deleted` in settings).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from bot.context import AppContext
from bot.timeutil import to_iso, zone
from storage.members import get_member

log = logging.getLogger("calbot.profiles")

REFRESH_EVERY = timedelta(hours=24)
RETRY_AFTER_FAILURE = timedelta(hours=1)
BATCH = 20                 # users.info is Tier 4 (100+/min): a batch per step, paced below
PACE_SECONDS = 0.3
FIRST_CONTACT_TIMEOUT = 1.5


def apply_profile(ctx: AppContext, member_id: int, user: dict) -> dict:
    """Store what users.info said. Returns the fields written."""
    profile = user.get("profile") or {}
    tz = user.get("tz") or "UTC"
    if zone(tz).key != tz:  # an unknown zone name: keep UTC rather than guess
        tz = "UTC"
    fields = {
        "tz": tz,
        "name": profile.get("real_name") or user.get("real_name") or user.get("name"),
        "email": profile.get("email"),
        "is_admin": int(bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))),
    }
    ctx.db.execute(
        "UPDATE members SET tz = ?, name = COALESCE(?, name), email = COALESCE(?, email), is_admin = ?, "
        "profile_synced_at = ?, settings = json_set(COALESCE(settings, '{}'), '$.slack_deleted', json(?)) "
        "WHERE id = ?",
        [fields["tz"], fields["name"], fields["email"], fields["is_admin"], ctx.clock.now_iso(),
         json.dumps(bool(user.get("deleted"))), member_id])
    return fields


async def refresh_profile(ctx: AppContext, client, member: dict, *, timeout: float | None = None) -> bool:
    """users.info for one member; True when stored. Failures are logged and leave the row as is."""
    try:
        call = client.users_info(user=member["user_id"])
        response = await (asyncio.wait_for(call, timeout) if timeout else call)
    except (SlackApiError, asyncio.TimeoutError, OSError) as exc:
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        log.info("users.info for %s failed: %s", member["user_id"], error,
                 extra={"team_id": member["team_id"], "user_id": member["user_id"]})
        if error == "user_not_found":
            ctx.db.execute("UPDATE members SET profile_synced_at = ?, "
                           "settings = json_set(COALESCE(settings, '{}'), '$.slack_deleted', json('true')) "
                           "WHERE id = ?", [ctx.clock.now_iso(), member["id"]])
        return False
    apply_profile(ctx, member["id"], response["user"])
    return True


async def ensure_profile(ctx: AppContext, client, member: dict) -> dict:
    """On first contact, read the profile before answering (so times are in the member's zone)."""
    if member.get("profile_synced_at") or client is None:
        return member
    await refresh_profile(ctx, client, member, timeout=FIRST_CONTACT_TIMEOUT)
    ctx.engine.poke("home")
    return get_member(ctx.db, member["id"]) or member


class ProfileRefresher:
    """Loop "profiles": members never read, or read more than a day ago, a small batch per step."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def step(self) -> bool:
        ctx = self.ctx
        if ctx.slack is None:
            return False
        stale = to_iso(ctx.clock.now() - REFRESH_EVERY)
        members = list(ctx.db.query(
            "SELECT m.* FROM members m JOIN workspaces w ON w.team_id = m.team_id "
            "WHERE w.uninstalled_at IS NULL AND (m.profile_synced_at IS NULL OR m.profile_synced_at < ?) "
            "ORDER BY m.profile_synced_at IS NOT NULL, m.profile_synced_at LIMIT ?", [stale, BATCH]))
        if not members:
            return False
        for index, member in enumerate(members):
            client = await ctx.slack.client_for(member["team_id"])
            if client is None:
                # not installed there (any more): try again tomorrow rather than every step
                ctx.db.execute("UPDATE members SET profile_synced_at = ? WHERE id = ?",
                               [ctx.clock.now_iso(), member["id"]])
                continue
            if not await refresh_profile(ctx, client, member):
                # a transient failure: try again in about an hour, not at every step
                retry = to_iso(ctx.clock.now() - REFRESH_EVERY + RETRY_AFTER_FAILURE)
                ctx.db.execute("UPDATE members SET profile_synced_at = ? WHERE id = ? AND profile_synced_at IS ?",
                               [retry, member["id"], member["profile_synced_at"]])
            if index + 1 < len(members):
                await asyncio.sleep(PACE_SECONDS)
        return len(members) == BATCH
