"""Real push notifications through the real webhook handlers: the Google and Graph fakes send their
notifications over HTTP to `/webhooks/google` and `/webhooks/microsoft` of a calbot app served on a
loopback port, while their push modes duplicate, reorder or drop them. Whatever arrives (or
doesn't), the store converges to the provider's truth — dropped notifications are caught by the
periodic sweep — and the change feed reports each real change once; a burst of notifications for
one calendar costs one listing (counted from the fake's recorded requests); forged notifications
are refused and start no sync.

The app runs with its lifespan off: the test drives the syncer and the push manager itself, on a
`FixedClock`, so "nothing synced yet" and "the sweep came round" are exact. Everything that talks
to the app from the test is async (the app is served from the test's own event loop); blocking
waits on the fakes run in a thread.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import uvicorn

from bot.config import load_settings
from bot.crypto import new_secret_key
from bot.engine.push import PushManager
from bot.engine.syncer import SWEEP_SECONDS, Syncer
from bot.server import create_app
from bot.timeutil import FixedClock, to_iso
from storage import calendars as cal_store
from tests.fakes.base import free_port
from tests.integration.calendar_rig import connect
from tests.integration.sync_worlds import GoogleWorld, MicrosoftWorld, base_time

PROVIDERS = ["google", "microsoft"]


class LiveApp:
    """calbot's ASGI app on a real loopback port, in this event loop, engine loops not running."""

    def __init__(self, tmp_path, fake, clock: FixedClock):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = load_settings(calbot_database=str(tmp_path / "calbot.db"), calbot_secret_key=new_secret_key(),
                                 calbot_push="on", calbot_public_url=self.url, _env_file=None,
                                 **fake.settings_overrides())
        self.app = create_app(settings, clock)
        self.ctx = self.app.state.ctx
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan="off",
                                                    log_level="warning", access_log=False))
        self.task: asyncio.Task | None = None
        self.client = httpx.AsyncClient(base_url=self.url, timeout=10)

    async def start(self) -> "LiveApp":
        self.server.install_signal_handlers = lambda: None   # the test process keeps its own
        self.task = asyncio.create_task(self.server.serve())
        for _ in range(500):
            if self.server.started:
                return self
            await asyncio.sleep(0.01)
        raise AssertionError("calbot app did not start")

    async def stop(self) -> None:
        await self.client.aclose()
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
        for provider in self.ctx.providers.values():
            await provider.aclose()
        await self.ctx.http.aclose()
        self.ctx.db.close()


