"""The syncer against the Google fake through the real adapter: what a member would notice."""

from datetime import datetime, timedelta, timezone

import pytest

from bot.engine.syncer import Syncer
from storage import events as event_store
from tests.integration.calendar_rig import close_ctx, connect, make_ctx

ANA = "ana@acme.com"


class ProcessDied(BaseException):
    """Not an Exception: nothing in calbot may catch it, as nothing survives a kill -9."""


@pytest.fixture
async def rig(tmp_path, google_fake):
    google_fake.add_account(ANA)
    ctx = make_ctx(tmp_path, google_fake)
    yield ctx, google_fake
    await close_ctx(ctx)


def soon(hours: float = 2) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0, second=0) + timedelta(hours=hours)


def feed(ctx, after: int = 0):
    return [(c["kind"], c["detail"].get("provider_event_id") or c["event_id"]) for c in event_store.changes_since(ctx.db, after)]


def last_change(ctx) -> int:
    return ctx.db.execute("SELECT COALESCE(MAX(id), 0) FROM changes").fetchone()[0]


async def test_first_sync_stores_primary_calendar_events_and_reports_them_created(rig):
    ctx, fake = rig
    demo = fake.add_event(ANA, "Acme demo", soon(), conference="meet", attendees=["bob@client.com"])
    connection, calendars = await connect(ctx, fake, ANA, provider="google")
    assert [c["selected"] for c in calendars] == [1]
    results = await Syncer(ctx).sync_due()
    assert [r.result for r in results] == ["ok"]
    rows = event_store.calendar_events(ctx.db, calendars[0]["id"])
    assert [(r["provider_event_id"], r["title"], r["platform"], r["has_external"]) for r in rows] == [
        (demo["id"], "Acme demo", "meet", 1)]
    assert [c["kind"] for c in event_store.changes_since(ctx.db)] == ["created"]


async def test_a_move_is_one_moved_change_and_a_relisting_writes_nothing(rig):
    ctx, fake = rig
    demo = fake.add_event(ANA, "Acme demo", soon(), conference="meet")
    _, calendars = await connect(ctx, fake, ANA, provider="google")
    syncer = Syncer(ctx)
    await syncer.sync_due()
    mark = last_change(ctx)
    row_id = event_store.calendar_events(ctx.db, calendars[0]["id"])[0]["id"]

    fake.move_event(ANA, demo["id"], soon(3))
    await syncer.sync_calendar(calendars[0]["id"])
    changes = event_store.changes_since(ctx.db, mark)
    assert [c["kind"] for c in changes] == ["moved"]
    assert changes[0]["event_id"] == row_id
    assert changes[0]["detail"]["before"]["start_at"] < changes[0]["detail"]["after"]["start_at"]

    mark = last_change(ctx)
    fake.notify(ANA)  # a spurious push: nothing changed
    await syncer.sync_calendar(calendars[0]["id"])
    assert event_store.changes_since(ctx.db, mark) == []


async def test_cancel_is_a_deleted_change_with_what_the_planner_needs(rig):
    ctx, fake = rig
    demo = fake.add_event(ANA, "Acme demo", soon(), conference="meet")
    _, calendars = await connect(ctx, fake, ANA, provider="google")
    syncer = Syncer(ctx)
    await syncer.sync_due()
    mark = last_change(ctx)
    fake.cancel_event(ANA, demo["id"])
    await syncer.sync_calendar(calendars[0]["id"])
    changes = event_store.changes_since(ctx.db, mark)
    assert [c["kind"] for c in changes] == ["deleted"]
    assert changes[0]["detail"]["provider_event_id"] == demo["id"]
    assert changes[0]["detail"]["meeting_url"].startswith("https://meet.google.com/")
    assert event_store.calendar_events(ctx.db, calendars[0]["id"]) == []


async def test_sync_token_expiry_resyncs_keeping_surviving_rows(rig):
    ctx, fake = rig
    keep = fake.add_event(ANA, "Keep", soon(), conference="meet")
    gone = fake.add_event(ANA, "Gone", soon(4), conference="meet")
    _, calendars = await connect(ctx, fake, ANA, provider="google")
    syncer = Syncer(ctx)
    await syncer.sync_due()
    cal_id = calendars[0]["id"]
    ids = {r["provider_event_id"]: r["id"] for r in event_store.calendar_events(ctx.db, cal_id)}
    mark = last_change(ctx)

    fake.delete_event(ANA, gone["id"], purge=True)
    fake.invalidate_sync_tokens(ANA)
    result = await syncer.sync_calendar(cal_id)
    assert result.kind == "full" and result.result == "ok"
    rows = event_store.calendar_events(ctx.db, cal_id)
    assert [(r["provider_event_id"], r["id"]) for r in rows] == [(keep["id"], ids[keep["id"]])]
    assert [(c["kind"], c["detail"]["provider_event_id"]) for c in event_store.changes_since(ctx.db, mark)] == [
        ("deleted", gone["id"])]


