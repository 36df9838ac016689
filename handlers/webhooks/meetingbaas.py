"""`POST /webhooks/meetingbaas`: recorder callbacks and account webhooks.

Authenticated by the per-bot callback secret (`x-mb-secret`), by an SVIX signature when
MEETINGBAAS_WEBHOOK_SECRET is set, or by `x-meeting-baas-api-key` equal to our key (v1 style);
anything else is 401. The body is applied idempotently (bot/engine/bot_status.py) and answered
at once; notices go out through the outbox.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot.engine.bot_status import apply_bot_event
from bot.recorder.meetingbaas_events import MalformedEvent, authenticate, parse_event
from storage.bots import callback_secret

router = APIRouter()


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.post("/webhooks/meetingbaas")
async def meetingbaas_webhook(request: Request):
    ctx = request.app.state.ctx
    raw = await request.body()
    proof = authenticate(request.headers, raw, settings=ctx.settings,
                         secret_lookup=lambda bot_id: callback_secret(ctx.db, ctx.cipher, bot_id))
    if not proof:
        return _error(401, "unauthorized", "not signed by Meeting BaaS for a bot of ours")
    try:
        event = parse_event(raw)
    except MalformedEvent as exc:
        return _error(400, "malformed", str(exc))
    if event is None:
        return JSONResponse({"ok": True, "applied": False})
    applied = apply_bot_event(ctx, event)
    if applied:
        for loop in ("notifier", "home", "webhooks.produce"):
            ctx.engine.poke(loop)
    return JSONResponse({"ok": True, "applied": applied})
