"""Calendar OAuth: `GET /oauth/{provider}/start` and `GET /oauth/{provider}/callback`.

The `state` comes from the Slack button (`/calbot connect ...`): signed and timestamped
(`ctx.cipher.sign_state`), naming a single-use `oauth_states` row bound to the Slack team and
user, valid for 10 minutes. `start` stores a fresh PKCE (S256) verifier, encrypted, on that row
and redirects to the provider. `callback` consumes the row (second use → refused), exchanges
the code, stores the grant and DMs the member their calendars to choose from.

Every outcome is a plain HTML page — never a 5xx — and, when we know who it was, a DM saying
what happened and what to do.
"""

from __future__ import annotations

import logging
import secrets

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from bot.calendars.base import AuthRevoked, ProviderError
from bot.engine.connections import complete_connection
from bot.errors import reference_id
from bot.views.connections import (
    connected_dm,
    connected_page,
    oauth_problem_dm,
    problem_page,
    provider_name,
    reused_link_dm,
)
from storage import connections as conn_store
from storage.members import find_member
from storage.outbox import post_message

log = logging.getLogger("calbot.oauth")

router = APIRouter()

STATE_MAX_AGE = conn_store.OAUTH_STATE_SECONDS
IDENTIFY_MAX_AGE = 7 * 24 * 3600   # long enough to tell an expired link's owner what happened


def new_connect_url(ctx, *, team_id: str, user_id: str, provider: str) -> str:
    """A fresh single-use start link for the Slack button."""
    nonce = secrets.token_urlsafe(18)
    conn_store.create_oauth_state(ctx.db, nonce=nonce, team_id=team_id, user_id=user_id, provider=provider,
                                  clock=ctx.clock)
    state = ctx.cipher.sign_state({"n": nonce, "t": team_id, "u": user_id, "p": provider})
    return f"{ctx.settings.public_url}/oauth/{provider}/start?state={state}"


def redirect_uri(ctx, provider: str) -> str:
    return f"{ctx.settings.public_url}/oauth/{provider}/callback"


def _page(status: int, headline: str, explanation: str, team_id: str | None = None) -> HTMLResponse:
    return HTMLResponse(problem_page(headline, explanation, team_id), status_code=status)


def _dm(ctx, data: dict, key: str, payload: dict) -> None:
    post_message(ctx.db, key=key, team_id=data["t"], kind="slack.dm", target=data["u"], payload=payload,
                 clock=ctx.clock)
    ctx.engine.poke("notifier")


def _active_accounts(ctx, data: dict, provider: str) -> list[str]:
    member = find_member(ctx.db, data["t"], data["u"])
    return [c["account"] for c in (conn_store.member_connections(ctx.db, member["id"]) if member else [])
            if c["provider"] == provider and c["status"] == "active"]


@router.get("/oauth/{provider}/start")
async def oauth_start(provider: str, request: Request):
    ctx = request.app.state.ctx
    adapter = ctx.providers.get(provider)
    if adapter is None:
        return _page(404, "This calendar provider isn't available",
                     f"calbot isn't set up to connect {provider_name(provider)} calendars. Ask your admin.")
    token = request.query_params.get("state") or ""
    data = ctx.cipher.read_state(token, STATE_MAX_AGE) if token else None
    if not data or data.get("p") != provider:
        return _page(400, "This link has expired",
                     "Connect links work once and for 10 minutes. "
                     f"Type /calbot connect {provider} in Slack to get a new one.")
    row = conn_store.find_oauth_state(ctx.db, data["n"])
    if row is None or row["used_at"] is not None or row["expires_at"] <= ctx.clock.now_iso():
        return _page(400, "This link was already used or has expired",
                     f"Type /calbot connect {provider} in Slack to get a new one.", data.get("t"))
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
    conn_store.store_code_verifier(ctx.db, data["n"], ctx.cipher.encrypt(verifier))
    url = adapter.authorization_url(state=token, code_verifier=verifier, redirect_uri=redirect_uri(ctx, provider))
    return RedirectResponse(url, status_code=302)


