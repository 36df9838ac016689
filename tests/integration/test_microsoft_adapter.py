"""calbot's Microsoft adapter against the Graph emulator: what a member connecting Outlook gets."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.calendars.base import (
    AccessTokenRejected,
    AuthRevoked,
    EventContext,
    NotFound,
    ProviderError,
    PushChannel,
    RateLimited,
    SyncTokenExpired,
)
from bot.calendars.microsoft import SUBSCRIPTION_MAX, MicrosoftCalendar
from bot.config import load_settings
from tests.fakes.microsoft import FakeMicrosoft, GraphReceiver

UTC = timezone.utc
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WINDOW = {"window_start": T0 - timedelta(days=1), "window_end": T0 + timedelta(days=30)}
REDIRECT = "http://localhost:3000/oauth/microsoft/callback"
ANA = "ana@contoso.com"


@pytest.fixture
def receiver():
    with GraphReceiver() as r:
        yield r


@pytest.fixture
def ms(microsoft_fake: FakeMicrosoft) -> FakeMicrosoft:
    microsoft_fake.add_account(ANA)
    return microsoft_fake


@pytest.fixture
async def adapter(ms: FakeMicrosoft):
    provider = MicrosoftCalendar(load_settings(calbot_secret_key=None, **ms.settings_overrides()))
    yield provider
    await provider.aclose()


def context(calendar_id: str, email: str = ANA) -> EventContext:
    return EventContext(account_email=email, calendar_id=calendar_id, calendar_timezone=None,
                        internal_domains=frozenset())


async def sync_all(adapter: MicrosoftCalendar, token: str, calendar_id: str, *, sync_token: str | None = None):
    """Page a round to its end: (events, removed, pages, sync token)."""
    events, removed, pages, page_token = [], [], 0, None
    while True:
        page = await adapter.list_events(token, calendar_id, sync_token=sync_token, page_token=page_token, **WINDOW)
        events += page.events
        removed += page.removed
        pages += 1
        if page.next_page is None:
            assert page.sync_token
            return events, removed, pages, page.sync_token
        assert page.sync_token is None
        page_token = page.next_page


# -- OAuth ---------------------------------------------------------------------------------------

async def test_oauth_round_trip_with_pkce(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    verifier = secrets.token_urlsafe(64)
    url = adapter.authorization_url(state="st-1", code_verifier=verifier, redirect_uri=REDIRECT)
    assert url.startswith(f"{ms.url}/common/oauth2/v2.0/authorize?")
    asked = parse_qs(urlsplit(url).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["response_type"] == ["code"]
    assert set(asked["scope"][0].split()) == {"offline_access", "openid", "email", "User.Read", "Calendars.Read"}

    ms.next_login = ANA
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(url, follow_redirects=False)
    assert consent.status_code == 302
    location = consent.headers["location"]
    assert location.startswith(REDIRECT + "?")
    returned = parse_qs(urlsplit(location).query)
    assert returned["state"] == ["st-1"]

    tokens = await adapter.exchange_code(code=returned["code"][0], code_verifier=verifier, redirect_uri=REDIRECT)
    assert tokens.refresh_token and tokens.access_token and tokens.expires_at > datetime.now(UTC)
    exchange = ms.calls(r"/oauth2/v2.0/token$")[-1].form()
    assert exchange["code_verifier"] == verifier and exchange["grant_type"] == "authorization_code"
    assert await adapter.account_email(tokens) == ANA

    # a code cannot be redeemed twice: that grant is no good any more
    with pytest.raises(AuthRevoked):
        await adapter.exchange_code(code=returned["code"][0], code_verifier=verifier, redirect_uri=REDIRECT)


async def test_account_email_falls_back_to_user_principal_name(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    ms.add_account("guest@fabrikam.com", mail=None)
    tokens = await adapter.refresh(ms.grant("guest@fabrikam.com")["refresh_token"])
    assert await adapter.account_email(tokens) == "guest@fabrikam.com"


async def test_refresh_returns_the_rotated_refresh_token(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    first = ms.grant(ANA)["refresh_token"]
    second = await adapter.refresh(first)
    assert second.refresh_token != first and second.refresh_token == ms.latest_refresh_token(ANA)
    third = await adapter.refresh(second.refresh_token)
    assert third.refresh_token == ms.latest_refresh_token(ANA)
    assert all(entry["latest"] and entry["outcome"] == "ok" for entry in ms.refresh_log)

    ms.advance(ms.refresh_grace + 1)  # a stale token stored by mistake stops working
    with pytest.raises(AuthRevoked):
        await adapter.refresh(first)


async def test_revoked_grant_is_auth_revoked(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    grant = ms.grant(ANA)
    ms.revoke(ANA)
    with pytest.raises(AuthRevoked) as caught:
        await adapter.refresh(grant["refresh_token"])
    assert grant["refresh_token"] not in str(caught.value)
    with pytest.raises(AccessTokenRejected):
        await adapter.list_calendars(grant["access_token"])


async def test_expired_access_token_asks_for_a_refresh(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    grant = ms.grant(ANA)
    ms.expire_access_tokens(ANA)
    with pytest.raises(AccessTokenRejected) as caught:
        await adapter.list_calendars(grant["access_token"])
    assert caught.value.transient
    fresh = await adapter.refresh(grant["refresh_token"])
    assert [c.name for c in await adapter.list_calendars(fresh.access_token)] == ["Calendar"]


async def test_token_endpoint_failures(ms: FakeMicrosoft):
    settings = load_settings(calbot_secret_key=None, **{**ms.settings_overrides(), "microsoft_client_secret": "nope"})
    misconfigured = MicrosoftCalendar(settings)
    try:
        with pytest.raises(ProviderError) as caught:
            await misconfigured.refresh(ms.grant(ANA)["refresh_token"])
        assert not caught.value.transient and not isinstance(caught.value, AuthRevoked)
    finally:
        await misconfigured.aclose()

    adapter = MicrosoftCalendar(load_settings(calbot_secret_key=None, **ms.settings_overrides()))
    try:
        refresh_token = ms.grant(ANA)["refresh_token"]
        ms.fail_next(r"/oauth2/v2.0/token$", 503, body="<html>Service Unavailable</html>", retry_after=4)
        with pytest.raises(ProviderError) as unavailable:
            await adapter.refresh(refresh_token)
        assert unavailable.value.transient and unavailable.value.retry_after == 4
        ms.fail_next(r"/oauth2/v2.0/token$", 429, body={"error": "temporarily_unavailable"}, retry_after=9)
        with pytest.raises(RateLimited) as throttled:
            await adapter.refresh(refresh_token)
        assert throttled.value.retry_after == 9
        assert (await adapter.refresh(refresh_token)).access_token  # and then it works again
    finally:
        await adapter.aclose()


# -- calendars and events ------------------------------------------------------------------------

async def test_list_calendars_pages_and_marks_the_default(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    for n in range(3):
        ms.add_calendar(ANA, f"Team {n}")
    calendars = await adapter.list_calendars(ms.grant(ANA)["access_token"])
    assert [(c.name, c.is_primary) for c in calendars] == [
        ("Calendar", True), ("Team 0", False), ("Team 1", False), ("Team 2", False)]


async def test_full_sync_pages_2000_events_to_a_delta_link(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    ms.bulk_add(ANA, 2000, start=T0, spacing=timedelta(minutes=20))
    token = ms.grant(ANA)["access_token"]
    calendar = ms.default_calendar(ANA)
    events, removed, pages, sync_token = await sync_all(adapter, token, calendar)
    assert len(events) == 2000 and len({e["id"] for e in events}) == 2000 and removed == []
    assert pages == 10  # odata.maxpagesize=200
    assert [entry["kind"] for entry in ms.delta_log] == ["initial"] + ["page"] * 9
    assert all(entry["prefer"] == {"outlook.timezone": "UTC", "odata.maxpagesize": "200"} for entry in ms.delta_log)
    normalized = [adapter.normalize(e, context(calendar)) for e in events]
    assert all(n.platform == "teams" and n.start_at.tzinfo is not None for n in normalized)
    assert normalized[0].start_at == T0

    # nothing changed: the next round is empty
    again, removed, _, _ = await sync_all(adapter, token, calendar, sync_token=sync_token)
    assert again == [] and removed == []


async def test_incremental_sync_sees_moves_cancellations_and_exceptions(ms: FakeMicrosoft,
                                                                        adapter: MicrosoftCalendar):
    demo = ms.add_event(ANA, "Acme demo", start=T0, online="teams", attendees=["bob@client.com"])
    dropped = ms.add_event(ANA, "Dropped", start=T0 + timedelta(hours=3))
    invite = ms.add_event(ANA, "Their review", start=T0 + timedelta(hours=5), organizer="carl@partner.com",
                          response="accepted", online="zoom")
    master = ms.add_series(ANA, "Weekly sync", start=T0 + timedelta(hours=1), count=4, online="teams",
                           attendees=["dan@contoso.com"])
    occurrences = ms.occurrences(ANA, master["id"])
    token = ms.grant(ANA)["access_token"]
    calendar = ms.default_calendar(ANA)
    ctx = context(calendar)

    events, _, _, sync_token = await sync_all(adapter, token, calendar)
    series = sorted((adapter.normalize(e, ctx) for e in events if e.get("seriesMasterId")), key=lambda n: n.start_at)
    # delta's bare occurrences came back complete: one master fetch for the whole series
    assert [n.title for n in series] == ["Weekly sync"] * 4
    assert all(n.series_id == master["id"] and n.platform == "teams" for n in series)
    assert [n.original_start for n in series] == [n.start_at for n in series]
    assert len(ms.calls(r"/me/events/")) == 1

    ms.move_event(ANA, demo["id"], T0 + timedelta(hours=2))
    ms.delete_event(ANA, dropped["id"])
    ms.cancel_event(ANA, invite["id"])                                   # organizer cancels
    ms.move_occurrence(ANA, occurrences[1]["id"], T0 + timedelta(days=8, hours=1))
    ms.cancel_occurrence(ANA, occurrences[2]["id"])

    changed, removed, _, sync_token = await sync_all(adapter, token, calendar, sync_token=sync_token)
    by_id = {e["id"]: adapter.normalize(e, ctx) for e in changed}
    assert set(removed) == {dropped["id"], occurrences[2]["id"]}
    assert all(adapter.removed_id({"id": r, "@removed": {"reason": "deleted"}}) == r for r in removed)
    assert by_id[demo["id"]].start_at == T0 + timedelta(hours=2)
    assert by_id[invite["id"]].status == "cancelled"
    exception = by_id[occurrences[1]["id"]]
    assert exception.series_id == master["id"] and exception.title == "Weekly sync"
    assert exception.original_start == T0 + timedelta(days=7, hours=1)
    assert exception.start_at == T0 + timedelta(days=8, hours=1)

    # a series master deleted between delta and the master fetch: its occurrences are gone
    ms.update_event(ANA, master["id"], subject="Weekly sync (new room)")
    ms.delete_event(ANA, master["id"])
    changed, removed, _, _ = await sync_all(adapter, token, calendar, sync_token=sync_token)
    assert changed == [] and {occurrences[0]["id"], occurrences[1]["id"], occurrences[3]["id"]} <= set(removed)


async def test_series_change_reaches_every_occurrence(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    master = ms.add_series(ANA, "Standup", start=T0, count=3, interval=1)
    token = ms.grant(ANA)["access_token"]
    calendar = ms.default_calendar(ANA)
    _, _, _, sync_token = await sync_all(adapter, token, calendar)
    ms.update_event(ANA, master["id"], subject="Standup (moved to Teams)", online="teams")
    changed, _, _, _ = await sync_all(adapter, token, calendar, sync_token=sync_token)
    normalized = [adapter.normalize(e, context(calendar)) for e in changed]
    assert len(normalized) == 3
    assert {(n.title, n.platform) for n in normalized} == {("Standup (moved to Teams)", "teams")}


async def test_invalid_delta_token_means_full_resync(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    ms.bulk_add(ANA, 450, start=T0)
    token = ms.grant(ANA)["access_token"]
    calendar = ms.default_calendar(ANA)
    first = await adapter.list_events(token, calendar, **WINDOW)
    ms.invalidate_delta_tokens(ANA)
    with pytest.raises(SyncTokenExpired):
        await adapter.list_events(token, calendar, page_token=first.next_page, **WINDOW)
    _, _, _, sync_token = await sync_all(adapter, token, calendar)
    ms.invalidate_delta_tokens(ANA)
    with pytest.raises(SyncTokenExpired):
        await adapter.list_events(token, calendar, sync_token=sync_token, **WINDOW)
    with pytest.raises(SyncTokenExpired):
        await adapter.list_events(token, calendar, sync_token="not a link", **WINDOW)


async def test_a_rolled_window_starts_a_new_round(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    ms.add_event(ANA, "Soon", start=T0)
    token = ms.grant(ANA)["access_token"]
    calendar = ms.default_calendar(ANA)
    _, _, _, sync_token = await sync_all(adapter, token, calendar)
    # hours later the window has barely moved: the round goes on (and the window stays private)
    later = {"window_start": WINDOW["window_start"] + timedelta(hours=6),
             "window_end": WINDOW["window_end"] + timedelta(hours=6)}
    page = await adapter.list_events(token, calendar, sync_token=sync_token, **later)
    assert page.sync_token and "calbot-window" not in str(ms.calls(r"/calendarView/delta$")[-1].query)
    # two days later events 31-32 days out would be missed: start again with the new window
    ms.add_event(ANA, "Far out", start=WINDOW["window_end"] + timedelta(days=1))
    moved = {"window_start": WINDOW["window_start"] + timedelta(days=2),
             "window_end": WINDOW["window_end"] + timedelta(days=2)}
    with pytest.raises(SyncTokenExpired):
        await adapter.list_events(token, calendar, sync_token=page.sync_token, **moved)
    fresh = await adapter.list_events(token, calendar, **moved)
    assert "Far out" in {e["subject"] for e in fresh.events}


async def test_links_from_another_host_are_rerooted_on_the_configured_graph(ms: FakeMicrosoft,
                                                                            adapter: MicrosoftCalendar):
    ms.bulk_add(ANA, 3, start=T0)
    token = ms.grant(ANA)["access_token"]
    calendar = ms.default_calendar(ANA)
    _, _, _, sync_token = await sync_all(adapter, token, calendar)
    foreign = "https://graph.example.net/v1.0/" + sync_token.split("/v1.0/", 1)[1]
    page = await adapter.list_events(token, calendar, sync_token=foreign, **WINDOW)
    assert page.events == [] and page.sync_token  # went to the fake, with the bearer token


async def test_unknown_calendar_is_not_found(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    with pytest.raises(NotFound):
        await adapter.list_events(ms.grant(ANA)["access_token"], "AAMkADnope=", **WINDOW)


async def test_throttling_is_rate_limited_with_retry_after(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    token = ms.grant(ANA)["access_token"]
    ms.throttle_next(r"/calendarView/delta", retry_after=7)
    with pytest.raises(RateLimited) as caught:
        await adapter.list_events(token, ms.default_calendar(ANA), **WINDOW)
    assert caught.value.retry_after == 7 and caught.value.status == 429

    ms.throttle_next(r"/me/calendars", status=503, retry_after=3)
    with pytest.raises(ProviderError) as unavailable:
        await adapter.list_calendars(token)
    assert unavailable.value.transient and unavailable.value.retry_after == 3
    assert not isinstance(unavailable.value, (RateLimited, AuthRevoked))


async def test_never_more_than_four_requests_per_mailbox(ms: FakeMicrosoft, adapter: MicrosoftCalendar):
    ms.add_account("bob@contoso.com")
    ms.bulk_add(ANA, 50, start=T0)
    ms.add_series(ANA, "Daily", start=T0, count=10, interval=1)
    ms.latency = 0.05
    first = ms.grant(ANA)
    second = await adapter.refresh(first["refresh_token"])  # two live tokens, one mailbox
    bob = ms.grant("bob@contoso.com")["access_token"]
    calendar = ms.default_calendar(ANA)
    calls = []
    for n in range(20):
        token = first["access_token"] if n % 2 else second.access_token
        calls.append(adapter.list_events(token, calendar, **WINDOW) if n % 3 else adapter.list_calendars(token))
    calls += [adapter.list_calendars(bob) for _ in range(4)]
    results = await asyncio.gather(*calls)
    assert len(results) == 24
    assert ms.max_concurrency[ANA] == 4 and ms.throttled.get(ANA, 0) == 0
    assert ms.max_concurrency["bob@contoso.com"] == 4  # mailboxes do not share slots


# -- subscriptions -------------------------------------------------------------------------------

async def test_subscription_create_renew_delete(ms: FakeMicrosoft, adapter: MicrosoftCalendar,
                                                receiver: GraphReceiver):
    token = ms.grant(ANA)["access_token"]
    calendar = ms.default_calendar(ANA)
    wanted = datetime.now(UTC) + timedelta(days=7)  # longer than Graph allows: capped
    channel = await adapter.watch(token, calendar, address=receiver.address, secret="cs-123",
                                  expires_at=wanted, lifecycle_address=receiver.lifecycle_address)
    assert isinstance(channel, PushChannel) and channel.channel_id in ms.subscriptions
    assert channel.resource_id == f"me/calendars/{calendar}/events"
    assert channel.expires_at <= datetime.now(UTC) + SUBSCRIPTION_MAX
    assert channel.expires_at > datetime.now(UTC) + timedelta(days=2)
    assert len(receiver.validations) == 2  # notification and lifecycle URLs both answered
    created = ms.calls(r"^/v1\.0/subscriptions$", method="POST")[-1].json()
    assert created["clientState"] == "cs-123" and created["changeType"] == "created,updated,deleted"

    ms.add_event(ANA, "Pushed", start=T0)
    ms.wait_for_pushes(1)
    (note,) = receiver.received(lifecycle=False)
    assert note["clientState"] == "cs-123" and note["subscriptionId"] == channel.channel_id

    later = datetime.now(UTC) + timedelta(hours=60)
    renewed = await adapter.renew(token, channel, expires_at=later)
    assert renewed is not None and renewed.channel_id == channel.channel_id
    assert abs((renewed.expires_at - later).total_seconds()) < 1
    assert ms.subscriptions[channel.channel_id].expires == renewed.expires_at

    await adapter.stop(token, channel)
    assert ms.active_subscriptions() == []
    await adapter.stop(token, channel)  # already gone: nothing to do
    assert await adapter.renew(token, channel, expires_at=later) is None  # watch again


async def test_subscription_on_default_calendar_alias(ms: FakeMicrosoft, adapter: MicrosoftCalendar,
                                                      receiver: GraphReceiver):
    channel = await adapter.watch(ms.grant(ANA)["access_token"], "primary", address=receiver.address,
                                  secret="cs", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert channel.resource_id == "me/events"


async def test_no_subscription_on_a_calendar_shared_by_someone_else(ms: FakeMicrosoft, adapter: MicrosoftCalendar,
                                                                     receiver: GraphReceiver):
    ms.add_account("boss@contoso.com")
    shared = ms.add_calendar(ANA, "Boss", calendar_id=ms.default_calendar("boss@contoso.com"))
    with pytest.raises(ProviderError) as caught:
        await adapter.watch(ms.grant(ANA)["access_token"], shared, address=receiver.address, secret="cs",
                            expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert caught.value.status == 403 and not caught.value.transient  # poll this one instead
    assert not isinstance(caught.value, AuthRevoked)  # the grant itself is fine


async def test_subscription_refused_when_the_webhook_fails_the_handshake(ms: FakeMicrosoft,
                                                                         adapter: MicrosoftCalendar,
                                                                         receiver: GraphReceiver):
    receiver.mode = "wrong"
    with pytest.raises(ProviderError) as caught:
        await adapter.watch(ms.grant(ANA)["access_token"], ms.default_calendar(ANA), address=receiver.address,
                            secret="cs", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert caught.value.status == 400 and not caught.value.transient
    assert "ValidationError" in str(caught.value)
