"""The `/calbot` slash command: parse, then hand each subcommand to its handler.

Handlers register with `@subcommand("name")`; they receive a `CommandRequest` and return the
message to show (ephemeral unless it says otherwise). Bad input gets a short specific error plus
the help. Pure/quick answers go in the ack itself; anything that may take longer acks first and
answers through `respond` — Slack gives us 3 seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from bot.context import AppContext
from bot.errors import UserError, report_failure
from bot.slash import SlashCommand, SlashError, parse_slash
from bot.views.help import help_message
from storage.members import ensure_member

log = logging.getLogger("calbot.slack.commands")


@dataclass
class CommandRequest:
    ctx: AppContext
    command: SlashCommand
    team_id: str
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    member: dict
    client: Any            # AsyncWebClient for this workspace
    body: dict


Handler = Callable[[CommandRequest], Awaitable[dict | None]]
SUBCOMMANDS: dict[str, Handler] = {}


def subcommand(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        SUBCOMMANDS[name] = handler
        return handler

    return register


@subcommand("help")
async def show_help(request: CommandRequest) -> dict:
    return help_message()


def register(app, ctx: AppContext) -> None:
    # Subcommand modules (handlers/slack/*.py) are all imported by register_all before any
    # request arrives, so SUBCOMMANDS is complete by the time this listener runs.
    @app.command("/calbot")
    async def calbot_command(ack, body, client, respond):
        try:
            command = parse_slash(body.get("text"))
        except SlashError as exc:
            ctx.metrics.slack_commands.labels("invalid").inc()
            await ack(response_type="ephemeral", **help_message(str(exc)))
            return
        handler = SUBCOMMANDS.get(command.name)
        if handler is None:
            await ack(response_type="ephemeral", **help_message(f"`/calbot {command.name}` isn't available yet."))
            return
        ctx.metrics.slack_commands.labels(command.name).inc()
        if command.name == "help":
            await ack(response_type="ephemeral", **help_message())
            return
        await ack()
        try:
            member = ensure_member(ctx.db, body["team_id"], body["user_id"], clock=ctx.clock)
            request = CommandRequest(
                ctx=ctx, command=command, team_id=body["team_id"], user_id=body["user_id"],
                channel_id=body.get("channel_id"), trigger_id=body.get("trigger_id"),
                member=member, client=client, body=body,
            )
            reply = await handler(request)
        except UserError as exc:
            # input that doesn't fit gets the help too; a problem with a fine input is said alone
            reply = help_message(str(exc)) if getattr(exc, "show_help", True) else \
                {"text": f":warning: {exc}"}
        except Exception as exc:
            reply = {"text": report_failure(exc, where=f"/calbot {command.name}",
                                            team_id=body.get("team_id"), user_id=body.get("user_id"))}
        if reply:
            reply.setdefault("response_type", "ephemeral")
            await respond(**reply)
