"""Push channels: a Google `events.watch` channel or a Graph subscription per selected calendar.

Level-triggered like every loop: each step compares what should exist (one healthy channel per
selected calendar of an active connection, when push is on) with `push_channels`, and acts:
- no channel, or one expiring within the renewal margin → Graph: renew in place (PATCH);
  Google (channels can't be extended) or a failed renewal: create a new channel first, then
  stop the old one (overlap, so no notification falls in a gap);
- a channel whose calendar was deselected, disconnected or replaced → `stop` it.
Secrets (Google channel token, Graph clientState) are random per channel and stored hashed; the
row is written `pending` (placeholder channel id) before the provider is asked, so a notification
that beats the provider's answer (Google's `sync` message does) is still recognised by its secret.
After a new channel is created the calendar is marked dirty: a change made while no channel
existed is picked up at once. A calendar whose channel can't be made falls back to polling
(the syncer schedules by the polling interval when a calendar has no healthy channel).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx

from bot.calendars.base import AuthRevoked, NotFound, ProviderError, PushChannel
from bot.context import AppContext
from bot.crypto import hash_secret, new_token
from bot.engine.tokens import ConnectionUnavailable, token_keeper
from bot.timeutil import parse_iso, to_iso
from storage import calendars as cal_store

log = logging.getLogger("calbot.push")

# How long we ask channels to live, and how early we renew them.
LIFETIME = {"google": timedelta(days=7), "microsoft": timedelta(minutes=4200)}   # Graph max for events: 4230 min
RENEW_BEFORE = {"google": timedelta(hours=12), "microsoft": timedelta(hours=6)}
FAILURE_BACKOFF = timedelta(minutes=5)
REFUSED_BACKOFF = timedelta(hours=6)
BATCH = 20
PENDING_PREFIX = "pending:"   # channel_id of a row whose watch/subscribe call is still in flight
PENDING_MAX_AGE = timedelta(minutes=10)


def webhook_address(ctx: AppContext, provider: str) -> str:
    return f"{ctx.settings.public_url}/webhooks/{provider}"


class PushManager:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._retry_at: dict[int, str] = {}   # calendar id -> not before (after a failure)

    async def step(self) -> bool:
        did = await self._stop_unwanted()
        if self.ctx.settings.push_enabled:
            did = await self._ensure_channels() or did
        return did

    # -- stopping ------------------------------------------------------------------------------

    def _unwanted(self) -> list[dict]:
        """Channels to stop: marked stopping, or whose calendar is gone, deselected or whose
        connection is no longer active (and every channel when push is off)."""
        push_on = 1 if self.ctx.settings.push_enabled else 0
        # A pending row this old was left by a crash mid-call (a call takes seconds): retire it.
        stale = to_iso(self.ctx.clock.now() - PENDING_MAX_AGE)
        return list(self.ctx.db.query(
            "SELECT p.*, cal.connection_id AS connection_id FROM push_channels p "
            "LEFT JOIN calendars cal ON cal.id = p.calendar_id LEFT JOIN connections c ON c.id = cal.connection_id "
            "WHERE p.status IN ('active', 'pending', 'stopping') AND (p.status = 'stopping' OR cal.id IS NULL "
            "OR cal.selected = 0 OR c.status != 'active' OR :push_on = 0 "
            "OR (p.status = 'pending' AND p.created_at < :stale)) LIMIT :limit",
            {"push_on": push_on, "stale": stale, "limit": BATCH}))

    async def _stop_unwanted(self) -> bool:
        rows = self._unwanted()
        for row in rows:
            await self.stop_channel(row)
        return len(rows) == BATCH

    async def stop_channel(self, row: dict) -> None:
        """Stop one channel at the provider (best effort) and mark it stopped. A channel we can no
        longer authenticate for simply expires at the provider; our webhook ignores it."""
        ctx = self.ctx
        if row["channel_id"].startswith(PENDING_PREFIX):   # never made at the provider (or not yet known)
            ctx.db.execute("UPDATE push_channels SET status = 'stopped' WHERE id = ?", [row["id"]])
            return
        provider = ctx.providers.get(row["provider"])
        connection_id = row.get("connection_id")
        if connection_id is None and row.get("calendar_id") is not None:
            found = ctx.db.execute("SELECT connection_id FROM calendars WHERE id = ?", [row["calendar_id"]]).fetchone()
            connection_id = found[0] if found else None
        if provider is not None and connection_id is not None:
            channel = PushChannel(row["channel_id"], row["resource_id"], parse_iso(row["expires_at"]))
            try:
                await token_keeper(ctx).call(connection_id, lambda token: provider.stop(token, channel))
            except NotFound:
                pass
            except (ConnectionUnavailable, AuthRevoked):
                pass
            except (ProviderError, httpx.HTTPError, asyncio.TimeoutError) as exc:
                expired = row["expires_at"] is None or row["expires_at"] <= ctx.clock.now_iso()
                if getattr(exc, "transient", True) and not expired:
                    log.info("stopping channel %s failed (%s); will retry", row["channel_id"], exc)
                    ctx.db.execute("UPDATE push_channels SET status = 'stopping' WHERE id = ?", [row["id"]])
                    return
                log.info("stopping channel %s failed (%s); leaving it to expire", row["channel_id"], exc)
        ctx.db.execute("UPDATE push_channels SET status = 'stopped' WHERE id = ?", [row["id"]])

    async def stop_calendar_channels(self, calendar_id: int) -> None:
        """Stop a calendar's channels now (disconnect): needs the connection's token, so before it is deleted."""
        rows = list(self.ctx.db.query(
            "SELECT p.*, cal.connection_id AS connection_id FROM push_channels p JOIN calendars cal "
            "ON cal.id = p.calendar_id WHERE p.calendar_id = ? AND p.status IN ('active', 'pending', 'stopping')",
            [calendar_id]))
        for row in rows:
            await self.stop_channel(row)

    # -- creating and renewing -----------------------------------------------------------------

    def _needing_channels(self) -> list[dict]:
        now = self.ctx.clock.now()
        rows = list(self.ctx.db.query(
            "SELECT cal.id, cal.provider_calendar_id, cal.connection_id, c.provider FROM calendars cal "
            "JOIN connections c ON c.id = cal.connection_id WHERE cal.selected = 1 AND c.status = 'active'"))
        needing = []
        for row in rows:
            if row["provider"] not in self.ctx.providers:
                continue
            not_before = self._retry_at.get(row["id"])
            if not_before and not_before > to_iso(now):
                continue
            margin = RENEW_BEFORE.get(row["provider"], timedelta(hours=6))
            healthy = self.ctx.db.execute(
                "SELECT 1 FROM push_channels WHERE calendar_id = ? AND status = 'active' AND expires_at > ? LIMIT 1",
                [row["id"], to_iso(now + margin)]).fetchone()
            if healthy is None:
                needing.append(row)
        return needing

    async def _ensure_channels(self) -> bool:
        needing = self._needing_channels()
        for row in needing[:BATCH]:
            await self.ensure_channel(row)
        return len(needing) > BATCH

    async def ensure_channel(self, calendar: dict) -> bool:
        """Renew or replace the calendar's channel. True when it has a healthy channel after."""
        ctx = self.ctx
        provider = ctx.providers[calendar["provider"]]
        keeper = token_keeper(ctx)
        now = ctx.clock.now()
        expires_at = now + LIFETIME.get(calendar["provider"], timedelta(days=2))
        current = list(ctx.db.query(
            "SELECT * FROM push_channels WHERE calendar_id = ? AND status = 'active' ORDER BY expires_at DESC",
            [calendar["id"]]))
        try:
            # Graph: extend in place. Google answers None (channels can't be extended).
            for row in current:
                channel = PushChannel(row["channel_id"], row["resource_id"], parse_iso(row["expires_at"]))
                try:
                    renewed = await keeper.call(calendar["connection_id"],
                                                lambda token: provider.renew(token, channel, expires_at=expires_at))
                except NotFound:
                    ctx.db.execute("UPDATE push_channels SET status = 'stopped' WHERE id = ?", [row["id"]])
                    continue
                if renewed is not None:
                    ctx.db.execute("UPDATE push_channels SET expires_at = ? WHERE id = ?",
                                   [to_iso(renewed.expires_at), row["id"]])
                    self._retry_at.pop(calendar["id"], None)
                    return True
                break
            secret = new_token(24)
            # The provider may notify before it answers (Google sends its `sync` message at
            # once, and a change can land just after creation): a `pending` row with the
            # secret's hash lets the webhook recognise those before the channel id is known.
            pending = ctx.db.execute(
                "INSERT INTO push_channels (calendar_id, provider, channel_id, secret_hash, status, created_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?)",
                [calendar["id"], calendar["provider"], f"{PENDING_PREFIX}{new_token(12)}", hash_secret(secret),
                 ctx.clock.now_iso()]).lastrowid
            try:
                created = await keeper.call(calendar["connection_id"], lambda token: provider.watch(
                    token, calendar["provider_calendar_id"], address=webhook_address(ctx, calendar["provider"]),
                    secret=secret, expires_at=expires_at,
                    lifecycle_address=webhook_address(ctx, calendar["provider"])
                    if calendar["provider"] == "microsoft" else None))
            except BaseException:
                ctx.db.execute("DELETE FROM push_channels WHERE id = ?", [pending])
                raise
        except (ConnectionUnavailable, AuthRevoked):
            return False
        except (ProviderError, httpx.HTTPError, asyncio.TimeoutError) as exc:
            # Transient: try again soon. Refused (e.g. Graph won't subscribe to a calendar shared
            # from another mailbox): ask again much later. Either way the calendar polls meanwhile.
            permanent = isinstance(exc, ProviderError) and not exc.transient
            self._retry_at[calendar["id"]] = to_iso(now + (REFUSED_BACKOFF if permanent else FAILURE_BACKOFF))
            poll_at = to_iso(now + timedelta(seconds=ctx.settings.calbot_poll_seconds))
            ctx.db.execute("UPDATE calendars SET next_sync_at = ? WHERE id = ? AND "
                           "(next_sync_at IS NULL OR next_sync_at > ?)", [poll_at, calendar["id"], poll_at])
            log.warning("push channel for calendar %s could not be set up (%s); polling meanwhile",
                        calendar["id"], exc, extra={"calendar_id": calendar["id"]})
            return False
        stamp = ctx.clock.now_iso()
        known = ctx.db.execute("SELECT 1 FROM push_channels WHERE channel_id = ?", [created.channel_id]).fetchone()
        promoted = known is None and ctx.db.execute(
            "UPDATE push_channels SET channel_id = ?, resource_id = ?, status = 'active', expires_at = ?, "
            "created_at = ? WHERE id = ? AND status = 'pending'",
            [created.channel_id, created.resource_id, to_iso(created.expires_at), stamp, pending]).rowcount == 1
        if not promoted:
            # The channel id is already known, or the pending row was withdrawn meanwhile (the
            # calendar deselected): record the channel (to be stopped by the next step if unwanted).
            ctx.db.execute("DELETE FROM push_channels WHERE id = ?", [pending])
            ctx.db.execute(
                "INSERT INTO push_channels (calendar_id, provider, channel_id, resource_id, secret_hash, status, "
                "expires_at, created_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?) ON CONFLICT (channel_id) DO UPDATE SET "
                "secret_hash = excluded.secret_hash, status = 'active', expires_at = excluded.expires_at",
                [calendar["id"], calendar["provider"], created.channel_id, created.resource_id, hash_secret(secret),
                 to_iso(created.expires_at), stamp])
        # The old channels overlap until now; stop them (next step), and sync once in case a
        # change slipped between the old channel's end and the new one's start.
        for row in current:
            if row["channel_id"] != created.channel_id:
                ctx.db.execute("UPDATE push_channels SET status = 'stopping' WHERE id = ? AND status = 'active'",
                               [row["id"]])
        cal_store.mark_dirty(ctx.db, calendar["id"], now=stamp)
        self._retry_at.pop(calendar["id"], None)
        ctx.engine.poke("syncer")
        if current:
            ctx.engine.poke("push")
        return True
