"""Personal settings: `/calbot settings` and the Home tab's Settings button open the modal; its
submission is validated (answers `response_action: errors` with what to fix) and saved."""

from __future__ import annotations


from bot.context import AppContext
from bot.engine.home import mark_member_dirty
from bot.views.home import SETTINGS_ACTION
from bot.views.settings import SETTINGS_CALLBACK, parse_settings_submission, settings_modal
from handlers.slack.commands import CommandRequest, subcommand
from handlers.slack.notify import channel_error, intro_notice
from handlers.slack.support import acting_member, friendly, team_and_user
from storage.members import ensure_member
from storage.settings import member_settings, update_member_settings, workspace_policy



def modal_for(ctx: AppContext, member: dict) -> dict:
    policy = workspace_policy(ctx.db, member["team_id"])
    return settings_modal(member_settings(ctx.db, member["id"]), tz=member.get("tz") or "UTC",
                          workspace_default=policy.get("default_action"))


@subcommand("settings")
async def settings_command(request: CommandRequest) -> dict | None:
    from bot.engine.profiles import ensure_profile

    member = await ensure_profile(request.ctx, request.client, request.member)
    await request.client.views_open(trigger_id=request.trigger_id, view=modal_for(request.ctx, member))
    return None


def register(app, ctx: AppContext) -> None:
    @app.action(SETTINGS_ACTION)
    @friendly("settings button")
    async def settings_clicked(ack, body, client):
        await ack()
        member = await acting_member(ctx, client, body)
        await client.views_open(trigger_id=body["trigger_id"], view=modal_for(ctx, member))

    @app.view(SETTINGS_CALLBACK)
    async def settings_submitted(ack, body, view, client):
        changes, errors = parse_settings_submission(view)
        # no profile look-up here: Slack wants the answer within 3 seconds
        team_id, user_id = team_and_user(body)
        member = ensure_member(ctx.db, team_id, user_id, clock=ctx.clock)
        channel = changes.get("notice_channel")
        previous = member_settings(ctx.db, member["id"]).notice_channel
        if channel and channel != previous and "notice_channel" not in errors:
            problem = await channel_error(client, channel)
            if problem:
                errors["notice_channel"] = problem
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        # Saved before the modal closes: what the person sees next already has it.
        update_member_settings(ctx.db, member["id"], **changes)
        await ack()
        await after_save(body=body, client=client, member=member, changes=changes, previous=previous)

    # After the ack nothing may escape: Bolt's runner would lose the ack it already sent.
    @friendly("settings form")
    async def after_save(body, client, member, changes, previous):
        channel = changes.get("notice_channel")
        if channel and channel != previous:
            intro_notice(ctx, member, channel)
        mark_member_dirty(ctx, member["id"])
