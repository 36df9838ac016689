"""Push: Google watch channels and Graph subscriptions made, renewed, stopped; the webhooks that
receive their notifications authenticate them and only mark calendars dirty."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from bot.config import load_settings
from bot.crypto import hash_secret, new_secret_key
from bot.engine.connections import disconnect, select_calendars
from bot.engine.push import PushManager
from bot.engine.syncer import Syncer
from bot.server import create_app
from bot.timeutil import parse_iso, to_iso
from storage import calendars as cal_store
from tests.fakes.microsoft import GraphReceiver
from tests.integration.calendar_rig import connect

ANA, ANA_MS = "ana@acme.com", "ana@contoso.com"


@pytest.fixture
def graph_receiver():
    with GraphReceiver() as receiver:
        yield receiver


async def make_app(tmp_path, *fakes, public_url="http://127.0.0.1:9", push="on"):
    overrides = {}
    for fake in fakes:
        overrides.update(fake.settings_overrides())
    settings = load_settings(calbot_database=str(tmp_path / "c.db"), calbot_secret_key=new_secret_key(),
                             calbot_push=push, calbot_public_url=public_url, _env_file=None, **overrides)
    application = create_app(settings)
    application.state.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                                 base_url="http://calbot.test")
    return application


async def close_app(application):
    ctx = application.state.ctx
    await application.state.client.aclose()
    for provider in ctx.providers.values():
        await provider.aclose()
    await ctx.http.aclose()
    ctx.db.close()


@pytest.fixture
async def google_app(tmp_path, google_fake):
    google_fake.add_account(ANA, calendars=[{"id": "team@group.calendar.google.com", "summary": "Team"}])
    application = await make_app(tmp_path, google_fake)
    yield application
    await close_app(application)


def channels(ctx):
    return list(ctx.db.query("SELECT * FROM push_channels ORDER BY id"))


def dirty(ctx, calendar_id) -> bool:
    return cal_store.get_calendar(ctx.db, calendar_id)["dirty_at"] is not None


def clear_dirty(ctx, calendar_id):
    ctx.db.execute("UPDATE calendars SET dirty_at = NULL WHERE id = ?", [calendar_id])


# -- Google --------------------------------------------------------------------------------------

async def test_each_selected_google_calendar_gets_a_watch_channel_with_a_hashed_token(google_app, google_fake):
    ctx = google_app.state.ctx
    _, calendars = await connect(ctx, google_fake, ANA, provider="google")
    assert await PushManager(ctx).step() is False
    [row] = channels(ctx)
    [remote] = google_fake.active_channels(ANA)
    assert row["calendar_id"] == calendars[0]["id"] and row["channel_id"] == remote.id
    assert remote.address == "http://127.0.0.1:9/webhooks/google"
    assert row["secret_hash"] == hash_secret(remote.token) and remote.token not in row["secret_hash"]
    assert parse_iso(row["expires_at"]) > datetime.now(timezone.utc) + timedelta(days=6)
    # Steady state: nothing more to do, no second channel.
    await PushManager(ctx).step()
    assert len(channels(ctx)) == 1 and google_fake.active_channels("team@group.calendar.google.com") == []


async def test_google_push_marks_the_calendar_dirty_and_bad_ones_are_refused(google_app, google_fake):
    ctx, client = google_app.state.ctx, google_app.state.client
    _, calendars = await connect(ctx, google_fake, ANA, provider="google")
    cal_id = calendars[0]["id"]
    await PushManager(ctx).step()
    clear_dirty(ctx, cal_id)
    sync_message = google_fake.wait_for_pushes(1, state="sync")[0]
    assert (await client.post("/webhooks/google", headers=sync_message.headers)).status_code == 200
    assert not dirty(ctx, cal_id)   # `sync` only says the channel exists

    google_fake.notify(ANA)
    exists = google_fake.wait_for_pushes(1, state="exists")[0]
    assert (await client.post("/webhooks/google", headers=exists.headers)).status_code == 200
    assert dirty(ctx, cal_id)

    clear_dirty(ctx, cal_id)
    forged = {**exists.headers, "X-Goog-Channel-Token": "guess"}
    unknown = {**exists.headers, "X-Goog-Channel-ID": "not-ours"}
    for headers in (forged, unknown, {k: v for k, v in exists.headers.items() if k != "X-Goog-Channel-Token"}):
        assert (await client.post("/webhooks/google", headers=headers)).status_code == 404
    assert not dirty(ctx, cal_id)
    assert "calbot_push_notifications_total{provider=\"google\",result=\"rejected\"} 3.0" in ctx.metrics.render().decode()


async def test_google_channel_is_replaced_before_expiry_with_overlap_then_the_old_one_stopped(google_app, google_fake):
    ctx = google_app.state.ctx
    _, calendars = await connect(ctx, google_fake, ANA, provider="google")
    pushes = PushManager(ctx)
    await pushes.step()
    [old] = channels(ctx)
    ctx.db.execute("UPDATE push_channels SET expires_at = ? WHERE id = ?",
                   [to_iso(datetime.now(timezone.utc) + timedelta(hours=2)), old["id"]])
    clear_dirty(ctx, calendars[0]["id"])
    await pushes.step()   # new channel first (both live), old marked for stopping
    rows = channels(ctx)
    assert [r["status"] for r in rows] == ["stopping", "active"]
    assert len(google_fake.active_channels(ANA)) == 2
    assert dirty(ctx, calendars[0]["id"])   # a sync to cover the handover
    await pushes.step()
    assert [r["status"] for r in channels(ctx)] == ["stopped", "active"]
    assert [c.id for c in google_fake.active_channels(ANA)] == [rows[1]["channel_id"]]


async def test_deselecting_a_calendar_stops_its_channel_and_withdraws_its_events(google_app, google_fake):
    ctx = google_app.state.ctx
    demo = google_fake.add_event(ANA, "Acme demo", datetime.now(timezone.utc) + timedelta(hours=3), conference="meet")
    connection, calendars = await connect(ctx, google_fake, ANA, provider="google")
    await Syncer(ctx).sync_due()
    await PushManager(ctx).step()
    primary = calendars[0]["id"]
    on, off = select_calendars(ctx, member_id=connection["member_id"], connection_id=connection["id"],
                               shown=[c["id"] for c in calendars], chosen=[calendars[1]["id"]])
    assert (on, off) == ([calendars[1]["id"]], [primary])
    assert ctx.db.execute("SELECT COUNT(*) FROM events WHERE calendar_id = ?", [primary]).fetchone()[0] == 0
    deleted = list(ctx.db.query("SELECT * FROM changes WHERE kind = 'deleted'"))
    assert [json.loads(d["detail"])["provider_event_id"] for d in deleted] == [demo["id"]]
    await PushManager(ctx).step()
    assert google_fake.active_channels(ANA) == []
    assert len(google_fake.active_channels("team@group.calendar.google.com")) == 1


async def test_someone_elses_click_changes_nothing(google_app, google_fake):
    ctx = google_app.state.ctx
    connection, calendars = await connect(ctx, google_fake, ANA, provider="google")
    other = ctx.db.execute("INSERT INTO members (team_id, user_id, created_at) VALUES ('T1', 'U_EVE', 'x')").lastrowid
    assert select_calendars(ctx, member_id=other, connection_id=connection["id"],
                            shown=[c["id"] for c in calendars], chosen=[]) == ([], [])
    assert cal_store.get_calendar(ctx.db, calendars[0]["id"])["selected"] == 1


async def test_disconnect_stops_channels_deletes_tokens_and_withdraws_future_meetings(google_app, google_fake):
    ctx = google_app.state.ctx
    demo = google_fake.add_event(ANA, "Acme demo", datetime.now(timezone.utc) + timedelta(hours=3), conference="meet")
    connection, calendars = await connect(ctx, google_fake, ANA, provider="google")
    await Syncer(ctx).sync_due()
    await PushManager(ctx).step()
    ctx.db.execute("UPDATE events SET meeting_id = NULL")
    removed = await disconnect(ctx, connection["id"])
    assert removed == 1
    assert google_fake.active_channels(ANA) == []
    assert ctx.db.execute("SELECT COUNT(*) FROM connections").fetchone()[0] == 0
    assert ctx.db.execute("SELECT COUNT(*) FROM calendars").fetchone()[0] == 0
    [change] = list(ctx.db.query("SELECT * FROM changes WHERE kind = 'deleted'"))
    detail = json.loads(change["detail"])
    assert detail["provider_event_id"] == demo["id"] and detail["reason"] == "disconnected"
    assert change["team_id"] == "T1"
    assert [r["status"] for r in channels(ctx)] == ["stopped"]
    audit = next(ctx.db.query("SELECT * FROM audit_log WHERE action = 'calendar.disconnected'"))
    assert audit["subject"] == "google:ana@acme.com"


async def test_with_push_off_no_channels_are_made_and_calendars_poll(tmp_path, google_fake):
    google_fake.add_account(ANA)
    application = await make_app(tmp_path, google_fake, push="off")
    try:
        ctx = application.state.ctx
        _, calendars = await connect(ctx, google_fake, ANA, provider="google")
        await PushManager(ctx).step()
        assert channels(ctx) == [] and google_fake.active_channels(ANA) == []
        await Syncer(ctx).sync_due()
        next_sync = parse_iso(cal_store.get_calendar(ctx.db, calendars[0]["id"])["next_sync_at"])
        assert timedelta(seconds=250) < next_sync - datetime.now(timezone.utc) <= timedelta(seconds=300)
    finally:
        await close_app(application)


async def test_with_a_healthy_channel_the_calendar_is_still_swept_every_half_hour(google_app, google_fake):
    ctx = google_app.state.ctx
    _, calendars = await connect(ctx, google_fake, ANA, provider="google")
    await PushManager(ctx).step()
    await Syncer(ctx).sync_due()
    next_sync = parse_iso(cal_store.get_calendar(ctx.db, calendars[0]["id"])["next_sync_at"])
    assert timedelta(minutes=26) < next_sync - datetime.now(timezone.utc) <= timedelta(minutes=30)


# -- Microsoft -----------------------------------------------------------------------------------

@pytest.fixture
async def graph_app(tmp_path, microsoft_fake, graph_receiver):
    microsoft_fake.add_account(ANA_MS)
    application = await make_app(tmp_path, microsoft_fake, public_url=graph_receiver.url)
    yield application
    await close_app(application)


async def test_graph_subscription_is_made_with_lifecycle_url_and_renewed_in_place(graph_app, microsoft_fake,
                                                                                  graph_receiver):
    ctx = graph_app.state.ctx
    await connect(ctx, microsoft_fake, ANA_MS, provider="microsoft")
    pushes = PushManager(ctx)
    await pushes.step()
    [row] = channels(ctx)
    [subscription] = microsoft_fake.active_subscriptions(ANA_MS)
    assert subscription.id == row["channel_id"] and graph_receiver.validations
    assert subscription.notification_url == f"{graph_receiver.url}/webhooks/microsoft"
    assert subscription.lifecycle_url == f"{graph_receiver.url}/webhooks/microsoft"
    assert row["secret_hash"] == hash_secret(subscription.client_state)

    ctx.db.execute("UPDATE push_channels SET expires_at = ?", [to_iso(datetime.now(timezone.utc) + timedelta(hours=1))])
    await pushes.step()
    [renewed] = channels(ctx)
    assert renewed["channel_id"] == row["channel_id"] and renewed["status"] == "active"
    assert parse_iso(renewed["expires_at"]) > datetime.now(timezone.utc) + timedelta(days=2)
    assert len(microsoft_fake.calls(r"/subscriptions/", method="PATCH")) == 1


async def test_a_subscription_graph_forgot_is_recreated(graph_app, microsoft_fake):
    ctx = graph_app.state.ctx
    await connect(ctx, microsoft_fake, ANA_MS, provider="microsoft")
    pushes = PushManager(ctx)
    await pushes.step()
    [old] = channels(ctx)
    microsoft_fake.send_lifecycle(old["channel_id"], "subscriptionRemoved")   # Graph deletes it
    ctx.db.execute("UPDATE push_channels SET expires_at = ?", [to_iso(datetime.now(timezone.utc) + timedelta(hours=1))])
    await pushes.step()
    rows = channels(ctx)
    assert rows[-1]["status"] == "active" and rows[-1]["channel_id"] != old["channel_id"]
    assert [s.id for s in microsoft_fake.active_subscriptions(ANA_MS)] == [rows[-1]["channel_id"]]


async def test_graph_webhook_handshake_notifications_and_lifecycle(graph_app, microsoft_fake):
    ctx, client = graph_app.state.ctx, graph_app.state.client
    _, [cal] = await connect(ctx, microsoft_fake, ANA_MS, provider="microsoft")
    await PushManager(ctx).step()
    [row] = channels(ctx)
    [subscription] = microsoft_fake.active_subscriptions(ANA_MS)

    handshake = await client.post("/webhooks/microsoft", params={"validationToken": "a b&c<>"})
    assert handshake.status_code == 200 and handshake.text == "a b&c<>"
    assert handshake.headers["content-type"].startswith("text/plain")

    def item(**extra):
        return {"subscriptionId": subscription.id, "clientState": subscription.client_state,
                "changeType": "updated", "resource": "Users/x/Events/y", **extra}

    clear_dirty(ctx, cal["id"])
    assert (await client.post("/webhooks/microsoft", json={"value": [item(clientState="forged")]})).status_code == 202
    assert not dirty(ctx, cal["id"])
    assert (await client.post("/webhooks/microsoft", json={"value": [item(), item()]})).status_code == 202
    assert dirty(ctx, cal["id"])

    clear_dirty(ctx, cal["id"])
    await client.post("/webhooks/microsoft", json={"value": [item(lifecycleEvent="missed")]})
    assert dirty(ctx, cal["id"])

    await client.post("/webhooks/microsoft", json={"value": [item(lifecycleEvent="reauthorizationRequired")]})
    assert parse_iso(channels(ctx)[0]["expires_at"]) <= datetime.now(timezone.utc)
    await PushManager(ctx).step()
    assert channels(ctx)[0]["channel_id"] == row["channel_id"]
    assert parse_iso(channels(ctx)[0]["expires_at"]) > datetime.now(timezone.utc) + timedelta(days=2)

    clear_dirty(ctx, cal["id"])
    await client.post("/webhooks/microsoft", json={"value": [item(lifecycleEvent="subscriptionRemoved")]})
    assert channels(ctx)[0]["status"] == "stopped" and dirty(ctx, cal["id"])

    assert (await client.post("/webhooks/microsoft", content=b"not json")).status_code == 400


async def test_a_calendar_graph_will_not_subscribe_to_is_polled(graph_app, microsoft_fake):
    ctx = graph_app.state.ctx
    _, calendars = await connect(ctx, microsoft_fake, ANA_MS, provider="microsoft")
    ctx.db.execute("UPDATE calendars SET next_sync_at = ?", [to_iso(datetime.now(timezone.utc) + timedelta(hours=1))])
    microsoft_fake.fail_next_graph(r"/subscriptions$", 403, "ExtensionError", "Forbidden", method="POST")
    pushes = PushManager(ctx)
    await pushes.step()
    assert channels(ctx) == []
    next_sync = parse_iso(cal_store.get_calendar(ctx.db, calendars[0]["id"])["next_sync_at"])
    assert next_sync - datetime.now(timezone.utc) <= timedelta(seconds=300)
    await pushes.step()   # refused: not asked again at once
    assert len(microsoft_fake.calls(r"/subscriptions$", method="POST")) == 1
