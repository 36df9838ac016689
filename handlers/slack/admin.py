"""Admins only (Slack `is_admin`/`is_owner`): the workspace policy modal and a view of every
member's calendar connections. Other people get a plain "admins only" answer."""

from __future__ import annotations

from bot.context import AppContext
from bot.views.admin import POLICY_CALLBACK, health_view, parse_policy, policy_modal
from bot.views.home import ADMIN_HEALTH_ACTION, POLICY_ACTION
from handlers.slack.support import Problem, acting_member, friendly, team_and_user
from storage.meetings import enqueue
from storage.members import find_member
from storage.rules import save_policy, workspace_policy

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
        await client.views_open(trigger_id=body["trigger_id"], view=policy_modal(workspace_policy(ctx.db, member["team_id"])))

    @app.view(POLICY_CALLBACK)
    async def policy_submitted(ack, body, view):
        team_id, user_id = team_and_user(body)
        member = find_member(ctx.db, team_id, user_id)
        if member is None or not member.get("is_admin"):
            await ack(response_action="errors", errors={"bot_name": ADMINS_ONLY})
            return
        policy, errors = parse_policy(view, workspace_policy(ctx.db, team_id))
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        save_policy(ctx.db, team_id, policy)
        ctx.db.execute("INSERT INTO audit_log (team_id, actor, action, detail, at) VALUES (?, ?, 'policy.update', ?, ?)",
                       [team_id, user_id, policy.model_dump_json(), ctx.clock.now_iso()])
        enqueue(ctx.db, "team", [team_id])
        ctx.engine.poke("planner")
        await ack()

    @app.action(ADMIN_HEALTH_ACTION)
    @friendly("members' calendars button")
    async def open_health(ack, body, client):
        await ack()
        member = await admin(client, body)
        rows = list(ctx.db.query(_HEALTH_SQL, [member["team_id"]]))
        await client.views_open(trigger_id=body["trigger_id"], view=health_view(rows))
