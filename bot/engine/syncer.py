"""The syncer: makes the `events` table match each selected calendar, and writes the change feed.

Per calendar (`sync_calendar`):
- **Window** — 1 day back to CALBOT_SYNC_DAYS ahead, in whole UTC days. When the day turns the
  window rolls: a full resync of the new window (surviving events keep their rows; those that
  aged out are dropped quietly).
- **Full sync** pages to the provider's sync token (Google nextSyncToken, Graph deltaLink);
  every event seen is stamped with the sync's generation, and after the last page the events
  not seen are deleted (with `deleted` changes). Then **incremental** syncs from the token.
  `SyncTokenExpired` (410) → a full sync again — decisions are keyed by stable subjects and
  surviving events keep their row ids, so nothing attached to them is lost.
- **Crash-safe paging** — each page is written in one transaction together with the next page
  token, so a crash (or cancellation) between pages resumes where it stopped; the sync token is
  replaced only when the last page is stored.
- **Errors** — rate limits, 5xx and timeouts back off this calendar only (Retry-After when the
  provider says, else exponential with jitter); 401 refreshes the token once; a revoked grant
  turns the connection to `needs_reauth` (one DM) and its calendars stop syncing.

The loop (`step`) starts a task per due calendar (dirty from a push, scheduled by the poll /
sweep timer, never synced, or interrupted mid-listing), at most `concurrency` at a time, and
returns as soon as any finishes — a slow calendar never holds up the others. Bursts of push
notifications coalesce: a notification only sets `dirty_at`; the sync clears it when it starts,
so notifications during a sync cause exactly one more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx

from bot.calendars.base import (
    AuthRevoked,
    EventContext,
    NotFound,
    ProviderError,
    SyncTokenExpired,
)
from bot.context import AppContext
from bot.engine.tokens import ConnectionUnavailable, token_keeper
from bot.errors import reference_id
from bot.timeutil import parse_iso, to_iso
from storage import calendars as cal_store
from storage import events as event_store
from storage.connections import purge_oauth_states

log = logging.getLogger("calbot.syncer")

SWEEP_SECONDS = 1800          # even with healthy push, every calendar is re-listed this often
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 1800.0
CALL_TIMEOUT_SECONDS = 90.0   # one provider call, end to end (the HTTP client has its own)
MAX_TOKEN_RESETS = 2          # SyncTokenExpired restarts within one run before giving up
YIELD_EVERY = 50              # events normalized between yields to the event loop


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def start_iso(self) -> str:
        return to_iso(self.start)

    @property
    def end_iso(self) -> str:
        return to_iso(self.end)


def sync_window(now: datetime, days_ahead: int) -> Window:
    """1 day back to `days_ahead` ahead, in whole UTC days (so it changes once a day)."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(today - timedelta(days=1), today + timedelta(days=days_ahead + 1))


def backoff_seconds(failures: int, retry_after: float | None = None) -> float:
    """Retry-After when the provider said (plus a little jitter), else exponential with full jitter."""
    if retry_after is not None:
        return max(1.0, retry_after) + random.uniform(0, 1.0)
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * (2 ** min(failures - 1, 12)))
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class SyncResult:
    calendar_id: int
    kind: str = "incremental"          # full / incremental / resume
    result: str = "ok"                  # ok / error / revoked / skipped / expired
    pages: int = 0
    outcome: event_store.PageOutcome | None = None
    error: str | None = None


