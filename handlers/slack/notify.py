"""`/calbot notify #channel` (and `notify off`): where the notices for my recorded meetings go.

The channel is checked with conversations.info before it is saved: it must exist, be visible to
calbot (a private channel needs calbot invited), not be archived, and not be a DM. Public
channels work without inviting calbot (chat:write.public). The channel gets one short line
saying why calbot will post there — once per member and channel (outbox key).
"""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError

from bot.context import AppContext
from bot.errors import UserError
from bot.slash import parse_channel
from bot.views.common import escape
from handlers.slack.commands import CommandRequest, subcommand
from handlers.slack.support import Problem
from storage import outbox
from storage.settings import member_settings, update_member_settings

log = logging.getLogger("calbot.slack.notify")

OFF_WORDS = {"off", "none", "stop", "dm", "nowhere"}
CHECK_TIMEOUT = 2.0


class ChannelProblem(Problem):
    pass


async def check_channel(client, channel_id: str, label: str | None = None) -> dict:
    """The channel's info if calbot can post notices there; ChannelProblem saying why not."""
    shown = f"<#{channel_id}>" if label is None else f"#{escape(label)}"
    invite = "If it's a private channel, invite calbot first — type `/invite @calbot` there — then try again."
    try:
        response = await asyncio.wait_for(client.conversations_info(channel=channel_id), CHECK_TIMEOUT)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in ("channel_not_found", "not_in_channel"):
            raise ChannelProblem(f"calbot can't see {shown}. {invite}") from None
        if error == "missing_scope":
            raise ChannelProblem(f"calbot isn't allowed to look at {shown} (missing permission); "
                                 "ask your admin to reinstall calbot.") from None
        raise
    channel = response["channel"]
    if channel.get("is_im") or channel.get("is_mpim"):
        raise ChannelProblem("Pick a channel, not a direct message.")
    if channel.get("is_archived"):
        raise ChannelProblem(f"#{escape(channel.get('name') or channel_id)} is archived.")
    if channel.get("is_private") and not channel.get("is_member"):
        raise ChannelProblem(f"calbot isn't in #{escape(channel.get('name') or channel_id)}. {invite}")
    return channel


async def channel_error(client, channel_id: str) -> str | None:
    """Why calbot can't post in this channel, as a modal field's error; None when it can — or when
    Slack can't say right now: the choice is kept and the notifier reports trouble later."""
    try:
        await check_channel(client, channel_id)
    except ChannelProblem as exc:
        return str(exc).replace("`", "")[:150]
    except Exception as exc:
        log.info("could not check channel %s: %s", channel_id, exc)
    return None


async def find_channel_id(client, name: str) -> str | None:
    """A public channel's id by name (for a `#name` that Slack did not escape)."""
    cursor = None
    for _ in range(10):
        response = await client.conversations_list(types="public_channel", exclude_archived=True, limit=1000,
                                                   cursor=cursor)
        for channel in response.get("channels") or []:
            if channel.get("name") == name:
                return channel["id"]
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def intro_notice(ctx: AppContext, member: dict, channel_id: str) -> None:
    """One line in the channel saying why calbot will post there (once per member and channel)."""
    who = f"<@{member['user_id']}>"
    text = (f"calbot will post notices here about {who}'s recorded meetings — bot scheduled, moved, recording "
            f"ready. (Set with `/calbot notify`; `/calbot notify off` stops it.)")
    outbox.post_message(ctx.db, key=f"notify-intro:{channel_id}:{member['id']}", team_id=member["team_id"],
                        kind="slack.post", target=channel_id, payload={"text": text}, clock=ctx.clock)
    ctx.engine.poke("notifier")


@subcommand("notify")
async def notify_command(request: CommandRequest) -> dict:
    ctx, member = request.ctx, request.member
    arg = request.command.arg.strip()
    if arg.lower() in OFF_WORDS:
        previous = member_settings(ctx.db, member["id"]).notice_channel
        update_member_settings(ctx.db, member["id"], notice_channel=None)
        _changed(ctx, member)
        if previous:
            return {"text": f"Done — notices for your meetings no longer go to <#{previous}>."}
        return {"text": "Notices for your meetings weren't going to a channel; nothing to change."}
    ref = parse_channel(arg)
    if ref is None:
        raise UserError(f"`{escape(arg[:60])}` isn't a channel. Type `/calbot notify #` and pick one from the list, "
                        "or `/calbot notify off`.")
    channel_id = ref.id or await find_channel_id(request.client, ref.name or "")
    if channel_id is None:
        raise Problem(f"calbot can't find #{escape(ref.name or '')}. If it's a private channel, invite calbot "
                        "first — type `/invite @calbot` there — then try again.")
    channel = await check_channel(request.client, channel_id, ref.name)
    update_member_settings(ctx.db, member["id"], notice_channel=channel_id)
    _changed(ctx, member)
    intro_notice(ctx, member, channel_id)
    return {"text": f"Done — notices for your recorded meetings will go to <#{channel_id}>"
                    f"{'' if channel.get('is_member') else ' (calbot posts there without joining)'}. "
                    "`/calbot notify off` stops them."}


def _changed(ctx: AppContext, member: dict) -> None:
    from bot.engine.home import mark_member_dirty

    mark_member_dirty(ctx, member["id"])
