"""Outbound webhooks: turn what happened into signed deliveries, and deliver them until they land.

Two loops:

- **producer** (`WebhookProducer.step`) reads the syncer's `changes` feed (own cursor in `cursors`)
  and emits `calendar.sync_events` (the affected event ids, one message per calendar per batch);
  it reads the `bots` table for state changes and emits `bot.scheduled`, `bot.status_change`,
  `bot.completed`, `bot.failed`. Each (subscription, event) becomes one `outbox` row of kind
  `webhook` under a deterministic webhook-id, inside one transaction with the cursor move, so a
  crash neither loses nor doubles an event.
- **deliverer** (`WebhookDeliverer.step`) POSTs due rows, signed per Standard Webhooks
  (`webhook-id`, `webhook-timestamp`, `webhook-signature`), retrying with exponential backoff. The
  webhook-id is stable across retries, so receivers can de-duplicate (delivery is at-least-once).
  An endpoint that has failed every delivery for a day is disabled, its pending deliveries are
  cancelled and its owner (the member who created it, else the workspace admins) is told in Slack.

Bot events are level-triggered: the producer re-reads bots changed in the last couple of minutes
and derives each event's key from the bot's state (`bot:<id>:completed`, ...), so re-reading is a
no-op and a late writer is not missed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from datetime import timedelta

from standardwebhooks import Webhook

from bot.context import AppContext
from bot.timeutil import parse_iso, to_iso
from storage import outbox
from storage import webhooks as store

log = logging.getLogger("calbot.webhooks")

CHANGES_CURSOR = "webhooks:changes"
BOTS_CURSOR = "webhooks:bots"
CHANGES_BATCH = 500
BOTS_BATCH = 500
BOTS_MAX_PAGES = 40
BOTS_LOOKBACK = timedelta(minutes=2)

DELIVERY_BATCH = 20
CONCURRENCY = 8
TIMEOUT_SECONDS = 10.0
# Seconds to wait after the n-th failed attempt (then ±20% jitter): a day of failures is about
# nine attempts, and the last retry of a message comes some 30 hours after it was first due.
BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
DISABLE_AFTER = timedelta(days=1)
USER_AGENT = "calbot-webhooks/1"


def message_id(subscription_id: int, event_key: str) -> str:
    """The webhook-id of one event for one subscription: the same on every retry and re-production."""
    digest = hashlib.sha256(f"{subscription_id}|{event_key}".encode()).hexdigest()[:32]
    return f"msg_{digest}"


def backoff(attempts: int) -> timedelta:
    """How long to wait after `attempts` failed attempts."""
    base = BACKOFF_SECONDS[min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1]
    return timedelta(seconds=base * random.uniform(0.8, 1.0))


# -- producer -------------------------------------------------------------------------------

class WebhookProducer:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def step(self) -> bool:
        db = self.ctx.db
        if db.execute("SELECT 1 FROM webhook_subscriptions WHERE status = 'active' LIMIT 1").fetchone() is None:
            self._skip_to_now()
            return False
        more = self.produce_sync_events()
        more = self.produce_bot_events() or more
        if more or store.next_due_at(db):
            self.ctx.engine.poke("webhooks.deliver")
        return more

    def _skip_to_now(self) -> None:
        """Nobody listens: move the cursors on, so a new subscription starts from now."""
        db = self.ctx.db
        last_change = db.execute("SELECT MAX(id) FROM changes").fetchone()[0]
        if last_change is not None and str(last_change) != store.get_cursor(db, CHANGES_CURSOR):
            store.set_cursor(db, CHANGES_CURSOR, str(last_change))
        last_bot = db.execute("SELECT MAX(updated_at) FROM bots").fetchone()[0]
        if last_bot is not None and last_bot != store.get_cursor(db, BOTS_CURSOR):
            store.set_cursor(db, BOTS_CURSOR, last_bot)

    # calendar.sync_events ------------------------------------------------------------------

    def produce_sync_events(self) -> bool:
        db, clock = self.ctx.db, self.ctx.clock
        after = int(store.get_cursor(db, CHANGES_CURSOR) or 0)
        rows = list(db.query(
            "SELECT ch.id, ch.event_id, ch.calendar_id, ch.kind, ch.created_at, "
            "COALESCE(ch.team_id, mem.team_id) AS team, conn.member_id, mem.user_id "
            "FROM changes ch LEFT JOIN calendars c ON c.id = ch.calendar_id "
            "LEFT JOIN connections conn ON conn.id = c.connection_id "
            "LEFT JOIN members mem ON mem.id = conn.member_id "
            "WHERE ch.id > ? ORDER BY ch.id LIMIT ?", [after, CHANGES_BATCH]))
        if not rows:
            return False
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            if row["team"] is not None:
                groups.setdefault((row["team"], row["calendar_id"], row["member_id"], row["user_id"]), []).append(row)
        with store.transaction(db):
            for (team_id, calendar_id, member_id, user_id), changes in groups.items():
                subscriptions = [s for s in store.active_subscriptions(db, team_id, "calendar.sync_events")
                                 if s["member_id"] is None or s["member_id"] == member_id]
                if not subscriptions:
                    continue
                affected = list(dict.fromkeys(str(c["event_id"]) for c in changes if c["event_id"] is not None))
                body = {
                    "type": "calendar.sync_events",
                    "timestamp": changes[-1]["created_at"],
                    "data": {
                        "calendar_id": str(calendar_id) if calendar_id is not None else None,
                        "member": user_id,
                        "affected_event_ids": affected,
                        "changes": [{"event_id": str(c["event_id"]) if c["event_id"] is not None else None,
                                     "kind": c["kind"], "at": c["created_at"]} for c in changes],
                    },
                }
                key = f"sync:{calendar_id}:{changes[0]['id']}-{changes[-1]['id']}"
                for subscription in subscriptions:
                    store.enqueue_delivery(db, subscription=subscription,
                                           message_id=message_id(subscription["id"], key), body=body, clock=clock)
            store.set_cursor(db, CHANGES_CURSOR, str(rows[-1]["id"]))
        return len(rows) == CHANGES_BATCH

    # bot.* ---------------------------------------------------------------------------------

    def produce_bot_events(self) -> bool:
        """Emit the events bots' current states call for, for bots changed since the cursor (less a
        look-back, so a writer that stamped its row a little in the past is not missed)."""
        db = self.ctx.db
        cursor = store.get_cursor(db, BOTS_CURSOR)
        since = to_iso(parse_iso(cursor) - BOTS_LOOKBACK) if cursor else ""
        query = ("SELECT b.*, m.title AS meeting_title, m.start_at AS meeting_start, m.end_at AS meeting_end, "
                 "m.requested_by FROM bots b LEFT JOIN meetings m ON m.id = b.meeting_id WHERE ")
        rows = list(db.query(query + "b.updated_at >= ? ORDER BY b.updated_at, b.id LIMIT ?", [since, BOTS_BATCH]))
        pages = 0
        while rows:
            self._emit_bot_events(rows)
            newest = rows[-1]["updated_at"]
            if cursor is None or newest > cursor:
                cursor = newest
                store.set_cursor(db, BOTS_CURSOR, newest)
            pages += 1
            if len(rows) < BOTS_BATCH or pages >= BOTS_MAX_PAGES:
                break
            last = rows[-1]
            rows = list(db.query(query + "(b.updated_at > ? OR (b.updated_at = ? AND b.id > ?)) "
                                 "ORDER BY b.updated_at, b.id LIMIT ?",
                                 [last["updated_at"], last["updated_at"], last["id"], BOTS_BATCH]))
        return False  # the look-back window is re-read every step; there is never a backlog to chase

    def _emit_bot_events(self, rows: list[dict]) -> None:
        db, clock = self.ctx.db, self.ctx.clock
        with store.transaction(db):
            for bot in rows:
                event = bot_event(bot)
                if event is None:
                    continue
                event_type, key, data = event
                subscriptions = store.active_subscriptions(db, bot["team_id"], event_type)
                if not subscriptions:
                    continue
                members = self._members_of(bot)
                data["event_ids"] = [str(i) for i in self._event_ids(bot)]
                body = {"type": event_type, "timestamp": bot["updated_at"], "data": data}
                for subscription in subscriptions:
                    if subscription["member_id"] is not None and subscription["member_id"] not in members:
                        continue
                    store.enqueue_delivery(db, subscription=subscription,
                                           message_id=message_id(subscription["id"], key), body=body, clock=clock)

    def _event_ids(self, bot: dict) -> list[int]:
        if bot["meeting_id"] is None:
            return []
        return [row[0] for row in self.ctx.db.execute(
            "SELECT id FROM events WHERE meeting_id = ? ORDER BY id", [bot["meeting_id"]])]

    def _members_of(self, bot: dict) -> set[int]:
        """Members whose calendars have this bot's meeting, and whoever asked for it."""
        members = {bot["requested_by"]} if bot["requested_by"] is not None else set()
        if bot["meeting_id"] is not None:
            members.update(row[0] for row in self.ctx.db.execute(
                "SELECT DISTINCT conn.member_id FROM events e JOIN calendars c ON c.id = e.calendar_id "
                "JOIN connections conn ON conn.id = c.connection_id WHERE e.meeting_id = ?", [bot["meeting_id"]]))
        return members


