"""What the recorder tells us about a bot (callbacks, webhooks), applied once and in order.

Deliveries may be duplicated and arrive out of order: a state only moves forward (scheduled →
joining → in call → completed/failed), so a late "joining" never undoes "completed", and a
repeated "completed" changes nothing and posts no second notice.
"""

from __future__ import annotations

import json

from bot.context import AppContext
from bot.engine.notices import notify
from bot.recorder.base import BotEvent
from storage import bots as store
from storage.events import transaction
from storage.meetings import get_meeting

_RANK = {"pending": 0, "creating": 0, "scheduled": 0, "updating": 0, "deleting": 0, "deleted": 0,
         "joining": 1, "in_call": 2, "completed": 3, "failed": 3}
_STATE_OF_KIND = {"joining": "joining", "in_call": "in_call", "completed": "completed", "failed": "failed",
                  "refused": "failed"}


def find_bot(ctx: AppContext, event: BotEvent) -> dict | None:
    bot = store.find_by_recorder_id(ctx.db, event.bot_id)
    if bot is None and event.extra.get("calbot_bot"):
        bot = store.find_by_public_id(ctx.db, str(event.extra["calbot_bot"]))
    return bot


def apply_bot_event(ctx: AppContext, event: BotEvent) -> bool:
    """Record what the recorder says; True when something changed (and people were told)."""
    db = ctx.db
    with transaction(db):
        bot = find_bot(ctx, event)
        if bot is None:
            return False
        meeting = get_meeting(db, bot["meeting_id"]) if bot["meeting_id"] else None
        new_state = _STATE_OF_KIND.get(event.kind)
        if new_state is None:
            # "Removed" is news but no state of its own (a completion or failure follows); the
            # reason is kept so that a redelivery, even hours later, is not told twice.
            if event.kind == "removed" and bot["state"] not in ("completed", "failed") \
                    and bot["last_error"] != event.reason:
                store.update_bot(db, bot["id"], clock=ctx.clock, last_error=event.reason)
                notify(ctx, meeting, "removed", reason=event.reason or "")
                return True
            return False
        if _RANK[new_state] <= _RANK[bot["state"]]:
            return False  # a duplicate or a late arrival: what we know is newer
        fields: dict = {"state": new_state}
        if new_state == "completed":
            fields["recording"] = {k: v for k, v in (("video", event.video_url), ("transcript", event.transcript_url),
                                                     ("audio", event.audio_url)) if v}
        if new_state == "failed":
            fields["last_error"] = event.reason
        if bot["recorder_bot_id"] is None:
            fields["recorder_bot_id"] = event.bot_id
        store.update_bot(db, bot["id"], clock=ctx.clock, **fields)
        kind = "refused" if event.kind == "refused" else new_state
        if kind == "failed" and event.reason and event.reason == bot["last_error"]:
            return True  # "removed" already said this ("someone removed the bot"), in these words
        notify(ctx, meeting, kind, reason=event.reason or "", video_url=event.video_url,
               transcript_url=event.transcript_url)
    return True


def recording_links(bot: dict) -> dict:
    return json.loads(bot.get("recording") or "{}")
