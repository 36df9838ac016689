"""Admins only (Slack `is_admin`/`is_owner`): the workspace policy modal, a view of every
member's calendar connections, and the REST API keys. Other people get a plain "admins only" answer."""

from __future__ import annotations

import json

from bot.context import AppContext
from bot.views.admin import (API_KEYS_CALLBACK, POLICY_CALLBACK, REVOKE_KEY_ACTION, api_keys_modal, health_view,
                             parse_new_key, parse_policy, parse_team_digest, policy_modal)
from bot.views.home import ADMIN_HEALTH_ACTION, API_KEYS_ACTION, POLICY_ACTION
from handlers.slack.notify import channel_error
from handlers.slack.support import Problem, acting_member, friendly, team_and_user
from storage.meetings import enqueue
from storage.members import find_member
from storage import outbox
from storage.api_keys import create_api_key, list_api_keys, revoke_api_key
from storage.rules import save_policy, workspace_policy
from storage.settings import set_team_digest, team_digest

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
            problem = await channel_error(client, channel)
            if problem:
                errors["team_digest_channel"] = problem
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        save_policy(ctx.db, team_id, policy)
        set_team_digest(ctx.db, team_id, channel, schedule)
        detail = {**policy.model_dump(), "team_digest": {"channel": channel, **schedule.model_dump()}}
        _audit(team_id, user_id, "policy.update", detail)
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

    @app.action(API_KEYS_ACTION)
    @friendly("API keys button")
    async def open_api_keys(ack, body, client):
        await ack()
        member = await admin(client, body)
        await client.views_open(trigger_id=body["trigger_id"],
                                view=api_keys_modal(list_api_keys(ctx.db, member["team_id"])))

    @app.view(API_KEYS_CALLBACK)
    async def api_key_created(ack, body, view):
        team_id, user_id = team_and_user(body)
        member = find_member(ctx.db, team_id, user_id)
        if member is None or not member.get("is_admin"):
            await ack(response_action="errors", errors={"key_name": ADMINS_ONLY})
            return
        name, scope, errors = parse_new_key(view)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        key_id, key = create_api_key(ctx.db, team_id=team_id, member_id=member["id"] if scope == "me" else None,
                                     name=name, clock=ctx.clock)
        _audit(team_id, user_id, "api_key.create", {"id": key_id, "name": name, "scope": scope})
        # The modal stays open showing the key: the only time anyone sees it.
        await ack(response_action="update", view=api_keys_modal(list_api_keys(ctx.db, team_id), created=(name, key)))

    @app.action(REVOKE_KEY_ACTION)
    @friendly("revoke API key")
    async def revoke_clicked(ack, body, client):
        await ack()
        member = await admin(client, body)
        key_id = int(body["actions"][0]["value"])
        if revoke_api_key(ctx.db, key_id, team_id=member["team_id"], clock=ctx.clock):
            _audit(member["team_id"], member["user_id"], "api_key.revoke", {"id": key_id})
        view = body["view"]
        await client.views_update(view_id=view["id"], hash=view.get("hash"),
                                  view=api_keys_modal(list_api_keys(ctx.db, member["team_id"])))

    def _audit(team_id: str, user_id: str, action: str, detail: dict) -> None:
        ctx.db.execute("INSERT INTO audit_log (team_id, actor, action, detail, at) VALUES (?, ?, ?, ?, ?)",
                       [team_id, user_id, action, json.dumps(detail), ctx.clock.now_iso()])
