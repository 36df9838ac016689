"""Sync fuzzing, as vdirsyncer does it: any sequence of remote edits, pushes (duplicated, dropped,
reordered), sync-token expiry, failures and crashes between pages → calbot's store equals the
provider's truth, and the change feed reported each real change exactly once.

Each provider fake is driven through the real adapter (with tiny pages, so every listing pages).
Every sync attempt — successful, failed or killed mid-listing — is bracketed by snapshots of the
calendar's events, and the changes it wrote must be exactly the difference between them: one
`created` per new event, one `deleted` per vanished one, for a changed event exactly the kinds
its changed fields call for, and nothing for an unchanged one; surviving events keep their row
ids. After a sweep (and at the end), the store equals the provider's truth.

Pushes carry no data (Google's never do; Graph's are only a hint we re-list on), so a push is
"mark the calendar dirty", exactly what the webhook handlers do: duplicating one is marking twice,
dropping one is not marking, and reordering is indistinguishable from either. The handlers'
authentication is tested in test_calendar_push.py; real pushes end to end in tests/e2e.

CI runs a modest number of examples; for a long run:
    CALBOT_FUZZ_EXAMPLES=1000 CALBOT_FUZZ_STEPS=50 pytest tests/integration/test_sync_state_machine.py
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from bot.calendars.base import EventContext
from bot.engine.syncer import Syncer, sync_window
from bot.timeutil import to_iso
from storage import calendars as cal_store
from storage import events as event_store
from tests.integration.calendar_rig import close_ctx, connect, make_ctx
from tests.integration.sync_worlds import GoogleWorld, MicrosoftWorld, base_time

EXAMPLES = int(os.environ.get("CALBOT_FUZZ_EXAMPLES", "25"))
STEPS = int(os.environ.get("CALBOT_FUZZ_STEPS", "20"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                         suppress_health_check=list(HealthCheck), derandomize=False)

HOURS = st.one_of(st.integers(1, 96), st.sampled_from([-60, 24 * 45]))   # mostly in the window, some outside
TITLES = st.sampled_from(["Acme demo", "Standup", "1:1", "Board", "Retro"])


class SimulatedCrash(BaseException):
    """Raised into the syncer mid-listing; BaseException so nothing in calbot swallows it."""


def _non_self_guests(attendees: str) -> list:
    return [a for a in json.loads(attendees or "[]") if not a.get("self")]


def expected_kinds(old: dict, new: dict) -> Counter:
    """The change kinds the feed must report for an event whose stored row went old → new.

    A restatement of the contract in storage/events.py, written from the fields, not the code."""
    kinds = Counter()
    other = False
    if (old["start_at"], old["end_at"], old["all_day"]) != (new["start_at"], new["end_at"], new["all_day"]):
        kinds["moved"] += 1
    if old["status"] != new["status"]:
        if new["status"] == "cancelled":
            kinds["cancelled"] += 1
        else:
            other = True
    if (old["meeting_url"], old["meeting_key"], old["platform"]) != (new["meeting_url"], new["meeting_key"], new["platform"]):
        kinds["link_changed"] += 1
    if old["my_response"] != new["my_response"]:
        kinds["response_changed"] += 1
    if old["attendees"] != new["attendees"]:
        if _non_self_guests(old["attendees"]) != _non_self_guests(new["attendees"]):
            kinds["attendees_changed"] += 1
        elif old["my_response"] == new["my_response"]:
            other = True
    if any(old[f] != new[f] for f in ("title", "description", "location", "timezone", "organizer_email",
                                      "organizer_self", "series_id", "original_start", "ical_uid")):
        other = True
    if other or not kinds:
        kinds["updated"] += 1
    return kinds


class SyncMachine(RuleBasedStateMachine):
    make_world = None   # set per provider
    fake = None

    def __init__(self):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="calbot-fuzz-"))
        self.world = self.make_world(self.fake)
        self.ctx = make_ctx(self.tmp, self.fake)
        self.base = base_time()
        _, calendars = self.run(connect(self.ctx, self.fake, self.world.account, provider=self.world.provider))
        self.calendar_id = calendars[0]["id"]
        self.syncer = Syncer(self.ctx)
        self.attempts = 0
        self.synced_once = False

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self):
        try:
            if getattr(self, "ctx", None) is not None:
                self.sweep()
        finally:
            if getattr(self, "ctx", None) is not None:
                self.run(close_ctx(self.ctx))
            self.loop.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- observing calbot ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, dict]:
        return {r["provider_event_id"]: r for r in self.ctx.db.query(
            "SELECT * FROM events WHERE calendar_id = ?", [self.calendar_id])}

    def last_change(self) -> int:
        return self.ctx.db.execute("SELECT COALESCE(MAX(id), 0) FROM changes").fetchone()[0]

    def attempt(self, coro_factory):
        """Run one sync attempt and check the feed it wrote against the store's difference."""
        before, mark = self.snapshot(), self.last_change()
        outcome = self.run(coro_factory())
        after = self.snapshot()
        rows = list(self.ctx.db.query("SELECT * FROM changes WHERE id > ? ORDER BY id", [mark]))
        by_row_id = {r["id"]: pid for pid, r in after.items()}
        got: dict[str, Counter] = {}
        for change in rows:
            assert change["calendar_id"] == self.calendar_id
            detail = json.loads(change["detail"])
            pid = detail.get("provider_event_id") if change["kind"] == "deleted" else by_row_id.get(change["event_id"])
            assert pid is not None, change
            got.setdefault(pid, Counter())[change["kind"]] += 1
        expected: dict[str, Counter] = {}
        for pid in before.keys() | after.keys():
            old, new = before.get(pid), after.get(pid)
            if old is None:
                expected[pid] = Counter(created=1)
            elif new is None:
                expected[pid] = Counter(deleted=1)
            else:
                assert new["id"] == old["id"], f"event {pid} changed row id across a sync"
                if new["content_hash"] != old["content_hash"]:
                    expected[pid] = expected_kinds(old, new)
        assert got == expected, f"feed {got} != store difference {expected}"
        self.attempts += 1
        return outcome

    def assert_store_is_truth(self):
        provider = self.ctx.providers[self.world.provider]
        window = sync_window(self.ctx.clock.now(), self.ctx.settings.calbot_sync_days)
        context = EventContext(account_email=self.world.account, calendar_id=self.world.calendar_id,
                               calendar_timezone="UTC", internal_domains=frozenset())
        truth = {}
        for raw in self.world.truth():
            event = provider.normalize(raw, context)
            if event is None:
                continue
            start, end = to_iso(event.start_at), to_iso(event.end_at)
            if start < window.end_iso and (end > window.start_iso or start >= window.start_iso):
                truth[event.provider_event_id] = event_store.event_hash(event)
        stored = {pid: row["content_hash"] for pid, row in self.snapshot().items()}
        assert stored == truth

    # -- syncing ------------------------------------------------------------------------------

    def sweep(self):
        """The periodic reconciliation: every calendar re-listed, whatever pushes said."""
        self.fake.clear_faults()
        cal_store.sync_now(self.ctx.db)
        for _ in range(3):
            results = self.attempt(self.syncer.sync_due)
            if all(r.result == "ok" for r in results):
                break
        self.assert_store_is_truth()
        self.synced_once = True

    @rule(duplicate=st.booleans())
    def push(self, duplicate):
        """The provider says the calendar changed (maybe twice); the syncer coalesces and syncs."""
        now = self.ctx.clock.now_iso()
        cal_store.mark_dirty(self.ctx.db, self.calendar_id, now=now)
        if duplicate:
            cal_store.mark_dirty(self.ctx.db, self.calendar_id, now=now)
        self.ctx.db.execute("UPDATE calendars SET backoff_until = NULL WHERE id = ?", [self.calendar_id])
        results = self.attempt(self.syncer.sync_due)
        if results and all(r.result == "ok" for r in results) and self.synced_once:
            self.assert_store_is_truth()

    @rule()
    def periodic_sweep(self):
        self.sweep()

    @rule(pages=st.integers(1, 4))
    def crash_mid_listing(self, pages):
        """The process dies while listing: after `pages` pages the sync is killed."""
        provider = self.ctx.providers[self.world.provider]
        original = provider.list_events
        calls = 0

        async def dying_list(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls > pages:
                raise SimulatedCrash()
            return await original(*args, **kwargs)

        async def crashing_sync():
            provider.list_events = dying_list
            try:
                await self.syncer.sync_calendar(self.calendar_id)
            except SimulatedCrash:
                pass
            finally:
                provider.list_events = original

        cal_store.mark_dirty(self.ctx.db, self.calendar_id, now=self.ctx.clock.now_iso())
        self.attempt(crashing_sync)

    @rule(pages=st.integers(0, 3))
    def cancel_mid_listing(self, pages):
        """Shutdown: the sync task is cancelled at an await after `pages` pages."""
        provider = self.ctx.providers[self.world.provider]
        original = provider.list_events
        calls = 0

        async def cancelled_list(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls > pages:
                asyncio.current_task().cancel()
                await asyncio.sleep(0)
            return await original(*args, **kwargs)

        async def cancelled_sync():
            provider.list_events = cancelled_list
            task = asyncio.ensure_future(self.syncer.sync_calendar(self.calendar_id))
            try:
                await asyncio.gather(task, return_exceptions=True)
            finally:
                provider.list_events = original

        cal_store.mark_dirty(self.ctx.db, self.calendar_id, now=self.ctx.clock.now_iso())
        self.attempt(cancelled_sync)

    @rule(status=st.sampled_from([500, 503]))
    def provider_fails_next_listing(self, status):
        self.world.fail_next_listing(status)

    # -- remote edits -------------------------------------------------------------------------

    def _pick(self, data, ids):
        return data.draw(st.sampled_from(list(ids)))  # provider order: ids are random, order is not

    @rule(title=TITLES, hours=HOURS, link=st.booleans(), invite=st.booleans())
    def create(self, title, hours, link, invite):
        self.world.create(title, self.base + timedelta(hours=hours), link, invite)

    @precondition(lambda self: self.world.live_ids())
    @rule(data=st.data(), title=TITLES)
    def retitle(self, data, title):
        self.world.retitle(self._pick(data, self.world.live_ids()), title + " (v2)")

    @precondition(lambda self: self.world.live_ids())
    @rule(data=st.data(), hours=HOURS)
    def move(self, data, hours):
        self.world.move(self._pick(data, self.world.live_ids()), self.base + timedelta(hours=hours))

    @precondition(lambda self: self.world.live_ids())
    @rule(data=st.data(), remove=st.booleans())
    def change_link(self, data, remove):
        event_id = self._pick(data, self.world.live_ids())
        self.world.unlink(event_id) if remove else self.world.relink(event_id)

    @precondition(lambda self: self.world.live_ids())
    @rule(data=st.data(), response=st.sampled_from(["accepted", "declined", "tentative"]))
    def respond(self, data, response):
        self.world.respond(self._pick(data, self.world.live_ids()), response)

    @precondition(lambda self: self.world.live_ids())
    @rule(data=st.data())
    def add_guest(self, data):
        self.world.add_guest(self._pick(data, self.world.live_ids()), f"guest{data.draw(st.integers(1, 9))}@client.com")

    @precondition(lambda self: self.world.live_ids())
    @rule(data=st.data())
    def cancel(self, data):
        self.world.cancel(self._pick(data, self.world.live_ids()))

    @rule(title=TITLES, hours=st.integers(1, 48), count=st.integers(2, 5))
    def add_series(self, title, hours, count):
        self.world.add_series(title, self.base + timedelta(hours=hours), count)

    @precondition(lambda self: self.world.series_ids())
    @rule(data=st.data())
    def cancel_occurrence(self, data):
        instances = self.world.instances(self._pick(data, self.world.series_ids()))
        if instances:
            self.world.cancel_instance(data.draw(st.sampled_from(instances))[0])

    @precondition(lambda self: self.world.series_ids())
    @rule(data=st.data(), hours=st.integers(-3, 3).filter(bool))
    def move_occurrence(self, data, hours):
        instances = self.world.instances(self._pick(data, self.world.series_ids()))
        if instances:
            instance_id, start = data.draw(st.sampled_from(instances))
            self.world.move_instance(instance_id, start + timedelta(hours=hours))

    @precondition(lambda self: self.world.series_ids())
    @rule(data=st.data(), hours=st.integers(0, 2))
    def this_and_following(self, data, hours):
        series_id = self._pick(data, self.world.series_ids())
        instances = self.world.instances(series_id)
        if len(instances) >= 2:
            _, start = data.draw(st.sampled_from(instances[1:]))
            self.world.split_series(series_id, start, timedelta(hours=hours))

    @rule()
    def sync_token_expires(self):
        self.world.expire_sync_tokens()

    @precondition(lambda self: self.world.live_ids())
    @rule(data=st.data())
    def provider_forgets_event(self, data):
        """Deleted without a tombstone (Google purges old ones) — only a full resync can notice."""
        self.world.purge(self._pick(data, self.world.live_ids()))

    @invariant()
    def store_holds_only_the_window(self):
        row = self.ctx.db.execute("SELECT window_start, window_end FROM calendars WHERE id = ?",
                                  [self.calendar_id]).fetchone()
        if row[0] is None:
            return
        outside = self.ctx.db.execute(
            "SELECT COUNT(*) FROM events WHERE calendar_id = ? AND NOT (start_at < ? AND (end_at > ? OR start_at >= ?))",
            [self.calendar_id, row[1], row[0], row[0]]).fetchone()[0]
        assert outside == 0


def _run(machine_class, fake, monkeypatch, page_size_attr):
    module, attr = page_size_attr
    monkeypatch.setattr(module, attr, 3)   # every listing pages, so crashes land between pages
    machine = type(f"{machine_class.__name__}Bound", (machine_class,), {"fake": fake})
    run_state_machine_as_test(machine, settings=FUZZ_SETTINGS)


class GoogleSyncMachine(SyncMachine):
    make_world = GoogleWorld


def test_google_sync_converges_and_reports_each_change_once(google_fake, monkeypatch):
    import bot.calendars.google as google_adapter

    _run(GoogleSyncMachine, google_fake, monkeypatch, (google_adapter, "PAGE_SIZE"))


class MicrosoftSyncMachine(SyncMachine):
    make_world = MicrosoftWorld

    def __init__(self):
        super().__init__()
        self.ctx.providers["microsoft"]._page_size = 3   # every delta round pages


def test_microsoft_sync_converges_and_reports_each_change_once(microsoft_fake):
    machine = type("MicrosoftSyncMachineBound", (MicrosoftSyncMachine,), {"fake": microsoft_fake})
    run_state_machine_as_test(machine, settings=FUZZ_SETTINGS)
