"""POST /api/bots (seed-compatible): a recording bot for a meeting link at a time.

The bot goes through the same engine as calendar-driven recordings (bot/engine/requests.py):
one bot per meeting per workspace, so asking again for the same meeting and time — or for a
meeting the calendar rules already record — returns the same bot id, and it shows up in Slack
like any other.
"""

from __future__ import annotations

import inspect

from fastapi import APIRouter, Depends, Request

from bot.api.auth import Principal, context, require_principal
from bot.api.bot_requests import bot_config, meeting_link, requested_join_time
from bot.api.errors import ApiError, ErrorResponse
from bot.api.queries import resolve_member
from bot.api.schemas import CreateBotRequest, CreateBotResponse
from bot.errors import UserError

router = APIRouter(tags=["bots"])


@router.post("/bots", response_model=CreateBotResponse, status_code=200,
             responses={503: {"model": ErrorResponse, "description": "Bot scheduling unavailable"}},
             summary="Schedule a recording bot (the same meeting and time again returns the same bot)")
async def create_bot(body: CreateBotRequest, request: Request,
                     principal: Principal = Depends(require_principal)) -> CreateBotResponse:
    ctx = context(request)
    url, _platform = meeting_link(body.meeting_url)
    join_at = requested_join_time(body, ctx.clock.now())
    config = bot_config(body)
    member_id = resolve_member(ctx.db, principal, body.member)
    try:
        from bot.engine.requests import request_bot
    except ImportError:
        raise ApiError(503, "scheduling bots is not available in this build of calbot") from None
    try:
        bot_id = request_bot(ctx, team_id=principal.team_id, meeting_url=url, join_at=join_at, config=config,
                             actor=principal.actor, member_id=member_id)
        if inspect.isawaitable(bot_id):
            bot_id = await bot_id
    except UserError as exc:
        raise ApiError(422, str(exc)) from None
    return CreateBotResponse(bot_id=bot_id, meeting_url=url, join_at=join_at)
