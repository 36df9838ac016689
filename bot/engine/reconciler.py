"""The reconciler loop: makes the recorder's scheduled bots match the meetings' desired state.

Level-triggered and crash-safe:
- A meeting that should be recorded and has no live bot gets a bot row (`pending`) first.
- Before calling the recorder, the intent is committed (`creating`, `updating`, `deleting`).
  A bot left `creating` by a crash or a timeout is looked up by its key in the recorder's
  `extra` before anything is created again — so there is never a second bot.
- Moves → PATCH; inside the recorder's lock window → delete + create if it lets us, else the
  member is told. Link changes → the old bot is deleted and a new one created. No longer wanted
  (cancelled, declined, skipped, link removed) → DELETE.
- Rate limits, 5xx and timeouts → retry later with backoff. Refusals: a refused create marks the
  bot failed; a refused move or cancel is retried slowly (the key may be fixed, the meeting may
  change again). Either way the member is told once, not once per retry.
Recorder calls are awaited outside any transaction; each state change is its own short write.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timedelta

from bot.context import AppContext
from bot.engine.notices import notify
from bot.recorder.base import BotConfig, RecorderError, RecorderLocked, RecorderNotFound, RecorderRateLimited
from bot.timeutil import parse_iso, to_iso
from storage import bots as store
from storage.events import transaction
from storage.meetings import get_meeting

log = logging.getLogger("calbot.reconciler")

BATCH = 20
LEAD_TIME = timedelta(seconds=70)   # the recorder wants join_at at least a minute ahead
CREATE_SETTLE = timedelta(seconds=90)  # > the HTTP client's 20 s timeout, with a wide margin
WORKING = ",".join(f"'{s}'" for s in store.WORKING_STATES)


class Reconciler:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def step(self) -> bool:
        if self.ctx.recorder is None:
            return False  # no MEETINGBAAS_API_KEY: desired bots wait, and Slack says why
        now = self.ctx.clock.now()
        self._add_missing_bots(now)
        bots = self._bots_out_of_step(now)
        for bot in bots:
            await self.reconcile(bot, now)
        return len(bots) == BATCH

    # -- what needs doing ------------------------------------------------------------------

    def _add_missing_bots(self, now: datetime) -> None:
        db = self.ctx.db
        with transaction(db):
            for meeting in store.meetings_needing_a_bot(db, now=to_iso(now), limit=100):
                store.create_bot(db, self.ctx.cipher, team_id=meeting["team_id"], meeting_id=meeting["id"],
                                 meeting_url=meeting["meeting_url"], join_at=meeting["start_at"],
                                 config=json.loads(meeting["bot_config"] or "{}"), clock=self.ctx.clock)

    def _bots_out_of_step(self, now: datetime) -> list[dict]:
        """Bots the reconciler must act on: any not yet settled, and settled ones whose meeting
        changed (the comparison is the level trigger — no flag to forget to set)."""
        return list(self.ctx.db.query(
            f"SELECT b.* FROM bots b LEFT JOIN meetings mt ON mt.id = b.meeting_id "
            f"WHERE b.state IN ({WORKING}) AND (b.next_attempt_at IS NULL OR b.next_attempt_at <= ?) "
            "AND NOT (b.state = 'scheduled' AND mt.desired = 'record' AND mt.meeting_url = b.meeting_url "
            "AND ((mt.start_at = b.join_at AND mt.bot_config = b.config) OR mt.start_at <= ?)) "
            "ORDER BY b.join_at LIMIT ?", [to_iso(now), to_iso(now), BATCH]))

    # -- one bot ---------------------------------------------------------------------------

    async def reconcile(self, bot: dict, now: datetime) -> None:
        meeting = get_meeting(self.ctx.db, bot["meeting_id"]) if bot["meeting_id"] else None
        wanted = meeting is not None and meeting["desired"] == "record" and bool(meeting["meeting_url"])
        try:
            state = bot["state"]
            if state == "creating":
                found = await self.ctx.recorder.find_by_key(store.recorder_key(bot))
                if found is not None:
                    # Adopted; the next step compares it with the meeting. The create's own write
                    # (and its notice) never happened, so the member hears about it now.
                    news = self._news(bot, meeting)
                    with transaction(self.ctx.db):
                        self._set(bot, state="scheduled", recorder_bot_id=found.bot_id, attempts=0, last_error=None,
                                  **self._adopted(found, meeting, now))
                        if news and wanted:
                            notify(self.ctx, meeting, news, reason=meeting["reason"])
                    return
                state = "pending"
            if state == "pending":
                if wanted and parse_iso(meeting["end_at"]) > now:
                    await self._create(bot, meeting, now)
                else:
                    self._set(bot, state="deleted")
                return
            if not wanted:
                await self._cancel(bot, meeting, now)
            elif state == "deleting":
                # Still wanted: a relink whose DELETE got no clear answer. Finish it (an already
                # deleted bot counts as deleted) rather than cancelling and starting a new bot row.
                await self._relink(bot, meeting, now)
            elif parse_iso(meeting["start_at"]) <= now:
                # Under way: the bot is the recorder's now; its callbacks tell us what happens.
                self._set(bot, state="scheduled", next_attempt_at=meeting["end_at"])
            elif meeting["meeting_url"] != bot["meeting_url"]:
                await self._relink(bot, meeting, now)
            else:
                await self._reschedule(bot, meeting, now)
        except RecorderError as exc:
            self._failed_call(bot, meeting, exc, now)

    async def _create(self, bot: dict, meeting: dict, now: datetime) -> None:
        news = self._news(bot, meeting)  # before the row takes the meeting's link and time
        self._set(bot, state="creating", attempts=bot["attempts"] + 1)
        recorder_id = await self.ctx.recorder.schedule(
            meeting_url=meeting["meeting_url"], join_at=self._join_time(meeting, now), config=self._config(bot, meeting),
            idempotency_key=store.recorder_key(bot),
            callback_url=f"{self.ctx.settings.public_url}/webhooks/meetingbaas",
            callback_secret=self.ctx.cipher.decrypt(bot["callback_secret_enc"]))
        with transaction(self.ctx.db):
            self._set(bot, state="scheduled", recorder_bot_id=recorder_id, meeting_url=meeting["meeting_url"],
                      join_at=meeting["start_at"], config=meeting["bot_config"], attempts=0, last_error=None)
            if news:
                notify(self.ctx, meeting, news, reason=meeting["reason"])
        self.ctx.metrics.bots.labels("schedule", "ok").inc()

    async def _reschedule(self, bot: dict, meeting: dict, now: datetime) -> None:
        moved = meeting["start_at"] != bot["join_at"]
        self._set(bot, state="updating", attempts=bot["attempts"] + 1)
        try:
            await self.ctx.recorder.reschedule(bot["recorder_bot_id"], join_at=self._join_time(meeting, now),
                                               meeting_url=meeting["meeting_url"], config=self._config(bot, meeting))
        except RecorderLocked:
            await self._replace_locked(bot, meeting, now)
            return
        except RecorderNotFound:
            await self._start_over(bot, meeting, now)  # the recorder lost it: make a new one
            return
        with transaction(self.ctx.db):
            self._set(bot, state="scheduled", join_at=meeting["start_at"], config=meeting["bot_config"],
                      attempts=0, last_error=None)
            if moved:
                notify(self.ctx, meeting, "rescheduled")
        self.ctx.metrics.bots.labels("reschedule", "ok").inc()

    async def _replace_locked(self, bot: dict, meeting: dict, now: datetime) -> None:
        """Inside the lock window a bot can't be moved; delete it and make a new one if the
        recorder still allows deleting, else say so and leave it."""
        try:
            await self.ctx.recorder.cancel(bot["recorder_bot_id"])
        except RecorderLocked as exc:
            with transaction(self.ctx.db):
                self._set(bot, state="scheduled", join_at=meeting["start_at"], last_error=str(exc),
                          next_attempt_at=meeting["end_at"])
                notify(self.ctx, meeting, "cant_move", reason="the recorder no longer accepts changes")
            return
        await self._start_over(bot, meeting, now)

    async def _relink(self, bot: dict, meeting: dict, now: datetime) -> None:
        self._set(bot, state="deleting", attempts=bot["attempts"] + 1)
        try:
            await self.ctx.recorder.cancel(bot["recorder_bot_id"])
        except RecorderNotFound:
            pass
        except RecorderLocked as exc:
            with transaction(self.ctx.db):
                self._set(bot, state="scheduled", last_error=str(exc), next_attempt_at=meeting["end_at"])
                notify(self.ctx, meeting, "cant_move", reason="the old link's bot can no longer be changed")
            return
        await self._start_over(bot, meeting, now)

    async def _start_over(self, bot: dict, meeting: dict, now: datetime) -> None:
        """Same bot (same public id), new recorder bot under a new key — created right away, so
        the meeting is without a bot for one call, not until the next step. The row keeps the old
        link and time until the create succeeds: they say what the notice should call news."""
        self._set(bot, state="pending", recorder_bot_id=None, generation=bot["generation"] + 1, attempts=0,
                  next_attempt_at=None)
        await self._create(bot, meeting, now)

    async def _cancel(self, bot: dict, meeting: dict | None, now: datetime) -> None:
        self._set(bot, state="deleting", attempts=bot["attempts"] + 1)
        try:
            if bot["recorder_bot_id"]:
                await self.ctx.recorder.cancel(bot["recorder_bot_id"])
        except RecorderNotFound:
            pass
        except RecorderLocked as exc:
            with transaction(self.ctx.db):
                end = meeting["end_at"] if meeting else to_iso(now + timedelta(hours=2))
                self._set(bot, state="scheduled", last_error=str(exc), next_attempt_at=end)
                notify(self.ctx, meeting, "cant_cancel", reason=meeting["reason"] if meeting else "")
            return
        with transaction(self.ctx.db):
            self._set(bot, state="deleted", attempts=0, last_error=None)
            if bot["recorder_bot_id"]:
                notify(self.ctx, meeting, "cancelled",
                       reason=meeting["reason"] if meeting else "the meeting is no longer on any calendar")
        self.ctx.metrics.bots.labels("cancel", "ok").inc()

    def _failed_call(self, bot: dict, meeting: dict | None, exc: RecorderError, now: datetime) -> None:
        fresh = store.get_bot(self.ctx.db, bot["id"])
        self.ctx.metrics.bots.labels(fresh["state"], "error").inc()
        if exc.transient:
            delay = exc.retry_after if exc.retry_after is not None else \
                min(600.0, 5 * 2 ** min(fresh["attempts"], 7)) * random.uniform(0.5, 1.0)
            # A failed create stays `creating`: the bot may exist after all, so it is looked up first
            # — but not before a request the recorder may still be working on has had time to land,
            # or the lookup finds nothing and a second bot is made. (A 429 was not processed.)
            if fresh["state"] == "creating" and not isinstance(exc, RecorderRateLimited):
                delay = max(delay, CREATE_SETTLE.total_seconds())
            state = {"updating": "scheduled"}.get(fresh["state"], fresh["state"])
            self._set(bot, state=state, last_error=str(exc), next_attempt_at=to_iso(now + timedelta(seconds=delay)))
            log.info("recorder call for bot %s failed, retrying in %.0fs: %s", bot["id"], delay, exc)
            return
        log.warning("recorder refused bot %s: %s", bot["id"], exc)
        reason = f"Meeting BaaS refused it: {exc}"
        with transaction(self.ctx.db):
            if fresh["state"] in ("creating", "pending"):
                self._set(bot, state="failed", last_error=str(exc))  # final: said once
                notify(self.ctx, meeting, "failed", reason=reason)
                return
            # A refused move or cancel leaves a bot that will join at the wrong time, link, or
            # at all: try again slowly (the API key may be fixed, the meeting may change again).
            delay = min(3600.0, 60 * 2 ** min(fresh["attempts"], 6))
            self._set(bot, state="scheduled" if fresh["recorder_bot_id"] else "failed", last_error=str(exc),
                      next_attempt_at=to_iso(now + timedelta(seconds=delay)))
            # Once per problem: a retry that fails the same way is no news.
            if str(exc) != fresh["last_error"]:
                wanted = meeting is not None and meeting["desired"] == "record" and bool(meeting["meeting_url"])
                notify(self.ctx, meeting, "change_failed" if wanted else "cancel_failed", reason=reason)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _news(bot: dict, meeting: dict | None) -> str | None:
        """What a (re-)created bot means to the member, from the row's last link and time."""
        if meeting is None:
            return None
        if not bot["generation"]:
            return "scheduled"
        if bot["meeting_url"] != meeting["meeting_url"]:
            return "relinked"
        if bot["join_at"] != meeting["start_at"]:
            return "rescheduled"
        return None  # the recorder lost it and we replaced it: nothing changed for the member

    def _adopted(self, found, meeting: dict | None, now: datetime) -> dict:
        """The link and time an adopted bot's row should hold: the meeting's, where the
        recorder's bot already has them (no needless PATCH), else the recorder's own, so that the
        next step sees the difference and fixes it."""
        fields = {"meeting_url": found.meeting_url, "join_at": to_iso(found.join_at)}
        if meeting is None:
            return fields
        start = parse_iso(meeting["start_at"])
        # About to start: the bot joins as soon as the recorder allows, which is later than the start.
        if found.join_at == start or (start <= found.join_at and start <= now + LEAD_TIME):
            fields["join_at"] = meeting["start_at"]
        return fields

    def _set(self, bot: dict, **fields) -> None:
        store.update_bot(self.ctx.db, bot["id"], clock=self.ctx.clock, **fields)
        bot.update(fields)

    def _join_time(self, meeting: dict, now: datetime) -> datetime:
        """The meeting's start — or, for a meeting already under way, as soon as the recorder allows."""
        return max(parse_iso(meeting["start_at"]), now + LEAD_TIME)

    def _config(self, bot: dict, meeting: dict) -> BotConfig:
        config = json.loads(meeting["bot_config"] or "{}")
        return BotConfig(
            bot_name=config.get("bot_name") or "calbot recorder",
            entry_message=config.get("entry_message"),
            recording_mode=config.get("recording_mode") or "speaker_view",
            speech_to_text="gladia" if config.get("speech_to_text", True) else None,
            extra={"calbot_team": bot["team_id"], "calbot_bot": bot["idempotency_key"]},
        )

