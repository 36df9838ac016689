"""A 503 with `Retry-After` from Google or Graph during a sync: calbot waits at least that long
before calling that calendar's provider again — however often it is poked meanwhile — and then
syncs normally. (429s are covered in test_sync_faults.py; this is the 5xx side of the contract:
"5xx with Retry-After or exponential backoff with jitter".)

Time is calbot's `FixedClock`, moved by the test: "waits at least N s" means no request reaches
the fake until the clock has passed N s, and the first sync after that succeeds.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

import bot.calendars.google as google_adapter
from bot.engine.syncer import Syncer
from bot.timeutil import FixedClock, parse_iso
from storage import calendars as cal_store
from tests.integration.calendar_rig import close_ctx, connect, make_ctx

ANA, ANA_MS = "ana@acme.com", "ana@contoso.com"
GOOGLE_LIST = r"/calendars/ana@acme\.com/events$"
GRAPH_LIST = r"/calendarView/delta$"


def soon(hours: float = 2) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0, second=0) + timedelta(hours=hours)


@pytest.fixture
def clock():
    return FixedClock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
async def google(tmp_path, google_fake, clock):
    google_fake.add_account(ANA)
    ctx = make_ctx(tmp_path, google_fake, clock=clock)
    yield ctx, google_fake
    await close_ctx(ctx)


@pytest.fixture
async def graph(tmp_path, microsoft_fake, clock):
    microsoft_fake.add_account(ANA_MS)
    ctx = make_ctx(tmp_path, microsoft_fake, clock=clock)
    yield ctx, microsoft_fake
    await close_ctx(ctx)


def calendar(ctx, calendar_id):
    return cal_store.get_calendar(ctx.db, calendar_id)


def events(ctx) -> int:
    return ctx.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]


async def assert_waits_at_least(ctx, fake, cal_id: int, list_path: str, seconds: float, *, started: datetime,
                                syncer: Syncer) -> None:
    """Poked (a push marks it dirty) and run repeatedly until just before `seconds` have passed:
    the provider is not called. Just after: one listing, and the sync succeeds."""
    clock = ctx.clock
    calls = len(fake.calls(list_path))
    for offset in (0, 1, seconds / 2, seconds - 1):
        clock.set(started + timedelta(seconds=offset))
        cal_store.mark_dirty(ctx.db, cal_id, now=clock.now_iso())   # as a push notification would
        assert await syncer.sync_due() == [], f"synced again {offset}s after a Retry-After of {seconds}s"
        await syncer.step()
        await syncer.cancel()
    assert len(fake.calls(list_path)) == calls, "the provider was called before its Retry-After"
    clock.set(started + timedelta(seconds=seconds + 2))   # Retry-After plus calbot's (< 1 s) jitter
    results = await syncer.sync_due()
    assert [(r.calendar_id, r.result) for r in results] == [(cal_id, "ok")]
    assert len(fake.calls(list_path)) > calls
    assert calendar(ctx, cal_id)["failures"] == 0


async def test_google_503_with_retry_after_is_honoured(google):
    ctx, fake = google
    fake.add_event(ANA, "Demo", soon(), conference="meet")
    _, [cal] = await connect(ctx, fake, ANA, provider="google")
    fake.fail_next_google(GOOGLE_LIST, 503, "backendError", "Backend Error", retry_after=120)
    started = ctx.clock.now()
    syncer = Syncer(ctx)
    [result] = await syncer.sync_due()
    assert result.result == "error"
    row = calendar(ctx, cal["id"])
    wait = (parse_iso(row["backoff_until"]) - started).total_seconds()
    # Not the exponential first step (2.5-5 s): what Google asked for, plus at most a second.
    assert 120 <= wait <= 121.5, wait
    assert "503" in row["last_error"] and row["failures"] == 1
    assert events(ctx) == 0
    await assert_waits_at_least(ctx, fake, cal["id"], GOOGLE_LIST, 120, started=started, syncer=syncer)
    assert events(ctx) == 1


async def test_graph_503_with_retry_after_is_honoured(graph):
    ctx, fake = graph
    fake.add_event(ANA_MS, "Review", soon(), online="teams")
    _, [cal] = await connect(ctx, fake, ANA_MS, provider="microsoft")
    fake.throttle_next(GRAPH_LIST, status=503, retry_after=90)
    started = ctx.clock.now()
    syncer = Syncer(ctx)
    [result] = await syncer.sync_due()
    assert result.result == "error"
    row = calendar(ctx, cal["id"])
    wait = (parse_iso(row["backoff_until"]) - started).total_seconds()
    assert 90 <= wait <= 91.5, wait
    assert "503" in row["last_error"]
    await assert_waits_at_least(ctx, fake, cal["id"], GRAPH_LIST, 90, started=started, syncer=syncer)
    assert events(ctx) == 1


async def test_a_retry_after_given_as_an_http_date_is_honoured(google):
    ctx, fake = google
    _, [cal] = await connect(ctx, fake, ANA, provider="google")
    started = ctx.clock.now()
    # An HTTP date five minutes from now (real time: that is what the header is relative to).
    when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=300)
    fake.fail_next(GOOGLE_LIST, 503, headers={"Retry-After": format_datetime(when, usegmt=True)},
                   body={"error": {"code": 503, "message": "Backend Error",
                                   "errors": [{"reason": "backendError", "domain": "global"}]}})
    syncer = Syncer(ctx)
    assert [r.result for r in await syncer.sync_due()] == ["error"]
    wait = (parse_iso(calendar(ctx, cal["id"])["backoff_until"]) - started).total_seconds()
    assert 295 <= wait <= 302, wait
    await assert_waits_at_least(ctx, fake, cal["id"], GOOGLE_LIST, 298, started=started, syncer=syncer)


async def test_a_503_on_a_later_page_waits_then_resumes_from_that_page(google, monkeypatch):
    ctx, fake = google
    fake.bulk_add(ANA, 30, start=soon())
    _, [cal] = await connect(ctx, fake, ANA, provider="google")
    monkeypatch.setattr(google_adapter, "PAGE_SIZE", 10)
    take_fault, listings = fake._take_fault, []

    def second_page_fails(method, path):
        if re.search(GOOGLE_LIST, path):
            listings.append(path)
            if len(listings) == 2:
                fake.fail_next_google(GOOGLE_LIST, 503, "backendError", "Backend Error", retry_after=60)
        return take_fault(method, path)

    monkeypatch.setattr(fake, "_take_fault", second_page_fails)
    started = ctx.clock.now()
    syncer = Syncer(ctx)
    [result] = await syncer.sync_due()
    assert result.result == "error"
    row = calendar(ctx, cal["id"])
    assert row["page_token"] is not None and events(ctx) == 10   # page 1 kept
    wait = (parse_iso(row["backoff_until"]) - started).total_seconds()
    assert 60 <= wait <= 61.5, wait
    await assert_waits_at_least(ctx, fake, cal["id"], GOOGLE_LIST, 60, started=started, syncer=syncer)
    assert events(ctx) == 30
    assert [k for (k,) in ctx.db.execute("SELECT kind FROM changes")] == ["created"] * 30   # nothing twice


async def test_a_503_from_the_token_endpoint_while_refreshing_is_honoured_too(google):
    ctx, fake = google
    fake.add_event(ANA, "Demo", soon(), conference="meet")
    _, [cal] = await connect(ctx, fake, ANA, provider="google")
    fake.expire_access_tokens(ANA)   # the next API call is 401: calbot refreshes
    fake.fail_next(r"^/token$", 503, method="POST", retry_after=45)
    started = ctx.clock.now()
    syncer = Syncer(ctx)
    [result] = await syncer.sync_due()
    assert result.result == "error"
    wait = (parse_iso(calendar(ctx, cal["id"])["backoff_until"]) - started).total_seconds()
    assert 45 <= wait <= 46.5, wait
    tokens_before = len(fake.calls(r"^/token$"))
    await assert_waits_at_least(ctx, fake, cal["id"], GOOGLE_LIST, 45, started=started, syncer=syncer)
    assert len(fake.calls(r"^/token$")) == tokens_before + 1   # refreshed once, after the wait
    assert next(ctx.db.query("SELECT status FROM connections"))["status"] == "active"


async def test_one_calendar_waiting_out_a_retry_after_does_not_hold_up_another(google):
    ctx, fake = google
    fake.add_account("ben@acme.com")
    fake.add_event("ben@acme.com", "Review", soon(), conference="meet")
    _, [ana_cal] = await connect(ctx, fake, ANA, provider="google")
    _, [ben_cal] = await connect(ctx, fake, "ben@acme.com", provider="google", user_id="U2")
    fake.fail_next_google(GOOGLE_LIST, 503, "backendError", "Backend Error", retry_after=600)
    syncer = Syncer(ctx)
    results = {r.calendar_id: r.result for r in await syncer.sync_due()}
    assert results == {ana_cal["id"]: "error", ben_cal["id"]: "ok"}
    fake.add_event("ben@acme.com", "Later", soon(5), conference="meet")
    ctx.clock.advance(seconds=30)
    cal_store.mark_dirty(ctx.db, ben_cal["id"], now=ctx.clock.now_iso())
    cal_store.mark_dirty(ctx.db, ana_cal["id"], now=ctx.clock.now_iso())
    assert [(r.calendar_id, r.result) for r in await syncer.sync_due()] == [(ben_cal["id"], "ok")]
    assert ctx.db.execute("SELECT COUNT(*) FROM events WHERE calendar_id = ?", [ben_cal["id"]]).fetchone()[0] == 2