def bot_event(bot: dict) -> tuple[str, str, dict] | None:
    """(event type, stable key, data) that a bot's current state calls for, or None."""
    state = bot["state"]
    data: dict = {
        "bot_id": bot["idempotency_key"],
        "status": state,
        "meeting_url": bot["meeting_url"],
        "join_at": bot["join_at"],
        "meeting": ({"id": str(bot["meeting_id"]), "title": bot["meeting_title"], "start_time": bot["meeting_start"],
                     "end_time": bot["meeting_end"]} if bot["meeting_id"] is not None else None),
    }
    if state == "scheduled":
        url_hash = hashlib.sha256(bot["meeting_url"].encode()).hexdigest()[:12]
        return "bot.scheduled", f"bot:{bot['id']}:scheduled:{bot['join_at']}:{url_hash}", data
    if state in ("joining", "in_call"):
        return "bot.status_change", f"bot:{bot['id']}:status:{state}", data
    if state == "deleted" and bot["recorder_bot_id"]:
        data["status"] = "cancelled"
        return "bot.status_change", f"bot:{bot['id']}:status:cancelled", data
    if state == "completed":
        data["recording"] = _json_dict(bot["recording"])
        return "bot.completed", f"bot:{bot['id']}:completed", data
    if state == "failed":
        data["error"] = bot["last_error"]
        return "bot.failed", f"bot:{bot['id']}:failed", data
    return None