@router.get("/oauth/{provider}/callback")
async def oauth_callback(provider: str, request: Request):
    ctx = request.app.state.ctx
    adapter = ctx.providers.get(provider)
    if adapter is None:
        return _page(404, "This calendar provider isn't available",
                     f"calbot isn't set up to connect {provider_name(provider)} calendars. Ask your admin.")
    params = request.query_params
    token = params.get("state") or ""
    data = ctx.cipher.read_state(token, IDENTIFY_MAX_AGE) if token else None
    if not data or data.get("p") != provider:
        # Forged, altered, or for another provider: we don't know who this is, so no DM.
        return _page(400, "This sign-in can't be completed",
                     f"The link was not made by calbot or was altered. Type /calbot connect {provider} in Slack "
                     "to start again.")
    team_id = data["t"]
    name = provider_name(provider)
    nonce = data["n"]
    row = conn_store.find_oauth_state(ctx.db, nonce)
    if row is None or row["team_id"] != team_id or row["user_id"] != data["u"]:
        return _page(400, "This sign-in can't be completed",
                     f"Type /calbot connect {provider} in Slack to start again.", team_id)
    if not conn_store.consume_oauth_state(ctx.db, nonce, clock=ctx.clock):
        if row["used_at"] is not None:
            # A reload or a replayed link: the first use already did the work (or said why not).
            # One DM per link however often it is replayed, saying where the member stands.
            _dm(ctx, data, f"oauth:{nonce}:reused", reused_link_dm(provider, _active_accounts(ctx, data, provider)))
            return _page(400, "This link was already used",
                         f"Each connect link works once. If {name} isn't connected yet, type "
                         f"/calbot connect {provider} in Slack for a new one.", team_id)
        _dm(ctx, data, f"oauth:{nonce}:expired",
            oauth_problem_dm(provider, "the link expired (they last 10 minutes)."))
        return _page(400, "This link has expired",
                     f"Connect links last 10 minutes. Type /calbot connect {provider} in Slack for a new one.", team_id)

    error = params.get("error")
    if error:
        if error == "access_denied":
            _dm(ctx, data, f"oauth:{nonce}:denied", oauth_problem_dm(
                provider, f"you didn't allow calbot to see your {name} calendar, so nothing was connected."))
            return _page(200, "Nothing was connected",
                         f"You didn't allow calbot to see your {name} calendar. If that was a mistake, "
                         f"type /calbot connect {provider} in Slack and choose Allow.", team_id)
        description = (params.get("error_description") or error)[:200]
        _dm(ctx, data, f"oauth:{nonce}:error", oauth_problem_dm(provider, f"{name} said: {description}."))
        return _page(400, f"{name} didn't connect", f"{name} said: {description}. Try /calbot connect {provider} "
                     "in Slack again.", team_id)

    code = params.get("code")
    verifier = ctx.cipher.decrypt(row["code_verifier_enc"]) if row["code_verifier_enc"] else None
    if not code or not verifier:
        _dm(ctx, data, f"oauth:{nonce}:incomplete", oauth_problem_dm(provider, "the sign-in didn't complete."))
        return _page(400, "The sign-in didn't complete",
                     f"Type /calbot connect {provider} in Slack and follow the button again.", team_id)

    try:
        tokens = await adapter.exchange_code(code=code, code_verifier=verifier, redirect_uri=redirect_uri(ctx, provider))
        connection, calendars, _ = await complete_connection(
            ctx, team_id=team_id, user_id=data["u"], provider_name=provider, tokens=tokens)
    except AuthRevoked as exc:
        _dm(ctx, data, f"oauth:{nonce}:refused", oauth_problem_dm(provider, f"{exc}."))
        return _page(400, f"{name} didn't grant access", f"{exc}. Type /calbot connect {provider} in Slack to try "
                     "again.", team_id)
    except (ProviderError, httpx.HTTPError) as exc:
        ref = reference_id()
        log.warning("oauth callback for %s failed: %s", provider, exc, extra={"ref": ref, "team_id": team_id})
        _dm(ctx, data, f"oauth:{nonce}:failed", oauth_problem_dm(
            provider, f"{name} didn't complete the sign-in (ref {ref})."))
        return _page(400, f"{name} didn't complete the sign-in",
                     f"Something went wrong talking to {name} (ref {ref}). Type /calbot connect {provider} in "
                     "Slack to try again.", team_id)
    except Exception as exc:
        ref = reference_id()
        log.error("oauth callback for %s crashed: %s", provider, exc, exc_info=exc, extra={"ref": ref})
        _dm(ctx, data, f"oauth:{nonce}:failed", oauth_problem_dm(provider, f"something went wrong on our side (ref {ref})."))
        return _page(400, "Something went wrong",
                     f"calbot couldn't finish connecting (ref {ref}). Try again, or tell your admin the ref.", team_id)

    _dm(ctx, data, f"connected:{connection['id']}:{nonce}", connected_dm(connection, calendars))
    log.info("calendar connected", extra={"provider": provider, "connection_id": connection["id"], "team_id": team_id})
    return HTMLResponse(connected_page(connection["account"], provider, team_id), status_code=200)
