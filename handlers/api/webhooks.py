"""POST|GET|DELETE /api/webhooks (+ GET|PATCH /api/webhooks/{id}): outbound webhook subscriptions.

The signing secret is generated here, returned once by POST, and stored encrypted (the deliverer
needs it in clear to sign). Deliveries are made by bot/engine/webhooks_out.py.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import json

from fastapi import APIRouter, Depends, Path, Query, Request

from bot.api.auth import Principal, context, require_principal
from bot.api.errors import ApiError, not_found
from bot.api.pagination import decode_cursor
from bot.api.queries import list_webhook_deliveries, parse_public_id
from bot.api.schemas import (
    WEBHOOK_EVENT_TYPES, CreatedWebhook, CreateWebhookRequest, Deleted, DeliveriesResponse, Delivery,
    UpdateWebhookRequest, Webhook, WebhooksResponse,
)
from bot.timeutil import parse_iso
from storage import webhooks as store

router = APIRouter(tags=["webhooks"])

MAX_SUBSCRIPTIONS = 20


def _check_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a non-numeric or out-of-range port
    except ValueError:
        raise ApiError(422, "url: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, "url: must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ApiError(422, "url: must not contain credentials (verify our signature instead)")
    if any(ch.isspace() for ch in url) or (port is not None and port == 0):
        raise ApiError(422, "url: not a valid URL")
    return url


def _model(row: dict, secret: str | None = None) -> Webhook:
    fields = dict(
        id=str(row["id"]), url=row["url"], events=store.subscription_events(row), description=row["description"],
        status=row["status"], member=row["member_user_id"], created_at=parse_iso(row["created_at"]),
        failing_since=parse_iso(row["failing_since"]) if row["failing_since"] else None,
        disabled_at=parse_iso(row["disabled_at"]) if row["disabled_at"] else None,
        last_error=row["last_error"] or row["disabled_reason"],
    )
    return CreatedWebhook(**fields, secret=secret) if secret else Webhook(**fields)


def _find(request: Request, principal: Principal, webhook_id: str) -> dict:
    number = parse_public_id(webhook_id)
    row = store.find_subscription(context(request).db, number, team_id=principal.team_id,
                                  member_id=principal.member_id) if number is not None else None
    if row is None:
        raise not_found(f"webhook {webhook_id}")
    return row


@router.post("/webhooks", response_model=CreatedWebhook, status_code=201,
             summary="Subscribe a URL to events (the signing secret is shown only in this response)")
async def create_webhook(body: CreateWebhookRequest, request: Request,
                         principal: Principal = Depends(require_principal)) -> CreatedWebhook:
    ctx = context(request)
    url = _check_url(body.url)
    existing = store.list_subscriptions(ctx.db, team_id=principal.team_id, member_id=None)
    if len(existing) >= MAX_SUBSCRIPTIONS:
        raise ApiError(409, f"a workspace can have at most {MAX_SUBSCRIPTIONS} webhook subscriptions")
    events = list(dict.fromkeys(body.events)) if body.events else list(WEBHOOK_EVENT_TYPES)
    secret = store.new_signing_secret()
    row = store.create_subscription(
        ctx.db, team_id=principal.team_id, member_id=principal.member_id, created_by=principal.member_id, url=url,
        events=events, description=body.description, secret_enc=ctx.cipher.encrypt(secret), clock=ctx.clock)
    return _model(row, secret=secret)


@router.get("/webhooks", response_model=WebhooksResponse, summary="List webhook subscriptions")
async def list_webhooks(request: Request, principal: Principal = Depends(require_principal)) -> WebhooksResponse:
    rows = store.list_subscriptions(context(request).db, team_id=principal.team_id, member_id=principal.member_id)
    return WebhooksResponse(webhooks=[_model(row) for row in rows])


@router.get("/webhooks/{webhook_id}", response_model=Webhook, summary="One webhook subscription")
async def get_webhook(request: Request, webhook_id: str = Path(max_length=32),
                      principal: Principal = Depends(require_principal)) -> Webhook:
    return _model(_find(request, principal, webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=Webhook,
              summary="Change a subscription; {\"status\": \"active\"} re-enables a disabled one")
async def update_webhook(body: UpdateWebhookRequest, request: Request, webhook_id: str = Path(max_length=32),
                         principal: Principal = Depends(require_principal)) -> Webhook:
    ctx = context(request)
    row = _find(request, principal, webhook_id)
    url = _check_url(body.url) if body.url is not None else None
    events = list(dict.fromkeys(body.events)) if body.events else None
    store.update_subscription(ctx.db, row["id"], url=url, events=events, description=body.description)
    if body.status == "active" and row["status"] != "active":
        store.enable_subscription(ctx.db, row["id"])
    elif body.status == "disabled" and row["status"] != "disabled":
        store.disable_subscription(ctx.db, row["id"], reason=f"disabled by {principal.actor}", clock=ctx.clock)
    return _model(store.get_subscription(ctx.db, row["id"]))


@router.delete("/webhooks/{webhook_id}", response_model=Deleted, summary="Delete a subscription")
async def delete_webhook(request: Request, webhook_id: str = Path(max_length=32),
                         principal: Principal = Depends(require_principal)) -> Deleted:
    row = _find(request, principal, webhook_id)
    store.delete_subscription(context(request).db, row["id"])
    return Deleted(id=str(row["id"]), deleted=True)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveriesResponse,
            summary="Deliveries to this endpoint, newest first (for debugging a receiver)")
async def list_deliveries(request: Request, webhook_id: str = Path(max_length=32),
                          limit: int = Query(50, ge=1, le=500, description="page size"),
                          cursor: str | None = Query(None, max_length=400, description="next_cursor of the previous page"),
                          principal: Principal = Depends(require_principal)) -> DeliveriesResponse:
    row = _find(request, principal, webhook_id)
    after = decode_cursor(cursor) if cursor else None
    items, next_cursor = list_webhook_deliveries(context(request).db, row["id"], after=after, limit=limit)
    return DeliveriesResponse(deliveries=[_delivery(item) for item in items], next_cursor=next_cursor)


def _delivery(item: dict) -> Delivery:
    try:
        kind = json.loads(item["payload"]).get("type", "")
    except (ValueError, AttributeError):
        kind = ""
    pending = item["status"] in ("pending", "sending")
    return Delivery(
        webhook_id=store.message_id_of(item), type=kind, status=item["status"], attempts=item["attempts"],
        last_error=item["last_error"], created_at=parse_iso(item["created_at"]),
        next_attempt_at=parse_iso(item["next_attempt_at"]) if pending else None,
        delivered_at=parse_iso(item["sent_at"]) if item["sent_at"] else None,
    )
