"""The Google adapter against the Google emulator: OAuth with PKCE, sync, errors, push."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.responses import Response
from starlette.routing import Route

from bot.calendars.base import (
    AccessTokenRejected,
    AuthRevoked,
    EventContext,
    NotFound,
    ProviderError,
    RateLimited,
    SyncTokenExpired,
    TokenSet,
)
from bot.calendars.google import SCOPES, GoogleCalendar
from bot.config import Settings
from tests.fakes.base import FakeService

UTC = timezone.utc
REDIRECT = "http://127.0.0.1:3000/oauth/google/callback"
ANA = "ana@acme.com"


class Receiver(FakeService):
    """A tiny webhook endpoint standing in for calbot's /webhooks/google."""

    name = "receiver"

    def routes(self):
        async def hook(request):
            return Response(status_code=200)

        return [Route("/webhooks/google", hook, methods=["POST"])]


@pytest.fixture
def google(google_fake):
    google_fake.add_account(ANA, time_zone="Europe/Berlin")
    return google_fake


@pytest.fixture
async def adapter(google):
    settings = Settings(_env_file=None, **google.settings_overrides())
    provider = GoogleCalendar(settings)
    yield provider
    await provider.aclose()


@pytest.fixture
def receiver():
    with Receiver() as fake:
        yield fake


def window():
    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(days=30)


def context(calendar_id=ANA):
    return EventContext(account_email=ANA, calendar_id=calendar_id, calendar_timezone="Europe/Berlin",
                        internal_domains=frozenset())


async def full_sync(adapter, token, calendar_id=ANA):
    start, end = window()
    events, pages, page_token = [], 0, None
    while True:
        page = await adapter.list_events(token, calendar_id, window_start=start, window_end=end,
                                         page_token=page_token)
        events.extend(page.events)
        pages += 1
        if page.next_page is None:
            return events, pages, page.sync_token
        page_token = page.next_page


async def incremental(adapter, token, sync_token, calendar_id=ANA):
    start, end = window()
    events, page_token = [], None
    while True:
        page = await adapter.list_events(token, calendar_id, window_start=start, window_end=end,
                                         sync_token=sync_token, page_token=page_token)
        events.extend(page.events)
        if page.next_page is None:
            return events, page.sync_token
        page_token = page.next_page


# -- OAuth -------------------------------------------------------------------------------------

async def connect(adapter, google, login=ANA):
    verifier = secrets.token_urlsafe(48)
    url = adapter.authorization_url(state="st-123", code_verifier=verifier, redirect_uri=REDIRECT)
    google.next_login = login
    location = httpx.get(url, follow_redirects=False).headers["location"]
    query = parse_qs(urlsplit(location).query)
    return url, verifier, query


async def test_full_oauth_round_trip_with_pkce(adapter, google):
    url, verifier, query = await connect(adapter, google)

    asked = parse_qs(urlsplit(url).query)
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43
    assert asked["access_type"] == ["offline"] and asked["prompt"] == ["consent"]
    assert asked["include_granted_scopes"] == ["true"]
    assert asked["scope"][0].split() == list(SCOPES)
    assert query["state"] == ["st-123"]

    tokens = await adapter.exchange_code(code=query["code"][0], code_verifier=verifier, redirect_uri=REDIRECT)
    assert tokens.access_token and tokens.refresh_token and tokens.id_token
    assert tokens.expires_at > datetime.now(UTC) + timedelta(minutes=50)
    assert await adapter.account_email(tokens) == ANA
    # the read-only scopes are enough for the calendar picker
    [calendar] = await adapter.list_calendars(tokens.access_token)
    assert calendar.id == ANA and calendar.is_primary and calendar.timezone == "Europe/Berlin"

    # the token request carried the verifier and the client credentials, never in a URL
    [token_call] = google.calls("^/token$")
    form = token_call.form()
    assert form["code_verifier"] == verifier and form["client_secret"] == google.client_secret
    assert token_call.query == {}

    with pytest.raises(AuthRevoked):  # a code is single-use
        await adapter.exchange_code(code=query["code"][0], code_verifier=verifier, redirect_uri=REDIRECT)


async def test_wrong_pkce_verifier_is_refused(adapter, google):
    _, verifier, query = await connect(adapter, google)
    with pytest.raises(AuthRevoked):
        await adapter.exchange_code(code=query["code"][0], code_verifier=secrets.token_urlsafe(48),
                                    redirect_uri=REDIRECT)
    # ... and the real verifier still works: the code was not consumed by the failed attempt
    tokens = await adapter.exchange_code(code=query["code"][0], code_verifier=verifier, redirect_uri=REDIRECT)
    assert tokens.refresh_token


