"""The App Home tab: published when the member opens it (and republished by the "home" loop when
their data changes), with buttons to connect or reconnect a calendar."""

from __future__ import annotations

import logging
import re

from bot.context import AppContext
from bot.engine.home import publish_home
from bot.errors import UserError
from bot.views.common import plain
from bot.views.home import CONNECT_ACTION, RECONNECT_ACTION
from handlers.slack.support import acting_member, friendly
from storage import connections as conn_store
from storage.members import ensure_workspace

log = logging.getLogger("calbot.slack.home")


def link_modal(reply: dict, title: str) -> dict:
    return {"type": "modal", "title": plain(title, 24), "close": plain("Close", 24), "blocks": reply["blocks"]}


def register(app, ctx: AppContext) -> None:
    @app.event("app_home_opened")
    async def home_opened(body, event, client):
        if event.get("tab") not in (None, "home"):
            return
        try:
            team_id = body.get("team_id")
            if ctx.db.execute("SELECT 1 FROM workspaces WHERE team_id = ? AND uninstalled_at IS NOT NULL",
                              [team_id]).fetchone():
                ensure_workspace(ctx.db, team_id, clock=ctx.clock)  # they are using it: installed again
            member = await acting_member(ctx, client, body)
            # Slack keeps the last published view; publish when ours is stale or Slack has none
            await publish_home(ctx, client, member, force=event.get("view") is None)
        except Exception as exc:
            from bot.errors import report_failure

            report_failure(exc, where="app_home_opened", team_id=body.get("team_id"), user_id=event.get("user"))

    @app.action(re.compile(f"^{CONNECT_ACTION}(:|$)"))
    @friendly("connect button")
    async def connect_clicked(ack, body, action, client):
        await ack()
        from handlers.slack.connections import connect_reply

        team_id, user_id = body["user"].get("team_id") or body["team"]["id"], body["user"]["id"]
        provider = action.get("value")
        if provider not in ("google", "microsoft"):
            return
        reply = connect_reply(ctx, team_id=team_id, user_id=user_id, provider=provider)
        await client.views_open(trigger_id=body["trigger_id"], view=link_modal(reply, "Connect a calendar"))

    @app.action(RECONNECT_ACTION)
    @friendly("reconnect button")
    async def reconnect_clicked(ack, body, action, client):
        await ack()
        from handlers.slack.connections import connect_reply

        member = await acting_member(ctx, client, body)
        connection = conn_store.get_connection(ctx.db, int(action.get("value") or 0))
        if connection is None or connection["member_id"] != member["id"]:
            raise UserError("That connection is gone. Use `/calbot connect google` or `/calbot connect microsoft`.")
        reply = connect_reply(ctx, team_id=member["team_id"], user_id=member["user_id"],
                              provider=connection["provider"])
        await client.views_open(trigger_id=body["trigger_id"], view=link_modal(reply, "Reconnect"))