class Rig:
    """One member's calendar at one provider, connected to a live calbot with a push channel."""

    def __init__(self, provider: str, fake, app: LiveApp):
        self.provider, self.fake, self.app, self.ctx = provider, fake, app, app.ctx
        self.world = GoogleWorld(fake) if provider == "google" else MicrosoftWorld(fake)
        self.syncer = Syncer(self.ctx)
        self.pushes = PushManager(self.ctx)
        self.calendar_id: int | None = None
        self.channel: str | None = None
        self._mark = 0

    async def connect(self) -> None:
        _, calendars = await connect(self.ctx, self.fake, self.world.account, provider=self.provider)
        self.calendar_id = calendars[0]["id"]
        await self.pushes.step()
        [row] = self.channels()
        self.channel = row["channel_id"]
        if self.provider == "google":   # the channel's hello ("sync"): not a change
            await asyncio.to_thread(self.fake.wait_for_pushes, 1, channel_id=self.channel, state="sync")
        await self.settle()

    # -- the provider side ---------------------------------------------------------------------

    def listings(self) -> int:
        pattern = r"/events$" if self.provider == "google" else r"calendarView/delta$"
        return len(self.fake.calls(pattern, method="GET"))

    def sent(self) -> list:
        """Change notifications the fake sent (or dropped / held) on our channel since `mark_pushes`."""
        if self.provider == "google":
            found = [p for p in self.fake.pushes if p.channel_id == self.channel and p.state == "exists"]
        else:
            found = [p for p in self.fake.pushes if p.subscription_id == self.channel and p.kind == "change"]
        return found[self._mark:]

    def mark_pushes(self) -> None:
        self._mark += len(self.sent())

    async def wait_delivered(self, count: int, timeout: float = 10.0) -> list:
        """Wait until `count` change notifications since the mark reached calbot; all answered 2xx."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            done = [p for p in self.sent() if p.outcome in ("delivered", "failed")]
            if len(done) >= count:
                assert all(p.outcome == "delivered" for p in done), [(p.status, p.error) for p in done]
                return done
            assert asyncio.get_running_loop().time() < deadline, f"{len(done)} of {count} notifications arrived"
            await asyncio.sleep(0.01)

    def truth(self) -> set[str]:
        return {e["id"] for e in self.world.truth()
                if e.get("status") != "cancelled" and not e.get("isCancelled")}

    # -- calbot's side -------------------------------------------------------------------------

    def channels(self) -> list[dict]:
        return list(self.ctx.db.query("SELECT * FROM push_channels WHERE calendar_id = ? AND status = 'active'",
                                      [self.calendar_id]))

    def dirty(self) -> bool:
        return cal_store.get_calendar(self.ctx.db, self.calendar_id)["dirty_at"] is not None

    def stored(self) -> dict[str, str]:
        return {r["provider_event_id"]: r["start_at"] for r in self.ctx.db.query(
            "SELECT provider_event_id, start_at FROM events WHERE calendar_id = ? AND status != 'cancelled'",
            [self.calendar_id])}

    def feed(self) -> dict[str, Counter]:
        """The change feed by provider event id: kind → how many times it was reported."""
        ids = {r["id"]: r["provider_event_id"] for r in self.ctx.db.query("SELECT id, provider_event_id FROM events")}
        changes = list(self.ctx.db.query("SELECT * FROM changes WHERE calendar_id = ? ORDER BY id",
                                         [self.calendar_id]))
        for change in changes:   # a deleted row's id lives on in its `deleted` change's detail
            if change["kind"] == "deleted":
                ids.setdefault(change["event_id"], json.loads(change["detail"])["provider_event_id"])
        found: dict[str, Counter] = {}
        for change in changes:
            found.setdefault(ids[change["event_id"]], Counter())[change["kind"]] += 1
        return found

    async def settle(self) -> int:
        """Run the syncer as its loop would until nothing is due. Returns the listings it made."""
        before = self.listings()
        for _ in range(20):
            if not await self.syncer.sync_due():
                break
        return self.listings() - before

    def sweep_comes_round(self) -> None:
        self.ctx.clock.advance(seconds=SWEEP_SECONDS + 1)


@pytest.fixture
def clock():
    return FixedClock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture(params=PROVIDERS)
async def rig(request, tmp_path, clock):
    if request.param == "google":
        from tests.fakes.google import FakeGoogle as Fake
    else:
        from tests.fakes.microsoft import FakeMicrosoft as Fake
    with Fake() as fake:
        app = await LiveApp(tmp_path, fake, clock).start()
        try:
            rig = Rig(request.param, fake, app)
            yield rig
        finally:
            await app.stop()


async def make_changes(rig: Rig) -> dict[str, tuple[str, ...]]:
    """Three events exist and are synced; then one is moved, one cancelled, one retitled and one
    created. Returns the event ids → the change kinds the feed must report for each, in total."""
    base = base_time()
    moved = rig.world.create("Acme demo", base + timedelta(hours=2), link=True)
    cancelled = rig.world.create("Standup", base + timedelta(hours=3), link=True)
    retitled = rig.world.create("1:1", base + timedelta(hours=4), link=True)
    await rig.wait_delivered(3)
    await rig.settle()
    assert rig.stored().keys() == {moved, cancelled, retitled}
    rig.fake.reset_requests()
    rig.mark_pushes()
    return {"moved": moved, "cancelled": cancelled, "retitled": retitled, "base": base}


def edit(rig: Rig, ids: dict) -> str:
    rig.world.move(ids["moved"], ids["base"] + timedelta(hours=6))
    rig.world.cancel(ids["cancelled"])
    rig.world.retitle(ids["retitled"], "Board")
    return rig.world.create("Retro", ids["base"] + timedelta(hours=8), link=True)


def assert_converged_and_reported_once(rig: Rig, ids: dict, created: str) -> None:
    stored = rig.stored()
    assert set(stored) == rig.truth() == {ids["moved"], ids["retitled"], created}
    assert stored[ids["moved"]] == to_iso(ids["base"] + timedelta(hours=6))
    feed = rig.feed()
    assert feed[ids["moved"]] == Counter(created=1, moved=1)
    assert feed[ids["retitled"]] == Counter(created=1, updated=1)
    assert feed[created] == Counter(created=1)
    gone = feed[ids["cancelled"]]
    assert gone["created"] == 1 and gone["cancelled"] + gone["deleted"] == 1 and sum(gone.values()) == 2, gone


# -- duplicated, reordered, dropped ---------------------------------------------------------------

async def test_duplicated_notifications_converge_and_each_change_is_reported_once(rig):
    await rig.connect()
    ids = await make_changes(rig)
    rig.fake.push_mode = "duplicate"
    created = edit(rig, ids)
    edits = len(rig.sent())
    assert edits >= 4
    await rig.wait_delivered(edits)   # every twin arrived, and was answered 2xx
    assert rig.dirty()
    assert await rig.settle() == 1    # all of them: one listing
    assert_converged_and_reported_once(rig, ids, created)
    # The same notifications again (a provider retry): one more listing that finds nothing new.
    rig.fake.push_mode = "deliver"
    rig.mark_pushes()
    rig.fake.notify(rig.world.calendar_id)
    await rig.wait_delivered(1)
    assert await rig.settle() == 1
    assert_converged_and_reported_once(rig, ids, created)


async def test_reordered_notifications_converge_and_each_change_is_reported_once(rig):
    await rig.connect()
    ids = await make_changes(rig)
    rig.fake.push_mode = "reorder"
    rig.world.move(ids["moved"], ids["base"] + timedelta(hours=6))
    rig.world.cancel(ids["cancelled"])
    assert not rig.dirty() and await rig.settle() == 0   # nothing arrived yet: nothing to do
    assert rig.fake.flush_pushes() == 2                  # they arrive newest first
    await rig.wait_delivered(2)
    assert await rig.settle() == 1
    # A late notification from before the latest sync, delivered after it: one more look, no news.
    rig.mark_pushes()
    rig.world.retitle(ids["retitled"], "Board")
    created = rig.world.create("Retro", ids["base"] + timedelta(hours=8), link=True)
    rig.ctx.db.execute("UPDATE calendars SET dirty_at = ? WHERE id = ?",   # the sweep lists them first
                       [rig.ctx.clock.now_iso(), rig.calendar_id])
    assert await rig.settle() == 1
    assert rig.fake.flush_pushes() == 2
    await rig.wait_delivered(2)
    assert rig.dirty()
    assert await rig.settle() == 1
    assert_converged_and_reported_once(rig, ids, created)


async def test_dropped_notifications_are_caught_by_the_sweep(rig):
    await rig.connect()
    ids = await make_changes(rig)
    rig.fake.push_mode = "drop"
    created = edit(rig, ids)
    assert len(rig.sent()) >= 4 and all(p.outcome == "dropped" for p in rig.sent())
    assert not rig.dirty() and await rig.settle() == 0   # healthy channel, nothing heard: nothing due yet
    rig.ctx.clock.advance(seconds=SWEEP_SECONDS * 0.5)
    assert await rig.settle() == 0
    rig.sweep_comes_round()                              # within 30 minutes, every calendar is re-listed
    assert await rig.settle() == 1
    assert_converged_and_reported_once(rig, ids, created)


async def test_a_dropped_notification_is_caught_by_polling_when_the_channel_is_unhealthy(rig):
    await rig.connect()
    ids = await make_changes(rig)
    # The channel can't be renewed (provider refuses), so calbot polls this calendar meanwhile.
    rig.ctx.db.execute("UPDATE push_channels SET expires_at = ? WHERE calendar_id = ?",
                       [to_iso(rig.ctx.clock.now() + timedelta(seconds=30)), rig.calendar_id])
    if rig.provider == "google":
        rig.fake.fail_next_google(r"/watch$", 503, "backendError", "Backend Error", method="POST")
    else:
        rig.fake.fail_next_graph(r"/subscriptions", 503, "ServiceUnavailable")
    await rig.pushes.step()
    assert not rig.dirty()
    rig.fake.push_mode = "drop"
    created = edit(rig, ids)
    poll = rig.ctx.settings.calbot_poll_seconds
    rig.ctx.clock.advance(seconds=poll + 1)
    assert await rig.settle() == 1
    assert_converged_and_reported_once(rig, ids, created)


# -- bursts ---------------------------------------------------------------------------------------

async def test_a_burst_of_notifications_for_one_calendar_is_one_listing(rig):
    await rig.connect()
    rig.mark_pushes()
    base = base_time()
    n = 12
    for i in range(n):
        rig.world.create(f"Interview {i}", base + timedelta(hours=2 + i), link=True)
    await rig.wait_delivered(n)
    rig.fake.reset_requests()
    assert await rig.settle() == 1
    assert len(rig.stored()) == n
    assert sum(c["created"] for c in rig.feed().values()) == n
    assert rig.ctx.metrics.push_notifications.labels(rig.provider, "accepted")._value.get() >= n


async def test_notifications_during_a_listing_cause_exactly_one_more(rig):
    await rig.connect()
    rig.mark_pushes()
    base = base_time()
    first = rig.world.create("Kick-off", base + timedelta(hours=2), link=True)
    await rig.wait_delivered(1)
    rig.fake.reset_requests()
    list_path = r"/events$" if rig.provider == "google" else r"calendarView/delta$"
    rig.fake.fail_next(list_path, None, delay=1.0)   # the listing is slow: the burst lands during it
    listing = asyncio.create_task(rig.syncer.sync_calendar(rig.calendar_id))
    while rig.listings() == 0:
        await asyncio.sleep(0.01)
    for i in range(10):
        rig.world.create(f"Interview {i}", base + timedelta(hours=3 + i), link=True)
    await rig.wait_delivered(11)
    assert (await listing).result == "ok"
    assert rig.dirty()   # notifications during the sync: it must look again
    assert await rig.settle() == 1
    assert rig.listings() == 2   # not one per notification
    assert len(rig.stored()) == 11 and first in rig.stored()
    assert all(sum(kinds.values()) == 1 for kinds in rig.feed().values())


# -- forged notifications -------------------------------------------------------------------------

async def test_forged_google_notifications_are_refused_and_start_no_sync(tmp_path, clock):
    from tests.fakes.google import FakeGoogle

    with FakeGoogle() as fake:
        app = await LiveApp(tmp_path, fake, clock).start()
        try:
            rig = Rig("google", fake, app)
            fake.add_calendar(rig.world.account, "team@group.calendar.google.com", summary="Team")
            await rig.connect()
            ctx = rig.ctx
            ctx.db.execute("UPDATE calendars SET selected = 1")
            await rig.pushes.step()
            team = next(ctx.db.query("SELECT cal.id, p.channel_id FROM calendars cal JOIN push_channels p "
                                     "ON p.calendar_id = cal.id WHERE cal.provider_calendar_id = ?",
                                     ["team@group.calendar.google.com"]))
            await rig.settle()
            rig.mark_pushes()
            fake.notify(rig.world.account)
            [genuine] = await rig.wait_delivered(1)
            [team_channel] = fake.active_channels("team@group.calendar.google.com")
            await rig.settle()
            fake.reset_requests()

            headers = dict(genuine.headers)
            forgeries = {
                "wrong token": {**headers, "X-Goog-Channel-Token": "guessed"},
                "no token": {k: v for k, v in headers.items() if k != "X-Goog-Channel-Token"},
                "unknown channel": {**headers, "X-Goog-Channel-ID": "not-one-of-ours"},
                "another channel's token": {**headers, "X-Goog-Channel-Token": team_channel.token},
                "token for another channel id": {**headers, "X-Goog-Channel-ID": team["channel_id"]},
            }
            for name, forged in forgeries.items():
                response = await app.client.post("/webhooks/google", headers=forged)
                assert response.status_code == 404, name
            assert not any(cal_store.get_calendar(ctx.db, c)["dirty_at"] for c in (rig.calendar_id, team["id"]))
            assert await rig.settle() == 0
            assert fake.calls(r"/events$") == []

            # A replaced channel's own (once genuine) notification, after it was stopped: refused too.
            ctx.db.execute("UPDATE push_channels SET expires_at = ? WHERE channel_id = ?",
                           [to_iso(clock.now() + timedelta(hours=1)), rig.channel])
            await rig.pushes.step()
            await rig.pushes.step()
            assert next(ctx.db.query("SELECT status FROM push_channels WHERE channel_id = ?",
                                     [rig.channel]))["status"] == "stopped"
            await rig.settle()
            fake.reset_requests()
            assert (await app.client.post("/webhooks/google", headers=headers)).status_code == 404
            assert not rig.dirty() and await rig.settle() == 0 and fake.calls(r"/events$") == []
            rejected = ctx.metrics.push_notifications.labels("google", "rejected")._value.get()
            assert rejected == len(forgeries) + 1
        finally:
            await app.stop()


async def test_forged_graph_notifications_are_refused_and_start_no_sync(tmp_path, clock):
    from tests.fakes.microsoft import FakeMicrosoft

    with FakeMicrosoft() as fake:
        app = await LiveApp(tmp_path, fake, clock).start()
        try:
            rig = Rig("microsoft", fake, app)
            fake.add_calendar(rig.world.account, "Team")
            await rig.connect()
            ctx = rig.ctx
            ctx.db.execute("UPDATE calendars SET selected = 1")
            await rig.pushes.step()
            await rig.settle()
            subscriptions = {s.id: s for s in fake.active_subscriptions(rig.world.account)}
            mine = subscriptions[rig.channel]
            [other] = [s for s in subscriptions.values() if s.id != rig.channel]
            fake.reset_requests()

            def item(**overrides):
                return {"subscriptionId": mine.id, "clientState": mine.client_state, "changeType": "updated",
                        "resource": "Users/x/Events/y", **overrides}

            forgeries = [
                item(clientState="guessed"),
                {k: v for k, v in item().items() if k != "clientState"},
                item(subscriptionId="not-one-of-ours"),
                item(clientState=other.client_state),                  # another subscription's secret
                item(subscriptionId=other.id),                          # ... and the other way round
                item(clientState="guessed", lifecycleEvent="missed"),
                item(clientState="guessed", lifecycleEvent="subscriptionRemoved"),
                item(clientState=12345),                                # not even a string
            ]
            for forged in forgeries:
                # 202 whatever the items say, so Graph doesn't give up on the endpoint; but nothing done.
                response = await app.client.post("/webhooks/microsoft", json={"value": [forged]})
                assert response.status_code == 202, forged
            assert all(not cal_store.get_calendar(ctx.db, c["id"])["dirty_at"]
                       for c in ctx.db.query("SELECT id FROM calendars"))
            assert {r["status"] for r in ctx.db.query("SELECT status FROM push_channels")} == {"active"}
            assert await rig.settle() == 0 and fake.calls(r"calendarView/delta") == []
            assert ctx.metrics.push_notifications.labels("microsoft", "rejected")._value.get() == len(forgeries)

            # A genuine one in the same batch as a forged one: only the genuine calendar syncs.
            response = await app.client.post("/webhooks/microsoft",
                                             json={"value": [item(), item(subscriptionId=other.id)]})
            assert response.status_code == 202
            assert rig.dirty()
            assert await rig.settle() == 1
        finally:
            await app.stop()


# -- a notification that beats the provider's answer ----------------------------------------------

async def test_a_notification_sent_before_the_channel_is_known_is_accepted_not_refused(rig):
    """Google sends a channel's `sync` message before answering `events.watch`, and a change can
    be notified the moment a Graph subscription exists: calbot may not know the channel id yet.
    Such genuine notifications are answered 2xx — not counted (and logged) as forgeries."""
    fake = rig.fake
    if rig.provider == "google":
        watch = fake._api_events_watch

        def watch_then_linger(*args):
            answer = watch(*args)   # the `sync` message is on its way before calbot has the answer
            fake.wait_for(lambda: any(p.outcome != "pending" for p in fake.pushes), timeout=5)
            return answer

        fake._api_events_watch = watch_then_linger
    else:
        create = fake._create_subscription

        async def create_then_notify(grant, body):
            answer = await create(grant, body)
            created = json.loads(answer.body)
            fake.notify(rig.world.calendar_id)   # a change right after creation
            for _ in range(500):
                if any(p.outcome != "pending" for p in fake.pushes if p.subscription_id == created["id"]):
                    break
                await asyncio.sleep(0.01)
            return answer

        fake._create_subscription = create_then_notify
    await rig.connect()
    early = [p for p in fake.pushes]
    assert early and all(p.outcome == "delivered" and 200 <= p.status < 300 for p in early), \
        [(p.status, p.outcome) for p in early]
    assert rig.ctx.metrics.push_notifications.labels(rig.provider, "rejected")._value.get() == 0
    [row] = rig.channels()
    assert not row["channel_id"].startswith("pending:") and row["last_message_at"] is not None
    assert list(rig.ctx.db.query("SELECT * FROM push_channels WHERE status = 'pending'")) == []


async def test_a_channel_left_half_made_by_a_crash_is_retired(rig):
    """calbot died between asking for a channel and hearing back: the `pending` row is retired by
    the push manager after a while, and its secret stops being accepted."""
    await rig.connect()
    from bot.crypto import hash_secret

    ctx = rig.ctx
    ctx.db.execute("INSERT INTO push_channels (calendar_id, provider, channel_id, secret_hash, status, created_at) "
                   "VALUES (?, ?, 'pending:crashed', ?, 'pending', ?)",
                   [rig.calendar_id, rig.provider, hash_secret("orphan-secret"), ctx.clock.now_iso()])
    await rig.pushes.step()
    assert next(ctx.db.query("SELECT status FROM push_channels WHERE channel_id = 'pending:crashed'"))["status"] \
        == "pending"   # could still be in flight
    ctx.clock.advance(minutes=11)
    await rig.pushes.step()
    assert next(ctx.db.query("SELECT status FROM push_channels WHERE channel_id = 'pending:crashed'"))["status"] \
        == "stopped"
    calls = len(rig.fake.requests)
    if rig.provider == "google":
        response = await rig.app.client.post("/webhooks/google", headers={
            "X-Goog-Channel-ID": "whatever-google-says", "X-Goog-Channel-Token": "orphan-secret",
            "X-Goog-Resource-State": "exists"})
        assert response.status_code == 404
    else:
        response = await rig.app.client.post("/webhooks/microsoft", json={"value": [
            {"subscriptionId": "whatever-graph-says", "clientState": "orphan-secret", "changeType": "updated"}]})
        assert response.status_code == 202
    assert not rig.dirty() and len(rig.fake.requests) == calls   # and nothing asked of the provider