async def test_unticked_calendar_scope_is_refused_at_connect(adapter, google):
    google.next_granted_scopes = {"openid", "email"}
    _, verifier, query = await connect(adapter, google)
    with pytest.raises(AuthRevoked, match="calendar access"):
        await adapter.exchange_code(code=query["code"][0], code_verifier=verifier, redirect_uri=REDIRECT)


async def test_refresh_gives_a_new_access_token_and_keeps_the_refresh_token(adapter, google):
    _, verifier, query = await connect(adapter, google)
    tokens = await adapter.exchange_code(code=query["code"][0], code_verifier=verifier, redirect_uri=REDIRECT)
    google.expire_access_tokens(ANA)
    with pytest.raises(AccessTokenRejected):
        await adapter.list_calendars(tokens.access_token)

    fresh = await adapter.refresh(tokens.refresh_token)
    assert fresh.access_token != tokens.access_token
    assert fresh.refresh_token == tokens.refresh_token  # Google does not rotate it
    assert await adapter.list_calendars(fresh.access_token)


async def test_revoked_grant_raises_auth_revoked(adapter, google):
    tokens = google.grant(ANA, scopes=SCOPES)
    google.revoke(ANA)
    with pytest.raises(AccessTokenRejected):
        await adapter.list_calendars(tokens["access_token"])
    with pytest.raises(AuthRevoked) as raised:
        await adapter.refresh(tokens["refresh_token"])
    assert raised.value.transient is False
    assert tokens["refresh_token"] not in str(raised.value)


async def test_disconnect_revokes_the_grant_at_google(adapter, google):
    tokens = google.grant(ANA, scopes=SCOPES)
    await adapter.revoke(tokens["refresh_token"])
    assert google.calls("^/revoke$", method="POST")
    with pytest.raises(AuthRevoked):
        await adapter.refresh(tokens["refresh_token"])


async def test_account_email_falls_back_to_the_primary_calendar(adapter, google):
    tokens = google.grant(ANA, scopes=SCOPES)
    bare = TokenSet(access_token=tokens["access_token"], refresh_token=None, expires_at=None)
    assert await adapter.account_email(bare) == ANA


async def test_token_endpoint_outage_is_transient(adapter, google):
    tokens = google.grant(ANA, scopes=SCOPES)
    google.fail_next("^/token$", 503, body="<html>unavailable</html>")
    with pytest.raises(ProviderError) as raised:
        await adapter.refresh(tokens["refresh_token"])
    assert raised.value.transient and not isinstance(raised.value, AuthRevoked)


# -- sync --------------------------------------------------------------------------------------

async def test_list_calendars_pages_to_the_end(adapter, google):
    for i in range(260):
        google.add_calendar(ANA, summary=f"Team {i}")
    calendars = await adapter.list_calendars(google.grant(ANA, scopes=SCOPES)["access_token"])
    assert len(calendars) == 261 and sum(c.is_primary for c in calendars) == 1
    assert len(google.calls("calendarList$")) == 2


async def test_full_sync_pages_a_5000_event_calendar_to_a_sync_token(adapter, google):
    google.bulk_add(ANA, 5000, start=datetime.now(UTC).replace(microsecond=0), spacing=timedelta(minutes=5))
    token = google.grant(ANA, scopes=SCOPES)["access_token"]

    events, pages, sync_token = await full_sync(adapter, token)

    assert len(events) == 5000 and len({e["id"] for e in events}) == 5000
    assert pages == 2 and sync_token
    first = google.calls("/events$")[0]
    assert first.param("singleEvents") == "true" and first.param("maxResults") == "2500"
    assert first.param("timeMin").endswith("Z") and first.param("timeMax").endswith("Z")
    assert first.path == "/calendar/v3/calendars/ana@acme.com/events"


async def test_incremental_sync_picks_up_a_move_and_a_cancellation(adapter, google):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    moved = google.add_event(ANA, "Acme demo", soon, conference="meet")
    cancelled = google.add_event(ANA, "Standup", soon + timedelta(hours=1))
    google.add_event(ANA, "Untouched", soon + timedelta(hours=2))
    token = google.grant(ANA, scopes=SCOPES)["access_token"]
    _, _, sync_token = await full_sync(adapter, token)

    google.move_event(ANA, moved["id"], soon + timedelta(days=1))
    google.cancel_event(ANA, cancelled["id"])
    changes, next_token = await incremental(adapter, token, sync_token)

    assert {e["id"] for e in changes} == {moved["id"], cancelled["id"]}
    by_id = {e["id"]: e for e in changes}
    assert adapter.removed_id(by_id[cancelled["id"]]) == cancelled["id"]
    assert adapter.removed_id(by_id[moved["id"]]) is None
    event = adapter.normalize(by_id[moved["id"]], context())
    assert event.start_at == soon + timedelta(days=1)
    assert next_token and next_token != sync_token
    incremental_call = google.calls("/events$")[-1]
    assert incremental_call.param("syncToken") == sync_token and incremental_call.param("timeMin") is None

    nothing, _ = await incremental(adapter, token, next_token)
    assert nothing == []


