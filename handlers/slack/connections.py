"""Connecting calendars from Slack: `/calbot connect|calendars|status|disconnect`, the calendar
checkboxes, and the reconnect button of the "calbot lost access" DM."""

from __future__ import annotations

import logging

from bot.context import AppContext
from bot.engine.connections import disconnect, refresh_calendar_list, select_calendars
from bot.errors import UserError, report_failure
from bot.views.connections import (
    CONNECT_LINK_ACTION,
    RECONNECT_ACTION,
    SELECT_ACTION,
    all_calendars_message,
    connect_message,
    disconnected_message,
    not_configured_message,
)
from bot.views.connections import status_message as build_status_message
from handlers.oauth.calendar import new_connect_url
from handlers.slack.commands import CommandRequest, subcommand
from storage import calendars as cal_store
from storage import connections as conn_store
from storage.members import ensure_member

log = logging.getLogger("calbot.slack.connections")


def connect_reply(ctx: AppContext, *, team_id: str, user_id: str, provider: str) -> dict:
    if provider not in ctx.providers:
        integration = next((i for i in ctx.settings.integrations() if i.name == provider), None)
        reason = integration.reason_off if integration and integration.reason_off else "configure it"
        return not_configured_message(provider, reason)
    return connect_message(provider, new_connect_url(ctx, team_id=team_id, user_id=user_id, provider=provider))


@subcommand("connect")
async def connect_command(request: CommandRequest) -> dict:
    return connect_reply(request.ctx, team_id=request.team_id, user_id=request.user_id, provider=request.command.arg)


@subcommand("calendars")
async def calendars_command(request: CommandRequest) -> dict:
    ctx = request.ctx
    pairs = []
    for connection in conn_store.member_connections(ctx.db, request.member["id"]):
        pairs.append((connection, await refresh_calendar_list(ctx, connection["id"])))
    return all_calendars_message(pairs)


@subcommand("status")
async def status_command(request: CommandRequest) -> dict:
    ctx = request.ctx
    rows = []
    for connection in conn_store.member_connections(ctx.db, request.member["id"]):
        reconnect = None
        if connection["status"] != "active" and connection["provider"] in ctx.providers:
            reconnect = new_connect_url(ctx, team_id=request.team_id, user_id=request.user_id,
                                        provider=connection["provider"])
        rows.append((connection, cal_store.connection_calendars(ctx.db, connection["id"]), reconnect))
    return build_status_message(rows)


@subcommand("disconnect")
async def disconnect_command(request: CommandRequest) -> dict:
    ctx = request.ctx
    matches = conn_store.find_member_connections(ctx.db, request.member["id"], request.command.arg)
    if not matches:
        accounts = [f"`{c['account']}`" for c in conn_store.member_connections(ctx.db, request.member["id"])]
        known = f" Your accounts: {', '.join(accounts)}." if accounts else " You have no connected calendars."
        raise UserError(f"No connected calendar account `{request.command.arg[:80]}`.{known}")
    if len(matches) > 1:
        options = ", ".join(f"`{c['provider']}:{c['account']}`" for c in matches)
        raise UserError(f"`{request.command.arg[:80]}` is connected more than once; say which: {options}.")
    removed = await disconnect(ctx, matches[0]["id"])
    return disconnected_message([matches[0]["account"]], removed)


def _block_calendar_ids(block_id: str) -> tuple[int, list[int]] | None:
    """`calsel:<connection id>:<calendar id>,<calendar id>,...` → (connection id, calendar ids)."""
    try:
        prefix, connection, ids = block_id.split(":", 2)
        if prefix != "calsel":
            return None
        return int(connection), [int(i) for i in ids.split(",") if i]
    except ValueError:
        return None


def register(app, ctx: AppContext) -> None:
    @app.action(SELECT_ACTION)
    async def calendars_selected(ack, body, action):
        await ack()
        try:
            parsed = _block_calendar_ids(action.get("block_id", ""))
            if parsed is None:
                return
            connection_id, shown = parsed
            team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id")
            member = ensure_member(ctx.db, team_id, body["user"]["id"], clock=ctx.clock)
            chosen = []
            for option in action.get("selected_options") or []:
                try:
                    chosen.append(int(option["value"]))
                except (KeyError, ValueError):
                    continue
            select_calendars(ctx, member_id=member["id"], connection_id=connection_id, shown=shown, chosen=chosen)
        except Exception as exc:
            report_failure(exc, where="calendar selection")

    @app.action(RECONNECT_ACTION)
    async def reconnect_clicked(ack, body, action, respond):
        await ack()
        try:
            team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id")
            user_id = body["user"]["id"]
            member = ensure_member(ctx.db, team_id, user_id, clock=ctx.clock)
            connection = conn_store.get_connection(ctx.db, int(action.get("value") or 0))
            if connection is None or connection["member_id"] != member["id"]:
                await respond(response_type="ephemeral", replace_original=False,
                              text="That connection is gone. Use `/calbot connect google` or `/calbot connect microsoft`.")
                return
            reply = connect_reply(ctx, team_id=team_id, user_id=user_id, provider=connection["provider"])
            await respond(response_type="ephemeral", replace_original=False, **reply)
        except Exception as exc:
            await respond(response_type="ephemeral", replace_original=False,
                          text=report_failure(exc, where="reconnect button"))

    @app.action(CONNECT_LINK_ACTION)
    async def connect_link_clicked(ack):
        # A link button: the browser opens the URL; Slack still tells us about the click.
        await ack()