async def test_paging_resumes_after_a_crash_between_pages(rig):
    ctx, fake = rig
    fake.bulk_add(ANA, 6000, start=soon(1), spacing=timedelta(minutes=5))
    _, calendars = await connect(ctx, fake, ANA, provider="google")
    cal_id = calendars[0]["id"]
    syncer = Syncer(ctx)
    pages_seen = 0
    original = ctx.providers["google"].list_events

    async def list_then_crash(*args, **kwargs):
        nonlocal pages_seen
        pages_seen += 1
        if pages_seen == 2:
            raise ProcessDied  # the process dies mid-listing
        return await original(*args, **kwargs)

    ctx.providers["google"].list_events = list_then_crash
    with pytest.raises(ProcessDied):
        await syncer.sync_calendar(cal_id)
    row = ctx.db.execute("SELECT page_token, sync_token FROM calendars WHERE id = ?", [cal_id]).fetchone()
    assert row[0] is not None and row[1] is None
    assert ctx.db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2500

    ctx.providers["google"].list_events = original
    result = await syncer.sync_calendar(cal_id)
    assert (result.kind, result.result, result.pages) == ("resume", "ok", 3)   # 2 left + 1 catch-up
    assert ctx.db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 6000
    assert ctx.db.execute("SELECT COUNT(*) FROM changes WHERE kind = 'created'").fetchone()[0] == 6000


async def test_the_window_rolls_forward_daily_dropping_past_events_quietly(tmp_path, google_fake):
    from bot.timeutil import FixedClock

    start = datetime.now(timezone.utc).replace(microsecond=0)
    clock = FixedClock(start)
    google_fake.add_account(ANA)
    ctx = make_ctx(tmp_path, google_fake, clock=clock, calbot_sync_days=30)
    try:
        past = google_fake.add_event(ANA, "Yesterday's sync", start - timedelta(hours=20), conference="meet")
        later = google_fake.add_event(ANA, "Far ahead", start + timedelta(days=32), conference="meet")
        _, calendars = await connect(ctx, google_fake, ANA, provider="google")
        syncer = Syncer(ctx)
        await syncer.sync_due()
        titles = lambda: [r["title"] for r in event_store.calendar_events(ctx.db, calendars[0]["id"])]  # noqa: E731
        assert titles() == ["Yesterday's sync"]
        mark = last_change(ctx)
        clock.advance(days=2)
        result = await syncer.sync_calendar(calendars[0]["id"])
        assert (result.kind, result.result) == ("full", "ok")
        assert titles() == ["Far ahead"]
        assert [(c["kind"], c["event_id"]) for c in event_store.changes_since(ctx.db, mark)] == [
            ("created", event_store.calendar_events(ctx.db, calendars[0]["id"])[0]["id"])]
        assert past["id"] != later["id"]
    finally:
        await close_ctx(ctx)


async def test_recurring_instances_carry_the_series_and_exceptions_are_reflected(rig):
    ctx, fake = rig
    series = fake.add_recurring(ANA, "Weekly sync", soon(1), count=4, interval=timedelta(days=1), conference="meet")
    _, calendars = await connect(ctx, fake, ANA, provider="google")
    syncer = Syncer(ctx)
    await syncer.sync_due()
    rows = event_store.calendar_events(ctx.db, calendars[0]["id"])
    assert len(rows) == 4 and {r["series_id"] for r in rows} == {series["id"]}
    assert all(r["original_start"] == r["start_at"] for r in rows)
    instances = fake.instances(ANA, series["id"])
    mark = last_change(ctx)
    fake.move_instance(ANA, instances[1]["id"], soon(1) + timedelta(days=1, hours=2))
    fake.cancel_instance(ANA, instances[2]["id"])
    await syncer.sync_calendar(calendars[0]["id"])
    changes = {(c["kind"], c["detail"].get("provider_event_id") or c["event_id"]) for c in event_store.changes_since(ctx.db, mark)}
    moved_row = next(r for r in event_store.calendar_events(ctx.db, calendars[0]["id"]) if r["provider_event_id"] == instances[1]["id"])
    assert changes == {("moved", moved_row["id"]), ("deleted", instances[2]["id"])}
    assert moved_row["original_start"] != moved_row["start_at"] and moved_row["series_id"] == series["id"]


async def test_sync_shows_in_metrics(rig):
    ctx, fake = rig
    fake.add_event(ANA, "Acme demo", soon(), conference="meet")
    await connect(ctx, fake, ANA, provider="google")
    syncer = Syncer(ctx)
    while await syncer.step():
        pass
    text = ctx.metrics.render().decode()
    assert 'calbot_sync_runs_total{kind="full",provider="google",result="ok"} 1.0' in text
    assert 'calbot_sync_events_total{provider="google"} 1.0' in text
    assert 'calbot_connections{status="active"} 1.0' in text
