"""`/calbot digest`: today's digest to my DM now (it counts as today's, so no second one follows)."""

from __future__ import annotations

from bot.engine.digests import send_digest_now
from bot.engine.profiles import ensure_profile
from handlers.slack.commands import CommandRequest, subcommand


@subcommand("digest")
async def digest_command(request: CommandRequest) -> dict:
    member = await ensure_profile(request.ctx, request.client, request.member)
    send_digest_now(request.ctx, member)
    return {"text": "Sent today's digest to your DM with calbot."}
