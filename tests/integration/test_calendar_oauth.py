"""Connecting a calendar through `/oauth/{provider}/start` and `/callback`, in-process against the
fakes: what the member sees in the browser and in Slack for every outcome — never a 5xx."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.config import load_settings
from bot.crypto import new_secret_key
from bot.server import create_app
from bot.timeutil import FixedClock
from handlers.oauth.calendar import new_connect_url
from storage import calendars as cal_store

TEAM, USER = "T1", "U_ANA"


def dms(ctx, user=USER) -> list[dict]:
    return [dict(r, payload=json.loads(r["payload"])) for r in ctx.db.query(
        "SELECT * FROM outbox WHERE kind = 'slack.dm' AND target = ? ORDER BY id", [user])]


@pytest.fixture
def clock():
    return FixedClock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
async def app(tmp_path, google_fake, microsoft_fake, clock):
    settings = load_settings(
        calbot_database=str(tmp_path / "c.db"), calbot_secret_key=new_secret_key(), calbot_push="off",
        calbot_public_url="http://calbot.test", _env_file=None,
        **google_fake.settings_overrides(), **microsoft_fake.settings_overrides())
    application = create_app(settings, clock)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as client:
        application.state.client = client
        yield application
    ctx = application.state.ctx
    for provider in ctx.providers.values():
        await provider.aclose()
    await ctx.http.aclose()
    ctx.db.close()


async def dance(app, fake, provider: str, *, account: str, url: str | None = None) -> httpx.Response:
    """Follow the Slack button: our start → the fake's consent → our callback."""
    ctx, client = app.state.ctx, app.state.client
    url = url or new_connect_url(ctx, team_id=TEAM, user_id=USER, provider=provider)
    start = await client.get(url.removeprefix("http://calbot.test"))
    assert start.status_code == 302, start.text
    fake.next_login = account
    callback = fake.consent(start.headers["location"])
    return await client.get(callback.removeprefix("http://calbot.test"))


