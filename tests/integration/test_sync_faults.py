"""When providers misbehave: rate limits, 5xx, timeouts, expired sync state, revoked grants — and
one calendar's trouble never holds up another's sync."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

import bot.engine.syncer as syncer_module
from bot.engine.push import PushManager
from bot.engine.syncer import Syncer
from bot.timeutil import parse_iso, to_iso
from storage import calendars as cal_store
from tests.integration.calendar_rig import close_ctx, connect, make_ctx

ANA, BEN = "ana@acme.com", "ben@acme.com"


def soon(hours: float = 2) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0, second=0) + timedelta(hours=hours)


@pytest.fixture
async def google(tmp_path, google_fake):
    google_fake.add_account(ANA)
    google_fake.add_account(BEN)
    ctx = make_ctx(tmp_path, google_fake)
    yield ctx, google_fake
    await close_ctx(ctx)


def calendar(ctx, calendar_id):
    return cal_store.get_calendar(ctx.db, calendar_id)


def reauth_dms(ctx):
    return [json.loads(r["payload"]) for r in ctx.db.query(
        "SELECT payload FROM outbox WHERE dedup_key LIKE 'reauth:%' ORDER BY id")]


async def test_rate_limit_backs_off_as_retry_after_says_and_only_that_calendar(google):
    ctx, fake = google
    fake.add_event(ANA, "Demo", soon(), conference="meet")
    fake.add_event(BEN, "Review", soon(), conference="meet")
    _, [ana_cal] = await connect(ctx, fake, ANA, provider="google")
    _, [ben_cal] = await connect(ctx, fake, BEN, provider="google", user_id="U2")
    fake.rate_limit_next(r"/calendars/ana@acme\.com/events", status=429, retry_after=30)
    before = ctx.clock.now()
    results = {r.calendar_id: r for r in await Syncer(ctx).sync_due()}
    assert results[ana_cal["id"]].result == "error" and results[ben_cal["id"]].result == "ok"
    row = calendar(ctx, ana_cal["id"])
    wait = (parse_iso(row["backoff_until"]) - before).total_seconds()
    assert 29 <= wait <= 33 and row["failures"] == 1 and "429" in row["last_error"]   # stored to the second
    assert row["dirty_at"] is not None  # it will sync as soon as the backoff ends
    assert [r.calendar_id for r in await Syncer(ctx).sync_due()] == []   # still backing off
    ctx.db.execute("UPDATE calendars SET backoff_until = ? WHERE id = ?", [to_iso(before), ana_cal["id"]])
    assert [r.result for r in await Syncer(ctx).sync_due()] == ["ok"]
    assert calendar(ctx, ana_cal["id"])["failures"] == 0
    assert ctx.db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2


async def test_server_errors_back_off_exponentially_with_jitter(google):
    ctx, fake = google
    _, [cal] = await connect(ctx, fake, ANA, provider="google")
    syncer = Syncer(ctx)
    waits = []
    for _ in range(4):
        fake.fail_next_google(r"/events$", 503, "backendError", "Backend Error")
        ctx.db.execute("UPDATE calendars SET backoff_until = NULL WHERE id = ?", [cal["id"]])
        now = ctx.clock.now()
        assert (await syncer.sync_calendar(cal["id"])).result == "error"
        waits.append((parse_iso(calendar(ctx, cal["id"])["backoff_until"]) - now).total_seconds())
    assert calendar(ctx, cal["id"])["failures"] == 4
    ceilings = [5, 10, 20, 40]
    assert all(c / 2 - 1 <= w <= c + 1 for w, c in zip(waits, ceilings)), waits


async def test_a_provider_that_does_not_answer_in_time_is_a_failure_not_a_hang(google, monkeypatch):
    ctx, fake = google
    _, [cal] = await connect(ctx, fake, ANA, provider="google")
    monkeypatch.setattr(syncer_module, "CALL_TIMEOUT_SECONDS", 0.3)
    fake.fail_next(r"/events$", None, delay=2.0)
    started = time.monotonic()
    result = await Syncer(ctx).sync_calendar(cal["id"])
    assert time.monotonic() - started < 1.5
    assert result.result == "error" and "did not answer in time" in calendar(ctx, cal["id"])["last_error"]


async def test_microsoft_410_sync_state_not_found_resyncs_fully(tmp_path, microsoft_fake):
    microsoft_fake.add_account("ana@contoso.com")
    ctx = make_ctx(tmp_path, microsoft_fake)
    try:
        keep = microsoft_fake.add_event("ana@contoso.com", "Keep", soon(), online="teams")
        _, [cal] = await connect(ctx, microsoft_fake, "ana@contoso.com", provider="microsoft")
        syncer = Syncer(ctx)
        await syncer.sync_due()
        row_id = ctx.db.execute("SELECT id FROM events").fetchone()[0]
        microsoft_fake.invalidate_delta_tokens("ana@contoso.com")
        result = await syncer.sync_calendar(cal["id"])
        assert (result.kind, result.result) == ("full", "ok")
        assert ctx.db.execute("SELECT id, provider_event_id FROM events").fetchall() == [(row_id, keep["id"])]
        assert [k for (k,) in ctx.db.execute("SELECT kind FROM changes")] == ["created"]
    finally:
        await close_ctx(ctx)


async def test_a_revoked_grant_stops_sync_and_dms_once_however_often_it_is_retried(google):
    ctx, fake = google
    connection, [cal] = await connect(ctx, fake, ANA, provider="google")
    syncer = Syncer(ctx)
    await syncer.sync_due()
    fake.revoke(ANA)   # access token now 401, refresh token invalid_grant
    for _ in range(3):
        ctx.db.execute("UPDATE calendars SET dirty_at = ?, backoff_until = NULL WHERE id = ?",
                       [ctx.clock.now_iso(), cal["id"]])
        await syncer.sync_calendar(cal["id"])
        await syncer.sync_due()
    await PushManager(ctx).ensure_channel({**cal, "provider": "google"})
    row = next(ctx.db.query("SELECT status, last_error FROM connections WHERE id = ?", [connection["id"]]))
    assert row["status"] == "needs_reauth" and "invalid_grant" in row["last_error"]
    [dm] = reauth_dms(ctx)
    assert "lost access to *ana@acme.com*" in dm["blocks"][0]["text"]["text"]
    assert dm["blocks"][1]["elements"][0]["action_id"] == "connection_reconnect"
    assert cal_store.due_calendars(ctx.db, now=ctx.clock.now_iso()) == []

    # Reconnecting clears it; a later breakage is a new DM.
    await connect(ctx, fake, ANA, provider="google")
    assert next(ctx.db.query("SELECT status FROM connections"))["status"] == "active"
    assert [r.result for r in await syncer.sync_due()] == ["ok"]
    fake.revoke(ANA)
    ctx.db.execute("UPDATE calendars SET dirty_at = ? WHERE id = ?", [ctx.clock.now_iso(), cal["id"]])
    await syncer.sync_due()
    assert len(reauth_dms(ctx)) == 2


async def test_consent_revoked_while_the_token_still_works_is_needs_reauth(google):
    ctx, fake = google
    connection, [cal] = await connect(ctx, fake, ANA, provider="google")
    fake.fail_next_google(r"/events$", 403, "insufficientPermissions", "Insufficient Permission", times=5)
    result = await Syncer(ctx).sync_calendar(cal["id"])
    assert result.result == "revoked"
    assert next(ctx.db.query("SELECT status FROM connections"))["status"] == "needs_reauth"
    assert len(reauth_dms(ctx)) == 1


async def test_an_expired_access_token_is_refreshed_once_and_the_call_retried(google):
    ctx, fake = google
    connection, [cal] = await connect(ctx, fake, ANA, provider="google")
    fake.expire_access_tokens(ANA)   # the token we hold looks valid to us, the provider says 401
    old = next(ctx.db.query("SELECT access_token_enc FROM connections"))["access_token_enc"]
    assert (await Syncer(ctx).sync_calendar(cal["id"])).result == "ok"
    assert next(ctx.db.query("SELECT access_token_enc FROM connections"))["access_token_enc"] != old
    assert len(fake.calls(r"^/token$")) == 1


async def test_tokens_are_refreshed_five_minutes_before_expiry_and_rotated_refresh_tokens_kept(
        tmp_path, microsoft_fake):
    microsoft_fake.add_account("ana@contoso.com")
    ctx = make_ctx(tmp_path, microsoft_fake)
    try:
        connection, [cal] = await connect(ctx, microsoft_fake, "ana@contoso.com", provider="microsoft")
        before = next(ctx.db.query("SELECT * FROM connections"))
        ctx.db.execute("UPDATE connections SET token_expires_at = ?",
                       [to_iso(ctx.clock.now() + timedelta(minutes=4))])
        assert (await Syncer(ctx).sync_calendar(cal["id"])).result == "ok"
        after = next(ctx.db.query("SELECT * FROM connections"))
        assert ctx.cipher.decrypt(after["refresh_token_enc"]) == microsoft_fake.latest_refresh_token("ana@contoso.com")
        assert ctx.cipher.decrypt(after["refresh_token_enc"]) != ctx.cipher.decrypt(before["refresh_token_enc"])
        assert parse_iso(after["token_expires_at"]) > ctx.clock.now() + timedelta(minutes=30)
        # Far from expiry: no refresh.
        calls = len(microsoft_fake.calls(r"/token$"))
        await Syncer(ctx).sync_calendar(cal["id"])
        assert len(microsoft_fake.calls(r"/token$")) == calls
    finally:
        await close_ctx(ctx)


async def test_a_slow_calendar_does_not_hold_up_another(google):
    ctx, fake = google
    fake.add_event(ANA, "Demo", soon(), conference="meet")
    fake.add_event(BEN, "Review", soon(), conference="meet")
    _, [ana_cal] = await connect(ctx, fake, ANA, provider="google")
    _, [ben_cal] = await connect(ctx, fake, BEN, provider="google", user_id="U2")
    fake.fail_next(r"/calendars/ana@acme\.com/events", None, delay=3.0)
    syncer = Syncer(ctx)
    started = time.monotonic()
    try:
        while calendar(ctx, ben_cal["id"])["last_synced_at"] is None:
            assert await syncer.step()
            assert time.monotonic() - started < 2.0, "Ben's calendar waited for Ana's"
        assert calendar(ctx, ana_cal["id"])["last_synced_at"] is None   # still listing
        assert ana_cal["id"] in syncer._running
    finally:
        await syncer.cancel()
    # Cancelled mid-listing: still due, nothing half-written.
    assert calendar(ctx, ana_cal["id"])["dirty_at"] is not None
    assert [r.result for r in await syncer.sync_due()] == ["ok"]


async def test_many_calendars_sync_concurrently_within_the_bound(google):
    ctx, fake = google
    accounts = [f"user{i}@acme.com" for i in range(12)]
    for i, account in enumerate(accounts):
        fake.add_account(account)
        await connect(ctx, fake, account, provider="google", user_id=f"U{i}")
    fake.fail_next(r"/events$", None, delay=0.3, times=12)
    started = time.monotonic()
    results = await Syncer(ctx, concurrency=8).sync_due()
    elapsed = time.monotonic() - started
    assert [r.result for r in results] == ["ok"] * 12
    assert elapsed < 1.5   # two waves of 0.3 s, not twelve