class Syncer:
    def __init__(self, ctx: AppContext, *, concurrency: int = 8, sweep_seconds: float = SWEEP_SECONDS):
        self.ctx = ctx
        self.concurrency = concurrency
        self.sweep_seconds = sweep_seconds
        self._running: dict[int, asyncio.Task] = {}
        self._gauged_at = float("-inf")

    # -- the loop ------------------------------------------------------------------------------

    async def step(self) -> bool:
        self._reap()
        self._housekeeping()
        try:
            self._start_due()
            if not self._running:
                return False
            await asyncio.wait(list(self._running.values()), timeout=0.25, return_when=asyncio.FIRST_COMPLETED)
            self._reap()
            return True
        except asyncio.CancelledError:
            await self.cancel()
            raise

    def _housekeeping(self) -> None:
        """At most every 30 s: connections by status for /metrics; forget day-old OAuth states."""
        now = time.monotonic()
        if now - self._gauged_at < 30:
            return
        self._gauged_at = now
        purge_oauth_states(self.ctx.db, clock=self.ctx.clock)
        counts = dict(self.ctx.db.execute("SELECT status, COUNT(*) FROM connections GROUP BY status").fetchall())
        for status in ("active", "needs_reauth", "error", "disconnected"):
            self.ctx.metrics.connections.labels(status).set(counts.get(status, 0))

    async def cancel(self) -> None:
        """Stop every running calendar sync (shutdown). Each resumes from its page token later."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    async def sync_due(self) -> list[SyncResult]:
        """Sync every due calendar now and wait for all (tests, `calbot check`)."""
        due = cal_store.due_calendars(self.ctx.db, now=self.ctx.clock.now_iso(), limit=10_000)
        sem = asyncio.Semaphore(self.concurrency)

        async def one(calendar_id: int) -> SyncResult:
            async with sem:
                return await self.sync_calendar(calendar_id)

        return list(await asyncio.gather(*(one(c["id"]) for c in due)))

    def _start_due(self) -> None:
        free = self.concurrency - len(self._running)
        if free <= 0:
            return
        due = cal_store.due_calendars(self.ctx.db, now=self.ctx.clock.now_iso(), exclude=set(self._running),
                                      limit=free)
        for calendar in due:
            self._running[calendar["id"]] = asyncio.create_task(
                self.sync_calendar(calendar["id"]), name=f"sync:calendar:{calendar['id']}")

    def _reap(self) -> None:
        for calendar_id, task in list(self._running.items()):
            if task.done():
                del self._running[calendar_id]
                if not task.cancelled() and task.exception() is not None:
                    exc = task.exception()
                    log.error("sync of calendar %s crashed: %s", calendar_id, exc, exc_info=exc,
                              extra={"ref": reference_id(), "calendar_id": calendar_id})

    # -- one calendar --------------------------------------------------------------------------

    async def sync_calendar(self, calendar_id: int) -> SyncResult:
        ctx = self.ctx
        result = SyncResult(calendar_id)
        calendar = cal_store.get_calendar(ctx.db, calendar_id)
        if calendar is None or not calendar["selected"] or calendar["connection_status"] != "active":
            result.result = "skipped"
            return result
        provider = ctx.providers.get(calendar["provider"])
        if provider is None:
            now = ctx.clock.now()
            cal_store.record_failure(ctx.db, calendar_id, error=f"{calendar['provider']} is not configured",
                                     backoff_until=to_iso(now + timedelta(hours=1)), now=to_iso(now))
            result.result = "skipped"
            return result
        cal_store.begin_sync(ctx.db, calendar_id)
        started = time.perf_counter()
        try:
            await self._run_listing(calendar, provider, result)
        except asyncio.CancelledError:
            # Shutdown or a crash drill: the page token is stored; the calendar stays due.
            cal_store.mark_dirty(ctx.db, calendar_id, now=ctx.clock.now_iso())
            raise
        except ConnectionUnavailable as exc:
            result.result, result.error = "skipped", str(exc)
        except AuthRevoked as exc:
            result.result, result.error = "revoked", str(exc)
        except (ProviderError, httpx.HTTPError, asyncio.TimeoutError) as exc:
            self._failed(calendar, exc, result)
        except Exception as exc:  # a bug must not stop other calendars: back off and log with a ref
            ref = reference_id()
            log.error("sync of calendar %s failed: %s", calendar_id, exc, exc_info=exc,
                      extra={"ref": ref, "calendar_id": calendar_id})
            self._failed(calendar, exc, result)
        ctx.metrics.sync_runs.labels(calendar["provider"], result.kind, result.result).inc()
        if result.outcome is not None and result.outcome.written:
            ctx.metrics.sync_events.labels(calendar["provider"]).inc(result.outcome.written)
        log.debug("synced calendar %s: %s %s in %.3fs", calendar_id, result.kind, result.result,
                  time.perf_counter() - started)
        return result

    async def _run_listing(self, calendar: dict, provider, result: SyncResult) -> None:
        ctx = self.ctx
        calendar_id = calendar["id"]
        keeper = token_keeper(ctx)
        window = sync_window(ctx.clock.now(), ctx.settings.calbot_sync_days)
        context = self._event_context(calendar)
        outcome = event_store.PageOutcome()
        result.outcome = outcome

        sync_token = calendar["sync_token"]
        page_token = calendar["page_token"]
        generation = calendar["sync_generation"]
        if sync_token is not None and page_token is None and calendar["window_start"] != window.start_iso:
            sync_token = None  # the day turned: roll the window with a full resync
        if sync_token is None and page_token is None:
            generation = cal_store.begin_full_sync(ctx.db, calendar_id, window_start=window.start, window_end=window.end)
            window_start, window_end = window.start_iso, window.end_iso
            result.kind = "full"
        else:
            window_start = calendar["window_start"] or window.start_iso
            window_end = calendar["window_end"] or window.end_iso
            result.kind = "resume" if page_token else "incremental"
        resets = 0
        # A resumed listing is a snapshot from before the interruption, which may be long ago:
        # once it completes, catch up with one incremental listing in the same run.
        catch_up = page_token is not None

        def fetch(sync_token: str | None, page_token: str | None, window_start: str, window_end: str):
            return keeper.call(calendar["connection_id"], lambda token: asyncio.wait_for(
                provider.list_events(
                    token, calendar["provider_calendar_id"],
                    window_start=parse_iso(window_start), window_end=parse_iso(window_end),
                    sync_token=sync_token, page_token=page_token),
                CALL_TIMEOUT_SECONDS))

        # While a page is normalised and written, the next one is already on its way: provider
        # latency overlaps our work. Only a stored page moves the resume point, so a prefetched
        # page lost in a crash is simply fetched again.
        prefetched: asyncio.Task | None = None
        try:
            while True:
                full = sync_token is None
                try:
                    if prefetched is not None:
                        pending, prefetched = prefetched, None
                        page = await pending
                    else:
                        page = await fetch(sync_token, page_token, window_start, window_end)
                except ProviderError as exc:
                    # 410 on the sync token, or a resume point the provider no longer accepts:
                    # start over with a clean full sync of the current window.
                    stale_page = page_token is not None and not exc.transient and not isinstance(exc, AuthRevoked)
                    if not (isinstance(exc, SyncTokenExpired) or stale_page):
                        raise
                    resets += 1
                    if resets > MAX_TOKEN_RESETS:
                        raise
                    log.info("calendar %s: %s; full resync", calendar_id, exc, extra={"calendar_id": calendar_id})
                    generation = cal_store.begin_full_sync(ctx.db, calendar_id, window_start=window.start,
                                                           window_end=window.end)
                    window_start, window_end = window.start_iso, window.end_iso
                    sync_token, page_token = None, None
                    result.kind = "full"
                    catch_up = False  # a fresh listing from now: nothing older to catch up with
                    continue
                result.pages += 1
                if page.next_page:
                    prefetched = asyncio.ensure_future(fetch(sync_token, page.next_page, window_start, window_end))
                events, removed = await self._normalize_page(provider, page, context, calendar_id)
                now = ctx.clock.now_iso()
                with event_store.transaction(ctx.db):
                    page_outcome = event_store.apply_page(
                        ctx.db, calendar_id=calendar_id, team_id=calendar["team_id"], events=events,
                        removed=removed, window_start=window_start, window_end=window_end, now=now,
                        generation=generation if full else None)
                    if page.next_page:
                        cal_store.save_page_token(ctx.db, calendar_id, page.next_page)
                    else:
                        if full:
                            page_outcome.add(event_store.finish_full_sync(
                                ctx.db, calendar_id=calendar_id, team_id=calendar["team_id"],
                                generation=generation, window_start=window_start, now=now))
                        cal_store.finish_listing(ctx.db, calendar_id, sync_token=page.sync_token, now=now,
                                                 next_sync_at=self._next_sync_at(calendar_id))
                outcome.add(page_outcome)
                if page_outcome.changes:
                    ctx.engine.poke("planner")
                if not page.next_page:
                    if not catch_up or page.sync_token is None:
                        return
                    catch_up = False
                    sync_token, page_token = page.sync_token, None
                    continue
                page_token = page.next_page
        finally:
            if prefetched is not None and not prefetched.done():
                prefetched.cancel()
                await asyncio.gather(prefetched, return_exceptions=True)
            elif prefetched is not None and not prefetched.cancelled():
                prefetched.exception()  # retrieved: a failure of a page we no longer need is not news

    async def _normalize_page(self, provider, page, context: EventContext, calendar_id: int):
        """Raw page → normalized events and removed ids. Yields to the event loop every few hundred
        events, so webhooks and Slack requests (and the next page's download) are not held up."""
        events, removed = [], list(page.removed)
        for i, raw in enumerate(page.events):
            # Yield before the first event too: that is when the prefetch of the next page
            # actually goes out; yielding often after that lets its body be read as it arrives.
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            try:
                gone = provider.removed_id(raw)
                if gone is not None:
                    removed.append(gone)
                    continue
                event = provider.normalize(raw, context)
            except Exception as exc:  # one odd event must not stop a sync
                log.warning("calendar %s: skipped an event we could not read: %s", calendar_id, exc,
                            extra={"calendar_id": calendar_id})
                continue
            if event is not None:
                events.append(event)
        return events, removed

    def _event_context(self, calendar: dict) -> EventContext:
        row = self.ctx.db.execute("SELECT domains FROM workspaces WHERE team_id = ?", [calendar["team_id"]]).fetchone()
        try:
            domains = frozenset(d.lower().lstrip("@") for d in json.loads(row[0])) if row else frozenset()
        except (ValueError, TypeError, AttributeError):
            domains = frozenset()
        return EventContext(account_email=calendar["account"], calendar_id=calendar["provider_calendar_id"],
                            calendar_timezone=calendar["timezone"], internal_domains=domains)

    def _next_sync_at(self, calendar_id: int) -> str:
        """Healthy push: the periodic sweep; otherwise the polling interval. A little jitter
        spreads calendars out so they don't all poll in the same second."""
        now = self.ctx.clock.now()
        if self.ctx.settings.push_enabled and self._push_healthy(calendar_id, now):
            seconds = self.sweep_seconds
        else:
            seconds = min(self.ctx.settings.calbot_poll_seconds, self.sweep_seconds)
        return to_iso(now + timedelta(seconds=seconds * random.uniform(0.9, 1.0)))

    def _push_healthy(self, calendar_id: int, now: datetime) -> bool:
        row = self.ctx.db.execute(
            "SELECT 1 FROM push_channels WHERE calendar_id = ? AND status = 'active' AND expires_at > ? LIMIT 1",
            [calendar_id, to_iso(now + timedelta(minutes=1))]).fetchone()
        return row is not None

    def _failed(self, calendar: dict, exc: BaseException, result: SyncResult) -> None:
        ctx = self.ctx
        now = ctx.clock.now()
        failures = (calendar["failures"] or 0) + 1
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, NotFound):
            delay = 3600.0
        else:
            delay = backoff_seconds(failures, retry_after)
        message = _describe(exc)
        cal_store.record_failure(ctx.db, calendar["id"], error=message,
                                 backoff_until=to_iso(now + timedelta(seconds=delay)), now=to_iso(now))
        result.result, result.error = "error", message
        log.warning("calendar %s sync failed (%s); retrying in %.0fs", calendar["id"], message, delay,
                    extra={"calendar_id": calendar["id"], "failures": failures})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "the calendar provider did not answer in time"
    if isinstance(exc, httpx.HTTPError):
        return f"could not reach the calendar provider ({type(exc).__name__})"
    return str(exc) or type(exc).__name__
