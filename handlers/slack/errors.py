"""Bolt's global error handler: whatever a listener did not handle becomes a friendly message
for the person (with a reference id) and a log line with the same id for the operator.

Listeners handle what they expect (UserError, `friendly(...)`); this is the net under them. If
Slack is still waiting for the answer, the apology *is* the answer (a slash command reply, an
updated modal); otherwise it goes to the response_url or, failing that, a DM.
"""

from __future__ import annotations

import json
import logging

from slack_bolt.response import BoltResponse

from bot.context import AppContext
from bot.errors import report_failure
from bot.views.common import plain, section
from handlers.slack.support import team_and_user

log = logging.getLogger("calbot.slack.errors")


def apology_modal(text: str) -> dict:
    return {"type": "modal", "title": plain("calbot", 24), "close": plain("Close", 24),
            "blocks": [section(f":warning: {text}")]}


def where_of(body: dict) -> str:
    if body.get("command"):
        return f"{body['command']} {(body.get('text') or '').split(' ')[0]}".strip()
    kind = body.get("type") or "request"
    if kind == "block_actions":
        return "button " + ",".join(a.get("action_id", "?") for a in body.get("actions") or [])
    if kind in ("view_submission", "view_closed"):
        return f"{kind} {(body.get('view') or {}).get('callback_id')}"
    if kind == "event_callback":
        return f"event {(body.get('event') or {}).get('type')}"
    return kind


def register(app, ctx: AppContext) -> None:
    @app.error
    async def on_error(error, body, response, client):
        body = body or {}
        try:
            team_id, user_id = team_and_user(body)
        except Exception:
            team_id = user_id = None
        text = report_failure(error, where=where_of(body), team_id=team_id, user_id=user_id)
        kind = body.get("type")
        if response is None:
            # Slack already has its answer (the listener acked first): tell the person another way
            await _tell_later(ctx, body, client, user_id, text)
            return None
        if body.get("command"):
            return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": text}),
                                headers={"content-type": ["application/json;charset=utf-8"]})
        if kind == "view_submission":
            return BoltResponse(status=200, body=json.dumps({"response_action": "update",
                                                             "view": apology_modal(text)}),
                                headers={"content-type": ["application/json;charset=utf-8"]})
        await _tell_later(ctx, body, client, user_id, text)
        return BoltResponse(status=200, body="")


async def _tell_later(ctx: AppContext, body: dict, client, user_id: str | None, text: str) -> None:
    if body.get("type") == "event_callback" or not user_id:
        return   # nobody asked: the log line is the report
    try:
        url = body.get("response_url")
        if url:
            await ctx.http.post(url, json={"response_type": "ephemeral", "replace_original": False,
                                           "text": f":warning: {text}"}, timeout=5.0)
        elif client is not None:
            await client.chat_postMessage(channel=user_id, text=f":warning: {text}")
    except Exception as exc:
        log.warning("could not tell %s about the failure: %s", user_id, exc)
