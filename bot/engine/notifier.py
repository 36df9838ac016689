"""The notifier: makes Slack match the outbox — posts new messages, applies edits, once each.

Etiquette: at most one message per second per channel (Slack's guidance), 429 `Retry-After`
honoured, permanent errors (channel gone, app uninstalled) stop retries instead of looping.
Every post carries our key in Slack message metadata; after a crash between Slack's reply and
our write (status 'sending'), we look for that key in the channel before posting again, so a
crash does not post the same notice twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from bot.context import AppContext
from bot.timeutil import parse_iso
from storage import outbox

log = logging.getLogger("calbot.notifier")

PACE_SECONDS = 1.0
MAX_ATTEMPTS = 8
METADATA_EVENT = "calbot_message"
PERMANENT_ERRORS = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive",
    "token_revoked", "no_permission", "user_not_found", "cannot_dm_bot", "msg_too_long",
    "invalid_blocks", "message_not_found", "cant_update_message", "edit_window_closed",
    "not_authed", "team_access_not_granted", "restricted_action", "missing_scope",
}


class Notifier:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._last_post: dict[str, float] = {}

    async def step(self) -> bool:
        items = outbox.due_slack_messages(self.ctx.db, now=self.ctx.clock.now_iso())
        self.ctx.metrics.outbox_pending.set(outbox.pending_count(self.ctx.db))
        if not items:
            return False
        delivered = paced = False
        for item in items:
            lane = item["channel"] or item["target"]
            wait = self._last_post.get(lane, 0.0) + PACE_SECONDS - time.monotonic()
            if wait > 0:
                paced = True
                continue
            await self.deliver(item)
            self._last_post[lane] = time.monotonic()
            delivered = True
        if paced and not delivered:
            await asyncio.sleep(0.2)
        return True

    async def deliver(self, item: dict) -> None:
        db, clock = self.ctx.db, self.ctx.clock
        client = await self.ctx.slack.client_for(item["team_id"]) if self.ctx.slack else None
        if client is None:
            outbox.give_up(db, item, error="Slack is not configured or calbot is not installed in this workspace")
            return
        payload = json.loads(item["payload"])
        try:
            if item["status"] == "sent":
                await client.chat_update(channel=item["channel"], ts=item["message_ts"], **_content(payload))
                outbox.mark_updated(db, item)
                self.ctx.metrics.outbox_sent.labels("update", "ok").inc()
                return
            channel = await self._channel_for(client, item)
            if item["status"] == "sending":
                ts = await self._already_posted(client, channel, item)
                if ts is not None:
                    outbox.mark_posted(db, item, channel=channel, ts=ts, clock=clock)
                    return
            outbox.mark_sending(db, item["id"])
            response = await client.chat_postMessage(
                channel=channel, unfurl_links=False, unfurl_media=False,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"key": item["dedup_key"]}},
                **_content(payload),
            )
            outbox.mark_posted(db, item, channel=response["channel"], ts=response["ts"], clock=clock)
            self.ctx.metrics.outbox_sent.labels(item["kind"], "ok").inc()
        except SlackApiError as exc:
            self._failed(item, exc.response.status_code, exc.response.get("error") or str(exc),
                         exc.response.headers.get("retry-after") or exc.response.headers.get("Retry-After"))
        except Exception as exc:  # network trouble, timeouts: try again later
            self._failed(item, None, f"{type(exc).__name__}: {exc}", None)

    def _failed(self, item: dict, status: int | None, error: str, retry_after) -> None:
        db, now = self.ctx.db, self.ctx.clock.now()
        self.ctx.metrics.outbox_sent.labels(item["kind"], "error").inc()
        attempts = db["outbox"].get(item["id"])["attempts"]
        if status == 429 or error == "ratelimited":
            delay = float(retry_after or 1)
            outbox.retry_later(db, item, at=now + timedelta(seconds=delay), error="rate limited by Slack")
            return
        if error in PERMANENT_ERRORS or attempts >= MAX_ATTEMPTS:
            log.warning("giving up on Slack message %s: %s", item["dedup_key"], error,
                        extra={"key": item["dedup_key"], "team_id": item["team_id"]})
            outbox.give_up(db, item, error=error)
            return
        delay = min(600.0, 2 ** attempts) * random.uniform(0.5, 1.0)
        outbox.retry_later(db, item, at=now + timedelta(seconds=delay), error=error)

    async def _channel_for(self, client, item: dict) -> str:
        """The channel id to post in; for a DM, the member's IM channel (opened once, cached)."""
        if item["kind"] != "slack.dm":
            return item["target"]
        row = self.ctx.db.execute(
            "SELECT dm_channel FROM members WHERE team_id = ? AND user_id = ?", [item["team_id"], item["target"]]
        ).fetchone()
        if row and row[0]:
            return row[0]
        response = await client.conversations_open(users=item["target"])
        channel = response["channel"]["id"]
        self.ctx.db.execute("UPDATE members SET dm_channel = ? WHERE team_id = ? AND user_id = ?",
                            [channel, item["team_id"], item["target"]])
        return channel

    async def _already_posted(self, client, channel: str, item: dict) -> str | None:
        """After a crash mid-post: the ts of our message with this key, if Slack has it."""
        oldest = parse_iso(item["created_at"]).timestamp() - 5
        try:
            response = await client.conversations_history(channel=channel, oldest=f"{oldest:.6f}",
                                                          include_all_metadata=True, limit=100)
        except SlackApiError:
            return None  # can't tell (e.g. no history scope here): posting again is the lesser harm
        for message in response.get("messages", []):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == METADATA_EVENT and \
                    (metadata.get("event_payload") or {}).get("key") == item["dedup_key"]:
                return message["ts"]
        return None


def _content(payload: dict) -> dict:
    content = {"text": payload.get("text", "")}
    if payload.get("blocks"):
        content["blocks"] = payload["blocks"]
    return content
