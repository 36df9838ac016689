"""Meetings from Slack: `/calbot upcoming|record|skip`, the Record / Skip / Bot options buttons
wherever a meeting is shown (upcoming lists, digests, the Home tab), "Show more", and the
per-meeting bot options modal."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date, timedelta

from bot.context import AppContext
from bot.engine.digests import compose as compose_digests, Due
from bot.engine.home import mark_member_dirty, publish_home
from bot.errors import UserError
from bot.meeting_ref import Candidate, MeetingRefError, resolve
from bot.views.agenda import (
    OPTIONS_ACTION, RECORD_ACTION, SKIP_ACTION, meeting_blocks, parse_button_value,
)
from bot.views.common import escape, message, platform_name, section, short_when
from bot.views.digest import digest_message
from bot.views.meeting_options import OPTIONS_CALLBACK, meeting_options_modal, parse_options_submission
from bot.views.upcoming import MORE_ACTION, parse_more_value, range_window, upcoming_message
from handlers.slack.commands import CommandRequest, subcommand
from handlers.slack.support import Problem, acting_member, decide, friendly, response_sender
from storage import connections as conn_store
from storage.agenda import AgendaItem, agenda_item, member_agenda
from storage.members import get_member
from storage.settings import parse_member_settings

log = logging.getLogger("calbot.slack.meetings")

REF_HORIZON = timedelta(days=30)   # `record <words>` looks this far ahead (the sync window)
PLAN_WAIT_SECONDS = 1.5            # how long a click waits for the planner before redrawing anyway


# -- reading ----------------------------------------------------------------------------------------

def upcoming_items(ctx: AppContext, member: dict, range_name: str) -> list[AgendaItem]:
    now = ctx.clock.now()
    start, end = range_window(range_name, now, member.get("tz") or "UTC")
    return member_agenda(ctx.db, member["id"], start, end)


def render_upcoming(ctx: AppContext, member: dict, range_name: str, page: int = 0, *, remember: bool = True,
                    more_button: bool = True) -> dict:
    items = upcoming_items(ctx, member, range_name)
    if remember:
        ctx.db.execute("UPDATE members SET last_listing = ? WHERE id = ?",
                       [json.dumps([i.event_id for i in items]), member["id"]])
    connected = bool(conn_store.member_connections(ctx.db, member["id"]))
    return upcoming_message(items, tz=member.get("tz") or "UTC", now=ctx.clock.now(), range_name=range_name,
                            page=page, connected=connected, more_button=more_button)


def find_meeting(ctx: AppContext, member: dict, ref: str) -> tuple[AgendaItem, str]:
    """The member's meeting `ref` names, and how it was found; UserError with the reason if none."""
    now = ctx.clock.now()
    tz = member.get("tz") or "UTC"
    items = member_agenda(ctx.db, member["id"], now, now + REF_HORIZON)
    listing = json.loads(member.get("last_listing") or "[]")
    listed = set(listing)
    # the numbers of the last list keep working for meetings beyond the horizon
    extra = [i for i in (agenda_item(ctx.db, member["id"], e) for e in listed - {i.event_id for i in items})
             if i is not None and i.end_at > now]
    candidates = [Candidate(i.event_id, i.title, i.start_at, i.recordable) for i in items + extra]
    try:
        resolved = resolve(ref, candidates, listing, now,
                           describe=lambda c: f"{c.title} ({short_when(c.start_at, tz, now)})")
    except MeetingRefError as exc:
        raise UserError(str(exc)) from None
    by_id = {i.event_id: i for i in items + extra}
    return by_id[resolved.candidate.event_id], resolved.how


def describe(item: AgendaItem, tz: str, now) -> str:
    where = f", {platform_name(item.platform)}" if item.meeting_url else ""
    return f"*{escape(item.title)}* ({short_when(item.start_at, tz, now)}{where})"


