"""What the Slack listeners share: who is acting, their member row (profile read on first
contact), friendly failure replies, and recording decisions handed to the engine."""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

from bot.context import AppContext
from bot.engine.profiles import ensure_profile
from bot.errors import UserError, report_failure
from storage.members import ensure_member

log = logging.getLogger("calbot.slack")


class Problem(UserError):
    """A well-formed request that can't be done (the channel is private, the meeting has no
    link): said on its own, without the command help."""

    show_help = False


def team_and_user(body: dict) -> tuple[str, str]:
    """(team id, user id) of an interaction, event or command payload."""
    user = body.get("user")
    if isinstance(user, dict):
        team = (body.get("team") or {}).get("id") or user.get("team_id") or body.get("team_id")
        return team, user["id"]
    event = body.get("event") or {}
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    return team, body.get("user_id") or event.get("user") or user


async def acting_member(ctx: AppContext, client, body: dict) -> dict:
    team_id, user_id = team_and_user(body)
    member = ensure_member(ctx.db, team_id, user_id, clock=ctx.clock)
    return await ensure_profile(ctx, client, member)


def ephemeral(text: str, **extra) -> dict:
    return {"response_type": "ephemeral", "replace_original": False, "text": text, **extra}


def friendly(where: str):
    """Wrap an action/view listener: a UserError is said as it is, anything else becomes the
    apology with a reference id (and the log line with the same id). Listeners must ack first."""

    def wrap(listener):
        @functools.wraps(listener)
        async def run(*args, **kwargs):
            try:
                return await listener(*args, **kwargs)
            except UserError as exc:
                await _tell(kwargs, str(exc))
            except Exception as exc:
                body = kwargs.get("body") or {}
                team_id, user_id = team_and_user(body) if body else (None, None)
                await _tell(kwargs, report_failure(exc, where=where, team_id=team_id, user_id=user_id))

        # Bolt injects arguments by parameter name: keep the listener's signature visible
        run.__signature__ = inspect.signature(listener)  # type: ignore[attr-defined]
        return run

    return wrap


async def _tell(kwargs: dict, text: str) -> None:
    respond = kwargs.get("respond")
    body = kwargs.get("body") or {}
    try:
        if respond is not None and body.get("response_url"):
            await respond(**ephemeral(f":warning: {text}"))
            return
        client = kwargs.get("client")
        team_id, user_id = team_and_user(body)
        if client is not None and user_id:
            await client.chat_postMessage(channel=user_id, text=f":warning: {text}")
    except Exception as exc:  # the apology itself failed: the log line is all we can do
        log.warning("could not tell the user about a failure: %s", exc)


async def decide(ctx: AppContext, *, member: dict, event_id: int, action: str, actor: str,
                 scope: str = "occurrence", bot_config: dict | None = None) -> Any:
    """Record a person's recording choice with the engine (bot/engine/requests.py, issue 5)."""
    try:
        from bot.engine.requests import decide_event
    except ImportError:
        raise Problem("Recording choices from Slack aren't available on this calbot yet.") from None
    result = decide_event(ctx, member_id=member["id"], event_id=event_id, action=action, scope=scope,
                          actor=actor, source="slack", bot_config=bot_config)
    if inspect.isawaitable(result):
        result = await result
    for loop in ("planner", "reconciler", "home"):
        ctx.engine.poke(loop)
    return result


def response_sender(ctx: AppContext, url: str | None):
    """A `respond`-like callable for a response_url kept from an earlier click (e.g. across a
    modal); a no-op without one."""

    async def send(**body) -> None:
        if not url:
            return
        response = await ctx.http.post(url, json=body, timeout=5.0)
        if response.status_code >= 400:
            log.info("response_url answered %s: %s", response.status_code, response.text[:200])

    return send