def _json_dict(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- deliverer ------------------------------------------------------------------------------

class WebhookDeliverer:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def step(self) -> bool:
        db = self.ctx.db
        items = store.due_deliveries(db, now=self.ctx.clock.now_iso(), limit=DELIVERY_BATCH)
        if not items:
            return False
        subscriptions = {item["target"]: store.get_subscription(db, int(item["target"])) for item in items}
        limit = asyncio.Semaphore(CONCURRENCY)

        async def deliver(item: dict) -> None:
            async with limit:
                await self.deliver(item, subscriptions[item["target"]])

        await asyncio.gather(*(deliver(item) for item in items))
        return len(items) == DELIVERY_BATCH

    async def deliver(self, item: dict, subscription: dict | None) -> None:
        db, clock = self.ctx.db, self.ctx.clock
        if subscription is None or subscription["status"] != "active":
            store.fail_delivery(db, item["id"], error="subscription gone or disabled")
            return
        msg_id = store.message_id_of(item)
        body = item["payload"]
        now = clock.now()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.ctx.cipher.decrypt(subscription["secret_enc"])).sign(
                msg_id, now, body),
        }
        store.mark_attempt(db, item["id"])
        try:
            response = await self.ctx.http.post(subscription["url"], content=body.encode(), headers=headers,
                                                timeout=TIMEOUT_SECONDS)
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
            result = f"HTTP {response.status_code}"
        except Exception as exc:  # refused, timed out, bad URL: the endpoint's failure, not ours
            error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
            result = None
        self.ctx.metrics.outbox_sent.labels("webhook", "ok" if error is None else "error").inc()
        if error is None:
            store.mark_delivered(db, item["id"], result=result, clock=clock)
            store.record_success(db, subscription["id"], clock=clock)
            return
        self.failed(item, subscription, error)

    def failed(self, item: dict, subscription: dict, error: str) -> None:
        db, clock = self.ctx.db, self.ctx.clock
        now = clock.now()
        failing_since = store.record_failure(db, subscription["id"], error=error, clock=clock)
        if failing_since is not None and now - parse_iso(failing_since) >= DISABLE_AFTER:
            store.retry_delivery(db, item["id"], at=now, error=error)
            if store.disable_subscription(db, subscription["id"], reason=f"failing since {failing_since}: {error}",
                                          clock=clock):
                log.warning("webhook endpoint %s disabled after failing for a day: %s", subscription["id"], error,
                            extra={"team_id": subscription["team_id"], "subscription": subscription["id"]})
                tell_owner_disabled(self.ctx, subscription, error=error, failing_since=failing_since)
            return
        attempts = item["attempts"] + 1
        if attempts >= MAX_ATTEMPTS:
            store.fail_delivery(db, item["id"], error=f"gave up after {attempts} attempts: {error}")
            return
        retry_at = now + backoff(attempts)
        if failing_since is not None:
            # Don't let a long backoff carry a dead endpoint far past its day: the attempt that
            # decides whether to disable it happens when the day is up.
            retry_at = min(retry_at, max(now, parse_iso(failing_since) + DISABLE_AFTER))
        store.retry_delivery(db, item["id"], at=retry_at, error=error)


def tell_owner_disabled(ctx: AppContext, subscription: dict, *, error: str, failing_since: str) -> None:
    """DM whoever owns the endpoint (its creator, else the workspace admins), once per disabling."""
    db = ctx.db
    if subscription["created_by"] is not None:
        owners = [row[0] for row in db.execute("SELECT user_id FROM members WHERE id = ?",
                                               [subscription["created_by"]])]
    else:
        owners = [row[0] for row in db.execute(
            "SELECT user_id FROM members WHERE team_id = ? AND is_admin = 1 ORDER BY id", [subscription["team_id"]])]
    if not owners:
        log.warning("webhook endpoint %s disabled and nobody to tell (no creator, no admin)", subscription["id"])
        return
    text = (f":warning: calbot stopped sending webhooks to {subscription['url']}: every delivery has failed "
            f"since {failing_since} (last error: {error}). Fix the endpoint, then turn it back on with "
            f"`PATCH /api/webhooks/{subscription['id']}` and `{{\"status\": \"active\"}}`.")
    payload = {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
    for user_id in owners:
        outbox.post_message(db, key=f"webhook-disabled:{subscription['id']}:{failing_since}:{user_id}",
                            team_id=subscription["team_id"], kind="slack.dm", target=user_id, payload=payload,
                            clock=ctx.clock)
    ctx.engine.poke("notifier")