async def test_connect_stores_encrypted_tokens_selects_primary_and_dms_the_calendars(app, google_fake):
    google_fake.add_account("ana@acme.com", calendars=[{"id": "team@group.calendar.google.com", "summary": "Team"}])
    page = await dance(app, google_fake, "google", account="ana@acme.com")
    assert page.status_code == 200
    assert "Connected as ana@acme.com — back to Slack" in page.text
    ctx = app.state.ctx
    connection = next(ctx.db.query("SELECT * FROM connections"))
    assert connection["status"] == "active" and connection["account"] == "ana@acme.com"
    assert "ya29" not in connection["access_token_enc"] and ctx.cipher.decrypt(connection["access_token_enc"]).startswith("ya29")
    calendars = {c["provider_calendar_id"]: c["selected"] for c in cal_store.connection_calendars(ctx.db, connection["id"])}
    assert calendars == {"ana@acme.com": 1, "team@group.calendar.google.com": 0}
    [dm] = dms(ctx)
    boxes = [e for b in dm["payload"]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [o["text"]["text"] for o in boxes[0]["options"]] == ["ana@acme.com", "Team"]
    assert [o["text"]["text"] for o in boxes[0]["initial_options"]] == ["ana@acme.com"]


async def test_pkce_verifier_is_stored_encrypted_and_sent_as_s256_challenge(app, google_fake):
    ctx, client = app.state.ctx, app.state.client
    url = new_connect_url(ctx, team_id=TEAM, user_id=USER, provider="google")
    start = await client.get(url.removeprefix("http://calbot.test"))
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["access_type"] == ["offline"]
    row = next(ctx.db.query("SELECT * FROM oauth_states"))
    verifier = ctx.cipher.decrypt(row["code_verifier_enc"])
    assert 43 <= len(verifier) <= 128 and verifier not in row["code_verifier_enc"]


async def test_reconnecting_the_same_account_updates_it_and_a_second_account_is_added(app, google_fake):
    google_fake.add_account("ana@acme.com")
    google_fake.add_account("ana.personal@acme.com")
    await dance(app, google_fake, "google", account="ana@acme.com")
    ctx = app.state.ctx
    first = next(ctx.db.query("SELECT * FROM connections"))
    ctx.db.execute("UPDATE connections SET status = 'needs_reauth' WHERE id = ?", [first["id"]])
    await dance(app, google_fake, "google", account="ana@acme.com")
    rows = list(ctx.db.query("SELECT id, account, status FROM connections ORDER BY id"))
    assert rows == [{"id": first["id"], "account": "ana@acme.com", "status": "active"}]
    await dance(app, google_fake, "google", account="ana.personal@acme.com")
    assert [r["account"] for r in ctx.db.query("SELECT account FROM connections ORDER BY id")] == [
        "ana@acme.com", "ana.personal@acme.com"]


async def test_microsoft_connect_finds_the_account_from_graph_me(app, microsoft_fake):
    microsoft_fake.add_account("ana@contoso.com", calendars=["Birthdays"])
    page = await dance(app, microsoft_fake, "microsoft", account="ana@contoso.com")
    assert page.status_code == 200 and "Connected as ana@contoso.com" in page.text
    ctx = app.state.ctx
    calendars = {c["name"]: c["selected"] for c in ctx.db.query("SELECT name, selected FROM calendars")}
    assert calendars == {"Calendar": 1, "Birthdays": 0}


async def test_a_callback_link_works_once(app, google_fake):
    google_fake.add_account("ana@acme.com")
    ctx, client = app.state.ctx, app.state.client
    url = new_connect_url(ctx, team_id=TEAM, user_id=USER, provider="google")
    start = await client.get(url.removeprefix("http://calbot.test"))
    callback = google_fake.consent(start.headers["location"]).removeprefix("http://calbot.test")
    assert (await client.get(callback)).status_code == 200
    again = await client.get(callback)
    assert again.status_code == 400 and "already used" in again.text
    assert (await client.get(url.removeprefix("http://calbot.test"))).status_code == 400
    assert ctx.db.execute("SELECT COUNT(*) FROM connections").fetchone()[0] == 1


async def test_an_expired_link_says_so_in_the_browser_and_in_slack(app, google_fake, clock):
    google_fake.add_account("ana@acme.com")
    ctx, client = app.state.ctx, app.state.client
    url = new_connect_url(ctx, team_id=TEAM, user_id=USER, provider="google")
    start = await client.get(url.removeprefix("http://calbot.test"))
    callback = google_fake.consent(start.headers["location"]).removeprefix("http://calbot.test")
    clock.advance(minutes=11)
    page = await client.get(callback)
    assert page.status_code == 400 and "expired" in page.text
    assert "expired" in dms(ctx)[-1]["payload"]["text"]
    assert ctx.db.execute("SELECT COUNT(*) FROM connections").fetchone()[0] == 0
    late_start = await client.get(new_connect_url(ctx, team_id=TEAM, user_id=USER, provider="google")
                                  .removeprefix("http://calbot.test"))
    assert late_start.status_code == 302  # a fresh link works


async def test_a_forged_or_tampered_state_gets_a_plain_page_and_no_dm(app, google_fake):
    ctx, client = app.state.ctx, app.state.client
    for state in ("not-a-state", new_connect_url(ctx, team_id=TEAM, user_id=USER, provider="google")
                  .split("state=")[1][:-4] + "AAAA"):
        for path in ("/oauth/google/start", "/oauth/google/callback"):
            page = await client.get(path, params={"state": state, "code": "x"})
            assert page.status_code == 400 and "<h1>" in page.text
    microsoft_state = new_connect_url(ctx, team_id=TEAM, user_id=USER, provider="microsoft").split("state=")[1]
    assert (await client.get("/oauth/google/start", params={"state": microsoft_state})).status_code == 400
    assert dms(ctx) == []


async def test_denied_consent_is_a_clear_page_and_a_dm(app, google_fake):
    google_fake.add_account("ana@acme.com")
    google_fake.deny_next_consent()
    page = await dance(app, google_fake, "google", account="ana@acme.com")
    assert page.status_code == 200 and "Nothing was connected" in page.text
    ctx = app.state.ctx
    assert "didn't allow" in dms(ctx)[-1]["payload"]["text"]
    assert ctx.db.execute("SELECT COUNT(*) FROM connections").fetchone()[0] == 0


async def test_unticked_calendar_permission_is_refused_plainly(app, google_fake):
    google_fake.add_account("ana@acme.com")
    google_fake.next_granted_scopes = {"openid", "email"}
    page = await dance(app, google_fake, "google", account="ana@acme.com")
    assert page.status_code == 400 and "calendar access was not granted" in page.text
    assert "calendar access was not granted" in dms(app.state.ctx)[-1]["payload"]["text"]


@pytest.mark.parametrize("status", [500, 400])
async def test_token_exchange_failure_is_a_page_and_a_dm_never_a_5xx(app, google_fake, status):
    google_fake.add_account("ana@acme.com")
    body = {"error": "invalid_request"} if status == 400 else None
    google_fake.fail_next(r"^/token$", status, method="POST", body=body)
    page = await dance(app, google_fake, "google", account="ana@acme.com")
    assert page.status_code == 400
    assert "ref" in page.text
    assert "didn't complete" in dms(app.state.ctx)[-1]["payload"]["text"]


async def test_an_unconfigured_provider_says_so(tmp_path):
    settings = load_settings(calbot_database=str(tmp_path / "c.db"), calbot_secret_key=new_secret_key(),
                             _env_file=None)
    application = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as client:
        page = await client.get("/oauth/google/start", params={"state": "x"})
    assert page.status_code == 404 and "set up to connect Google Calendar" in page.text
    application.state.ctx.db.close()
    await application.state.ctx.http.aclose()
