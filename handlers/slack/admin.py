"""Admins only (Slack `is_admin`/`is_owner`): the workspace policy modal and a view of every
member's calendar connections. Other people get a plain "admins only" answer."""

from __future__ import annotations

import json
import logging

from bot.context import AppContext
from bot.views.admin import POLICY_CALLBACK, health_view, parse_policy, parse_team_digest, policy_modal
from bot.views.home import ADMIN_HEALTH_ACTION, POLICY_ACTION
from handlers.slack.notify import ChannelProblem, check_channel
from handlers.slack.support import Problem, acting_member, friendly, team_and_user
from storage.meetings import enqueue
from storage.members import find_member
from storage import outbox
from storage.rules import save_policy, workspace_policy
from storage.settings import set_team_digest, team_digest

log = logging.getLogger("calbot.slack")
ADMINS_ONLY = "Only workspace admins and owners can do that."

_HEALTH_SQL = """
SELECT m.user_id, cn.account, cn.provider, cn.status, cn.last_error,
       MAX(c.last_synced_at) AS last_synced_at, SUM(COALESCE(c.selected, 0)) AS calendars
FROM connections cn JOIN members m ON m.id = cn.member_id LEFT JOIN calendars c ON c.connection_id = cn.id
WHERE m.team_id = ? GROUP BY cn.id
ORDER BY CASE cn.status WHEN 'active' THEN 1 ELSE 0 END, m.user_id
"""


def register(app, ctx: AppContext) -> None:
    async def admin(client, body) -> dict:
        member = await acting_member(ctx, client, body)
        if not member.get("is_admin"):
            raise Problem(ADMINS_ONLY)
        return member

    @app.action(POLICY_ACTION)
    @friendly("workspace policy button")
    async def open_policy(ack, body, client):
        await ack()
        member = await admin(client, body)
        channel, schedule = team_digest(ctx.db, member["team_id"])
        view = policy_modal(workspace_policy(ctx.db, member["team_id"]), digest_channel=channel, digest=schedule,
                            tz=member.get("tz") or "UTC")
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view(POLICY_CALLBACK)
    async def policy_submitted(ack, body, view, client):
        team_id, user_id = team_and_user(body)
        member = find_member(ctx.db, team_id, user_id)
        if member is None or not member.get("is_admin"):
            await ack(response_action="errors", errors={"bot_name": ADMINS_ONLY})
            return
        policy, errors = parse_policy(view, workspace_policy(ctx.db, team_id))
        previous_channel, previous_schedule = team_digest(ctx.db, team_id)
        channel, schedule, digest_errors = parse_team_digest(view, current=previous_schedule,
                                                             current_channel=previous_channel,
                                                             tz=member.get("tz") or "UTC")
        errors = {**errors, **digest_errors}
        if channel and channel != previous_channel and not errors:
            try:
                await check_channel(client, channel)
            except ChannelProblem as exc:
                errors["team_digest_channel"] = str(exc).replace("`", "")[:150]
            except Exception as exc:  # can't tell now: keep the choice, the notifier will report trouble
                log.info("could not check channel %s: %s", channel, exc)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        save_policy(ctx.db, team_id, policy)
        set_team_digest(ctx.db, team_id, channel, schedule)
        detail = {**policy.model_dump(), "team_digest": {"channel": channel, **schedule.model_dump()}}
        ctx.db.execute("INSERT INTO audit_log (team_id, actor, action, detail, at) VALUES (?, ?, 'policy.update', ?, ?)",
                       [team_id, user_id, json.dumps(detail), ctx.clock.now_iso()])
        if channel and channel != previous_channel:
            # One line in the channel saying why calbot will post there.
            outbox.post_message(ctx.db, key=f"team-digest-intro:{channel}", team_id=team_id, kind="slack.post",
                                target=channel, payload={"text": f"calbot will post the team's recorded meetings "
                                                                  f"here each day at {schedule.digest_time} "
                                                                  f"({schedule.digest_tz}), set by <@{user_id}>."},
                                clock=ctx.clock)
            ctx.engine.poke("notifier")
        enqueue(ctx.db, "team", [team_id])
        ctx.engine.poke("planner")
        ctx.engine.poke("digests")  # a digest due now (time just set, still in its window) goes now
        await ack()

    @app.action(ADMIN_HEALTH_ACTION)
    @friendly("members' calendars button")
    async def open_health(ack, body, client):
        await ack()
        member = await admin(client, body)
        rows = list(ctx.db.query(_HEALTH_SQL, [member["team_id"]]))
        await client.views_open(trigger_id=body["trigger_id"], view=health_view(rows))