def decision_message(ctx: AppContext, member: dict, item: AgendaItem, action: str, how: str = "") -> dict:
    tz = member.get("tz") or "UTC"
    now = ctx.clock.now()
    fresh = agenda_item(ctx.db, member["id"], item.event_id) or item
    what = describe(fresh, tz, now)
    soonest = " (the next one of that name)" if how == "soonest" else ""
    if action == "record":
        text = f":white_check_mark: OK — {what}{soonest} will be recorded. The bot joins when it starts."
    else:
        text = f":white_check_mark: OK — {what}{soonest} won't be recorded."
    blocks = [section(text)] + meeting_blocks(fresh, tz, "one", now=now)[1:]
    return message(text.replace("*", ""), blocks)


async def replanned(ctx: AppContext, event_id: int, timeout: float = PLAN_WAIT_SECONDS) -> None:
    """Let the planner take in a choice just made before showing the meeting again.

    A choice is only a recorded fact until the planner has turned it into the meeting's state
    (bot/engine/requests.py); a list, digest or Home redrawn before that shows the old state —
    the member clicks Skip and still reads "Will be recorded". Planner steps are synchronous and
    idempotent, so running them here (as the planner loop would, once poked) is safe; bounded, so
    a long planner queue (a sweep) only delays the redraw, and then it shows what is known.
    """
    if "planner" not in ctx.engine.loops:
        return
    deadline = time.monotonic() + timeout
    while ctx.db.execute("SELECT 1 FROM plan_queue WHERE kind = 'event' AND ref = ?", [str(event_id)]).fetchone():
        if time.monotonic() >= deadline:
            log.info("redrawing before the planner took in event %s's choice", event_id)
            return
        await ctx.engine.run_once("planner")
        await asyncio.sleep(0)  # a step never awaits: let Slack's requests in between, as the loop does


# -- commands ----------------------------------------------------------------------------------------

@subcommand("upcoming")
async def upcoming_command(request: CommandRequest) -> dict:
    member = await ensure_fresh(request)
    return render_upcoming(request.ctx, member, request.command.arg)


@subcommand("record")
async def record_command(request: CommandRequest) -> dict:
    return await decide_by_ref(request, "record")


@subcommand("skip")
async def skip_command(request: CommandRequest) -> dict:
    return await decide_by_ref(request, "skip")


async def ensure_fresh(request: CommandRequest) -> dict:
    from bot.engine.profiles import ensure_profile

    return await ensure_profile(request.ctx, request.client, request.member)


async def decide_by_ref(request: CommandRequest, action: str) -> dict:
    ctx = request.ctx
    member = await ensure_fresh(request)
    item, how = find_meeting(ctx, member, request.command.arg)
    if not item.recordable:
        tz = member.get("tz") or "UTC"
        if action == "skip":
            return {"text": f"{describe(item, tz, ctx.clock.now())} won't be recorded anyway: {item.blocker}."}
        raise Problem(f"{describe(item, tz, ctx.clock.now())} can't be recorded: {item.blocker}.")
    await decide(ctx, member=member, event_id=item.event_id, action=action, actor=request.user_id)
    await replanned(ctx, item.event_id)
    return decision_message(ctx, member, item, action, how)


# -- buttons and the options modal ---------------------------------------------------------------------

async def redraw(ctx: AppContext, client, respond, member: dict, where: str, item: AgendaItem | None,
                 action: str | None) -> None:
    """Show the change where the button was: the same upcoming page, digest, Home or reply."""
    member = get_member(ctx.db, member["id"]) or member
    kind, _, rest = where.partition(":")
    if kind == "up":
        range_name, _, page = rest.partition(":")
        range_name = "" if range_name == "-" else range_name
        await respond(replace_original=True, **render_upcoming(ctx, member, range_name, int(page or 0),
                                                               remember=False))
    elif kind == "digest":
        await respond(replace_original=True, **digest_for(ctx, member, date.fromisoformat(rest)))
    elif kind == "home":
        await publish_home(ctx, client, member)
    elif item is not None and action is not None:
        await respond(replace_original=True, **decision_message(ctx, member, item, action))


