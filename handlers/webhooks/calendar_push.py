"""Push notifications from Google (`POST /webhooks/google`) and Graph (`POST /webhooks/microsoft`).

They only authenticate, mark the calendar dirty and return at once; the syncer coalesces bursts
and does the listing. No notification carries event data we trust: it is only a hint.

Google: the channel id and token headers are checked against `push_channels` (token stored
hashed). The first `sync` message of a channel carries nothing to do. A notification that arrives
while its channel is still being made — before the provider has answered with the channel id, as
Google's `sync` message can — is recognised by its secret alone, against the `pending` row the
push manager writes before asking (Graph notifications too). An unknown channel or a
wrong token gets 404 with no side effect: Google retries only 500/502/503/504, so a 404 is not
retried, and a stray channel simply expires (we can't stop it without its account's token).

Graph: `?validationToken=` is echoed back as text/plain at once (subscription creation and
renewal handshakes must answer within 10 s). Each notification's `clientState` is checked
against the subscription's (stored hashed). Lifecycle notifications: `reauthorizationRequired`
→ renew now; `subscriptionRemoved` → recreate (and sync, since changes may have been missed);
`missed` → sync now. We answer 202 whatever the items say, so Graph does not retry (and, when
too many fail, drop) our endpoint because of one forged or stale item.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from bot.crypto import hash_secret, secrets_equal
from storage import calendars as cal_store

log = logging.getLogger("calbot.webhooks.push")

router = APIRouter()

LIVE_STATUSES = ("active", "pending", "stopping")


def _channel(db, provider: str, channel_id: str, secret: str | None) -> dict | None:
    rows = list(db.query(
        "SELECT id, calendar_id, secret_hash, status FROM push_channels WHERE channel_id = ? AND provider = ?",
        [channel_id, provider]))
    if rows:
        return rows[0]
    if not secret:
        return None
    # A channel being made: the provider can notify before it has told us the channel's id
    # (Google's `sync` message always does). Its secret is random per channel, so a match of
    # its hash is the authentication.
    rows = list(db.query(
        "SELECT id, calendar_id, secret_hash, status FROM push_channels WHERE provider = ? AND status = 'pending' "
        "AND secret_hash = ? ORDER BY id DESC LIMIT 1", [provider, hash_secret(secret)]))
    return rows[0] if rows else None


def _authentic(row: dict | None, secret: str | None) -> bool:
    return (row is not None and row["status"] in LIVE_STATUSES and secret is not None
            and secrets_equal(hash_secret(secret), row["secret_hash"]))


@router.post("/webhooks/google")
async def google_push(request: Request):
    ctx = request.app.state.ctx
    channel_id = request.headers.get("x-goog-channel-id", "")
    token = request.headers.get("x-goog-channel-token")
    state = request.headers.get("x-goog-resource-state", "")
    row = _channel(ctx.db, "google", channel_id, token) if channel_id else None
    if not _authentic(row, token):
        ctx.metrics.push_notifications.labels("google", "rejected").inc()
        log.info("google push for an unknown channel or with a wrong token ignored",
                 extra={"channel_id": channel_id[:64]})
        return Response(status_code=404)
    now = ctx.clock.now_iso()
    ctx.db.execute("UPDATE push_channels SET last_message_at = ? WHERE id = ?", [now, row["id"]])
    if state == "sync" or row["calendar_id"] is None:
        ctx.metrics.push_notifications.labels("google", "sync").inc()
        return Response(status_code=200)
    cal_store.mark_dirty(ctx.db, row["calendar_id"], now=now)
    ctx.metrics.push_notifications.labels("google", "accepted").inc()
    ctx.engine.poke("syncer")
    return Response(status_code=200)


@router.post("/webhooks/microsoft")
async def microsoft_push(request: Request):
    ctx = request.app.state.ctx
    validation = request.query_params.get("validationToken")
    if validation is not None:
        ctx.metrics.push_notifications.labels("microsoft", "validation").inc()
        return PlainTextResponse(validation, status_code=200)
    try:
        body = json.loads(await request.body() or b"{}")
        items = body.get("value") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ValueError("no value list")
    except (ValueError, UnicodeDecodeError):
        ctx.metrics.push_notifications.labels("microsoft", "malformed").inc()
        return Response(status_code=400)
    now = ctx.clock.now_iso()
    poke_sync = poke_push = False
    for item in items:
        if not isinstance(item, dict):
            continue
        client_state = item.get("clientState")
        row = _channel(ctx.db, "microsoft", str(item.get("subscriptionId") or ""),
                       client_state if isinstance(client_state, str) else None)
        if not _authentic(row, client_state if isinstance(client_state, str) else None):
            ctx.metrics.push_notifications.labels("microsoft", "rejected").inc()
            continue
        ctx.db.execute("UPDATE push_channels SET last_message_at = ? WHERE id = ?", [now, row["id"]])
        lifecycle = item.get("lifecycleEvent")
        calendar_id = row["calendar_id"]
        if lifecycle == "reauthorizationRequired":
            # Renew now: the push loop renews channels that are about to expire.
            ctx.db.execute("UPDATE push_channels SET expires_at = ? WHERE id = ?", [now, row["id"]])
            poke_push = True
        elif lifecycle == "subscriptionRemoved":
            ctx.db.execute("UPDATE push_channels SET status = 'stopped' WHERE id = ?", [row["id"]])
            poke_push = True
            if calendar_id is not None:
                cal_store.mark_dirty(ctx.db, calendar_id, now=now)
                poke_sync = True
        elif calendar_id is not None:  # a change notification, or `missed`: re-list now
            cal_store.mark_dirty(ctx.db, calendar_id, now=now)
            poke_sync = True
        ctx.metrics.push_notifications.labels("microsoft", lifecycle or "accepted").inc()
    if poke_sync:
        ctx.engine.poke("syncer")
    if poke_push:
        ctx.engine.poke("push")
    return Response(status_code=202)