async def test_stale_sync_token_raises_sync_token_expired(adapter, google):
    token = google.grant(ANA, scopes=SCOPES)["access_token"]
    google.add_event(ANA, "One")
    _, _, sync_token = await full_sync(adapter, token)
    google.invalidate_sync_tokens(ANA)
    with pytest.raises(SyncTokenExpired):
        await incremental(adapter, token, sync_token)
    # the clean full resync works
    events, _, fresh = await full_sync(adapter, token)
    assert len(events) == 1 and fresh


@pytest.mark.parametrize("status, reason", [(429, "rateLimitExceeded"), (403, "userRateLimitExceeded"),
                                            (403, "rateLimitExceeded")])
async def test_rate_limits_raise_rate_limited_with_retry_after(adapter, google, status, reason):
    token = google.grant(ANA, scopes=SCOPES)["access_token"]
    google.rate_limit_next("/events$", status=status, reason=reason, retry_after=7)
    start, end = window()
    with pytest.raises(RateLimited) as raised:
        await adapter.list_events(token, ANA, window_start=start, window_end=end)
    assert raised.value.retry_after == 7 and raised.value.status == status
    # the next call goes through
    assert (await adapter.list_events(token, ANA, window_start=start, window_end=end)).sync_token


async def test_server_errors_and_timeouts_are_transient(google):
    settings = Settings(_env_file=None, **google.settings_overrides())
    provider = GoogleCalendar(settings, timeout=0.3)
    try:
        token = google.grant(ANA, scopes=SCOPES)["access_token"]
        start, end = window()
        google.fail_next_google("/events$", 503, "backendError", "Backend Error")
        with pytest.raises(ProviderError) as raised:
            await provider.list_events(token, ANA, window_start=start, window_end=end)
        assert raised.value.transient and raised.value.status == 503

        google.fail_next("/events$", None, delay=1.0)
        with pytest.raises(ProviderError) as raised:
            await provider.list_events(token, ANA, window_start=start, window_end=end)
        assert raised.value.transient and "timed out" in str(raised.value)
    finally:
        await provider.aclose()


async def test_unknown_calendar_is_not_found(adapter, google):
    token = google.grant(ANA, scopes=SCOPES)["access_token"]
    start, end = window()
    with pytest.raises(NotFound):
        await adapter.list_events(token, "nobody@group.calendar.google.com", window_start=start, window_end=end)


async def test_secondary_calendar_ids_are_escaped(adapter, google):
    calendar_id = google.add_calendar(ANA, "c_8f2e#team/sales@group.calendar.google.com", summary="Sales")
    google.add_event(calendar_id, "Pipeline review")
    token = google.grant(ANA, scopes=SCOPES)["access_token"]
    events, _, _ = await full_sync(adapter, token, calendar_id)
    assert [e["summary"] for e in events] == ["Pipeline review"]


# -- push --------------------------------------------------------------------------------------

async def test_watch_delivers_pushes_and_stop_ends_them(adapter, google, receiver):
    token = google.grant(ANA, scopes=SCOPES)["access_token"]
    expires = datetime.now(UTC) + timedelta(days=2)
    channel = await adapter.watch(token, ANA, address=f"{receiver.url}/webhooks/google",
                                  secret="channel-secret", expires_at=expires)
    assert channel.resource_id and abs((channel.expires_at - expires).total_seconds()) < 5

    receiver.wait_for(lambda: receiver.calls("/webhooks/google"))
    google.add_event(ANA, "New meeting")
    receiver.wait_for(lambda: len(receiver.calls("/webhooks/google")) == 2)
    sync, exists = receiver.calls("/webhooks/google")
    assert sync.headers["x-goog-resource-state"] == "sync"
    assert exists.headers["x-goog-resource-state"] == "exists"
    assert exists.headers["x-goog-channel-id"] == channel.channel_id
    assert exists.headers["x-goog-channel-token"] == "channel-secret"
    assert exists.headers["x-goog-resource-id"] == channel.resource_id
    assert int(exists.headers["x-goog-message-number"]) > int(sync.headers["x-goog-message-number"])
    assert await adapter.renew(token, channel, expires_at=expires) is None

    await adapter.stop(token, channel)
    await adapter.stop(token, channel)  # stopping twice is fine: the goal is reached
    google.add_event(ANA, "After stop")
    assert len(google.pushes) == 2 and len(receiver.calls("/webhooks/google")) == 2