def digest_for(ctx: AppContext, member: dict, day: date) -> dict:
    tz = member.get("tz") or "UTC"
    settings = parse_member_settings(member.get("settings"))
    due = Due(member["id"], member["team_id"], member["user_id"], member.get("name"), tz, day, settings)
    ((_, payload),) = compose_digests(ctx, [due], ctx.clock.now())
    return payload or digest_message([], tz=tz, now=ctx.clock.now(), day=day, name=member.get("name"),
                                     settings=settings)


def register(app, ctx: AppContext) -> None:
    async def on_choice(action_name: str, body: dict, action: dict, client, respond) -> None:
        parsed = parse_button_value(action.get("value"))
        if parsed is None:
            return
        event_id, where = parsed
        member = await acting_member(ctx, client, body)
        item = agenda_item(ctx.db, member["id"], event_id)
        if item is None:
            raise UserError("That meeting is no longer on your calendar.")
        if not item.recordable:
            raise UserError(f"*{escape(item.title)}* can't be recorded: {item.blocker}.")
        await decide(ctx, member=member, event_id=event_id, action=action_name, actor=member["user_id"])
        await replanned(ctx, event_id)
        mark_member_dirty(ctx, member["id"])
        await redraw(ctx, client, respond, member, where, item, action_name)

    @app.action(RECORD_ACTION)
    @friendly("record button")
    async def record_clicked(ack, body, action, client, respond):
        await ack()
        await on_choice("record", body, action, client, respond)

    @app.action(SKIP_ACTION)
    @friendly("skip button")
    async def skip_clicked(ack, body, action, client, respond):
        await ack()
        await on_choice("skip", body, action, client, respond)

    @app.action(MORE_ACTION)
    @friendly("show more")
    async def more_clicked(ack, body, action, client, respond):
        await ack()
        member = await acting_member(ctx, client, body)
        range_name, page = parse_more_value(action.get("value"))
        # the page with the button loses it; the next page comes as a new message below
        await respond(replace_original=True, **render_upcoming(ctx, member, range_name, max(0, page - 1),
                                                               remember=False, more_button=False))
        await respond(replace_original=False, response_type="ephemeral",
                      **render_upcoming(ctx, member, range_name, page))

    @app.action(OPTIONS_ACTION)
    @friendly("bot options")
    async def options_clicked(ack, body, action, client, respond):
        await ack()
        parsed = parse_button_value(action.get("value"))
        if parsed is None:
            return
        event_id, where = parsed
        member = await acting_member(ctx, client, body)
        item = agenda_item(ctx.db, member["id"], event_id)
        if item is None:
            raise UserError("That meeting is no longer on your calendar.")
        settings = parse_member_settings(member.get("settings"))
        metadata = json.dumps({"e": event_id, "w": where, "r": body.get("response_url") or ""})
        await client.views_open(trigger_id=body["trigger_id"], view=meeting_options_modal(
            item, tz=member.get("tz") or "UTC", now=ctx.clock.now(), defaults=settings, metadata=metadata))

    @app.view(OPTIONS_CALLBACK)
    async def options_submitted(ack, body, view, client):
        parsed, errors = parse_options_submission(view)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await save_options(body=body, view=view, client=client, bot_config=parsed)

    # After the ack nothing may escape: Bolt's runner would lose the ack it already sent.
    @friendly("bot options form")
    async def save_options(body, view, client, bot_config):
        member = await acting_member(ctx, client, body)
        meta = json.loads(view.get("private_metadata") or "{}")
        event_id = int(meta["e"])
        item = agenda_item(ctx.db, member["id"], event_id)
        if item is None or not item.recordable:
            raise UserError("That meeting can't be recorded any more.")
        await decide(ctx, member=member, event_id=event_id, action="record", actor=member["user_id"],
                     bot_config=bot_config)
        await replanned(ctx, event_id)
        mark_member_dirty(ctx, member["id"])
        await redraw(ctx, client, response_sender(ctx, meta.get("r")), member, meta.get("w") or "",
                     item, "record")
