"""The Microsoft emulator behaves like the identity platform and Graph where calbot relies on it.

These talk to the fake with plain httpx, the way any Graph client would, so a regression in the
fake cannot hide behind calbot's adapter.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.microsoft import FakeMicrosoft, GraphReceiver

UTC = timezone.utc
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
REDIRECT = "http://localhost:3000/oauth/microsoft/callback"
WINDOW = {"startDateTime": "2026-11-20T00:00:00Z", "endDateTime": "2026-12-31T00:00:00Z"}
UTC_PREF = 'outlook.timezone="UTC"'
ANA_EMAIL = "ana@contoso.com"


@pytest.fixture
def receiver():
    with GraphReceiver() as r:
        yield r


@pytest.fixture
def ms(microsoft_fake: FakeMicrosoft) -> FakeMicrosoft:
    microsoft_fake.add_account("ana@contoso.com")
    return microsoft_fake


def graph(fake: FakeMicrosoft, account: str = "ana@contoso.com") -> httpx.Client:
    token = fake.grant(account)["access_token"]
    return httpx.Client(base_url=f"{fake.url}/v1.0", headers={"Authorization": f"Bearer {token}"}, timeout=15)


def drain(client: httpx.Client, first: httpx.Response, prefer: str = UTC_PREF) -> tuple[list[dict], str, int]:
    """Follow nextLinks to the deltaLink: (items, deltaLink, pages)."""
    items, pages, response = [], 0, first
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["value"]
        pages += 1
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return items, body["@odata.deltaLink"], pages
        response = client.get(body["@odata.nextLink"], headers={"Prefer": prefer})


def delta_url(fake: FakeMicrosoft, account: str = "ana@contoso.com") -> str:
    return f"/me/calendars/{fake.default_calendar(account)}/calendarView/delta"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(fake: FakeMicrosoft, challenge: str | None, **extra: str) -> httpx.Response:
    params = {"client_id": fake.client_id, "response_type": "code", "redirect_uri": REDIRECT,
              "scope": "offline_access openid email User.Read Calendars.Read", "state": "s1", **extra}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return httpx.get(f"{fake.url}/common/oauth2/v2.0/authorize", params=params, follow_redirects=False)


def token(fake: FakeMicrosoft, **form: str) -> httpx.Response:
    return httpx.post(f"{fake.url}/common/oauth2/v2.0/token",
                      data={"client_id": fake.client_id, "client_secret": fake.client_secret, **form})


# -- identity platform ---------------------------------------------------------------------------

def test_authorization_code_flow_enforces_pkce(ms: FakeMicrosoft):
    assert "Proof Key" in parse_qs(urlsplit(authorize(ms, None).headers["location"]).query)["error_description"][0]

    verifier, challenge = pkce()
    ms.next_login = "ana@contoso.com"
    redirect = authorize(ms, challenge)
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["state"] == ["s1"]
    code = query["code"][0]

    wrong = token(ms, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                  code_verifier=secrets.token_urlsafe(48))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant" and 501481 in wrong.json()["error_codes"]

    good = token(ms, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["id_token"]
    assert "https://graph.microsoft.com/Calendars.Read" in body["scope"].split()

    replay = token(ms, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert replay.json()["error"] == "invalid_grant" and "AADSTS54005" in replay.json()["error_description"]


def test_consent_denied_and_bad_client_and_no_offline_access(ms: FakeMicrosoft):
    _, challenge = pkce()
    ms.deny_next_consent()
    query = parse_qs(urlsplit(authorize(ms, challenge).headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s1"]
    assert query["error_description"][0].startswith("AADSTS65004")

    bad = httpx.get(f"{ms.url}/common/oauth2/v2.0/authorize",
                    params={"client_id": "someone-else", "response_type": "code", "redirect_uri": REDIRECT})
    assert bad.status_code == 400 and "AADSTS700016" in bad.text

    verifier, challenge = pkce()
    code = parse_qs(urlsplit(authorize(ms, challenge, scope="openid Calendars.Read").headers["location"]).query)
    body = token(ms, grant_type="authorization_code", code=code["code"][0], redirect_uri=REDIRECT,
                 code_verifier=verifier).json()
    assert "refresh_token" not in body  # no offline_access, no refresh token


def test_refresh_rotates_and_revoke_gives_invalid_grant(ms: FakeMicrosoft):
    first = ms.grant("ana@contoso.com")["refresh_token"]
    second = token(ms, grant_type="refresh_token", refresh_token=first).json()["refresh_token"]
    assert second != first and ms.latest_refresh_token("ana@contoso.com") == second

    # the superseded token still works during the grace period, then no longer
    assert token(ms, grant_type="refresh_token", refresh_token=first).status_code == 200
    ms.advance(ms.refresh_grace + 1)
    late = token(ms, grant_type="refresh_token", refresh_token=first)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    assert [e["outcome"] for e in ms.refresh_log][-1] == "superseded"

    latest = ms.latest_refresh_token("ana@contoso.com")
    ms.revoke("ana@contoso.com")
    revoked = token(ms, grant_type="refresh_token", refresh_token=latest)
    assert revoked.json()["error"] == "invalid_grant" and revoked.json()["error_codes"] == [50173]


def test_graph_needs_a_valid_token_and_scope(ms: FakeMicrosoft):
    anonymous = httpx.get(f"{ms.url}/v1.0/me")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    narrow = ms.grant("ana@contoso.com", scopes=["openid", "User.Read"])["access_token"]
    denied = httpx.get(f"{ms.url}/v1.0/me/calendars", headers={"Authorization": f"Bearer {narrow}"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"
    client = graph(ms)
    ms.expire_access_tokens("ana@contoso.com")
    assert client.get("/me").status_code == 401


def test_me_and_calendars_paging(ms: FakeMicrosoft):
    for n in range(12):
        ms.add_calendar("ana@contoso.com", f"Project {n}")
    client = graph(ms)
    me = client.get("/me").json()
    assert me["mail"] == me["userPrincipalName"] == "ana@contoso.com" and me["id"]
    names, url, pages = [], "/me/calendars", 0
    while url:
        body = client.get(url).json()
        names += [c["name"] for c in body["value"]]
        assert all({"id", "isDefaultCalendar", "owner", "canEdit"} <= set(c) for c in body["value"])
        url, pages = body.get("@odata.nextLink"), pages + 1
    assert pages == 2 and names[0] == "Calendar" and len(names) == 13


# -- calendarView/delta --------------------------------------------------------------------------

def test_delta_pages_by_maxpagesize_and_ends_with_a_delta_link(ms: FakeMicrosoft):
    ms.bulk_add("ana@contoso.com", 25, start=T0)
    client = graph(ms)
    first = client.get(delta_url(ms), params=WINDOW, headers={"Prefer": f"{UTC_PREF}, odata.maxpagesize=10"})
    assert first.headers["preference-applied"] == 'outlook.timezone="UTC", odata.maxpagesize=10'
    assert "$skiptoken=" in first.json()["@odata.nextLink"].replace("%24", "$")
    items, delta_link, pages = drain(client, first, prefer=f"{UTC_PREF}, odata.maxpagesize=10")
    assert pages == 3 and len(items) == 25 and len({i["id"] for i in items}) == 25
    assert "$deltatoken=" in delta_link.replace("%24", "$")
    assert items[0]["start"] == {"dateTime": "2026-11-24T10:00:00.0000000", "timeZone": "UTC"}

    # no change: the next round is empty
    again, _, _ = drain(client, client.get(delta_link, headers={"Prefer": UTC_PREF}))
    assert again == []


def test_default_page_size_and_time_zone_preference(ms: FakeMicrosoft):
    ms.bulk_add("ana@contoso.com", 12, start=T0)
    client = graph(ms)
    plain = client.get(delta_url(ms), params=WINDOW)
    assert len(plain.json()["value"]) == ms.default_page_size and "preference-applied" not in plain.headers
    assert plain.json()["value"][0]["start"]["timeZone"] == "UTC"  # Graph's default is UTC
    pacific = client.get(delta_url(ms), params=WINDOW,
                         headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}).json()["value"][0]
    assert pacific["start"] == {"dateTime": "2026-11-24T02:00:00.0000000", "timeZone": "Pacific Standard Time"}


def test_delta_returns_only_changes_with_removed(ms: FakeMicrosoft):
    keep = ms.add_event("ana@contoso.com", "Keep", start=T0)
    move = ms.add_event("ana@contoso.com", "Move", start=T0 + timedelta(hours=2), online="teams")
    gone = ms.add_event("ana@contoso.com", "Gone", start=T0 + timedelta(hours=4))
    client = graph(ms)
    items, delta_link, _ = drain(client, client.get(delta_url(ms), params=WINDOW, headers={"Prefer": UTC_PREF}))
    assert {i["subject"] for i in items} == {"Keep", "Move", "Gone"}

    ms.move_event("ana@contoso.com", move["id"], T0 + timedelta(hours=3))
    ms.delete_event("ana@contoso.com", gone["id"])
    added = ms.add_event("ana@contoso.com", "New", start=T0 + timedelta(days=1))
    changes, _, _ = drain(client, client.get(delta_link, headers={"Prefer": UTC_PREF}))
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {move["id"], gone["id"], added["id"]} and keep["id"] not in by_id
    assert by_id[move["id"]]["start"]["dateTime"] == "2026-11-24T13:00:00.0000000"
    assert by_id[gone["id"]]["@removed"] == {"reason": "deleted"} and "subject" not in by_id[gone["id"]]

    # moving an event out of the window removes it from the view
    ms.move_event("ana@contoso.com", keep["id"], T0 + timedelta(days=90))
    changes, _, _ = drain(client, client.get(delta_link, headers={"Prefer": UTC_PREF}))
    assert {c["id"]: c.get("@removed") for c in changes}[keep["id"]] == {"reason": "deleted"}


def test_series_occurrences_exceptions_and_cancellations(ms: FakeMicrosoft):
    master = ms.add_series("ana@contoso.com", "Weekly", start=T0, count=4, online="teams")
    occurrences = ms.occurrences("ana@contoso.com", master["id"])
    assert [o["type"] for o in occurrences] == ["occurrence"] * 4
    assert all(o["seriesMasterId"] == master["id"] and o["originalStart"] for o in occurrences)
    client = graph(ms)
    items, delta_link, _ = drain(client, client.get(delta_url(ms), params=WINDOW, headers={"Prefer": UTC_PREF}))
    assert master["id"] not in {i["id"] for i in items}  # a calendar view has no masters
    # as real Graph does, delta gives occurrences without their series' fields
    assert set(items[0]) == {"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}
    full = client.get(f"/me/events/{master['id']}", params={"$select": "subject,onlineMeeting"}).json()
    assert full["subject"] == "Weekly" and full["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/")

    ms.move_occurrence("ana@contoso.com", occurrences[1]["id"], T0 + timedelta(days=8))
    ms.cancel_occurrence("ana@contoso.com", occurrences[2]["id"])
    changes, _, _ = drain(client, client.get(delta_link, headers={"Prefer": UTC_PREF}))
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {occurrences[1]["id"], occurrences[2]["id"]}
    exception = by_id[occurrences[1]["id"]]
    assert exception["type"] == "exception" and exception["subject"] == "Weekly"
    assert exception["originalStart"] == "2026-12-01T10:00:00Z"
    assert exception["start"]["dateTime"] == "2026-12-02T10:00:00.0000000"
    assert by_id[occurrences[2]["id"]]["@removed"] == {"reason": "deleted"}


def test_cancelled_by_organizer_stays_as_cancelled_on_attendee_calendar(ms: FakeMicrosoft):
    invite = ms.add_event("ana@contoso.com", "Their demo", start=T0, organizer="carl@partner.com",
                          response="accepted")
    assert invite["isOrganizer"] is False and invite["responseStatus"]["response"] == "accepted"
    client = graph(ms)
    _, delta_link, _ = drain(client, client.get(delta_url(ms), params=WINDOW, headers={"Prefer": UTC_PREF}))
    ms.cancel_event("ana@contoso.com", invite["id"])
    (change,), _, _ = drain(client, client.get(delta_link, headers={"Prefer": UTC_PREF}))
    assert change["isCancelled"] is True and change["subject"] == "Canceled: Their demo"


def test_invalidated_tokens_get_410_sync_state_not_found(ms: FakeMicrosoft):
    ms.bulk_add("ana@contoso.com", 5, start=T0)
    client = graph(ms)
    first = client.get(delta_url(ms), params=WINDOW, headers={"Prefer": "odata.maxpagesize=2"})
    next_link = first.json()["@odata.nextLink"]
    ms.invalidate_delta_tokens("ana@contoso.com")
    gone = client.get(next_link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
    _, delta_link, _ = drain(client, client.get(delta_url(ms), params=WINDOW))
    ms.invalidate_delta_tokens("ana@contoso.com")
    assert client.get(delta_link).status_code == 410


def test_delta_needs_a_window(ms: FakeMicrosoft):
    response = graph(ms).get(delta_url(ms))
    assert response.status_code == 400 and response.json()["error"]["code"] == "ErrorInvalidParameter"


# -- throttling ----------------------------------------------------------------------------------

def test_throttle_next_answers_429_with_retry_after(ms: FakeMicrosoft):
    ms.throttle_next(retry_after=7)
    client = graph(ms)
    throttled = client.get("/me")
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "7"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert client.get("/me").status_code == 200


async def test_more_than_four_concurrent_requests_per_mailbox_get_429(ms: FakeMicrosoft):
    ms.add_account("bob@contoso.com")
    ms.latency = 0.3
    ana = ms.grant("ana@contoso.com")["access_token"]
    bob = ms.grant("bob@contoso.com")["access_token"]
    async with httpx.AsyncClient(base_url=f"{ms.url}/v1.0", timeout=15) as client:
        responses = await asyncio.gather(
            *(client.get("/me", headers={"Authorization": f"Bearer {ana}"}) for _ in range(7)),
            *(client.get("/me", headers={"Authorization": f"Bearer {bob}"}) for _ in range(3)),
        )
    ana_status = sorted(r.status_code for r in responses[:7])
    assert ana_status.count(200) == 4 and ana_status.count(429) == 3
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.json()["error"] == {**throttled.json()["error"], "code": "ApplicationThrottled"}
    assert "MailboxConcurrency" in throttled.json()["error"]["message"] and throttled.headers["retry-after"]
    assert all(r.status_code == 200 for r in responses[7:])  # the limit is per mailbox
    assert ms.max_concurrency["ana@contoso.com"] == 5 and ms.max_concurrency["bob@contoso.com"] == 3
    assert ms.throttled["ana@contoso.com"] == 3


# -- subscriptions -------------------------------------------------------------------------------

def subscribe(client: httpx.Client, fake: FakeMicrosoft, receiver: GraphReceiver, **overrides) -> httpx.Response:
    body = {"changeType": "created,updated,deleted", "notificationUrl": receiver.address,
            "lifecycleNotificationUrl": receiver.lifecycle_address,
            "resource": f"me/calendars/{fake.default_calendar('ana@contoso.com')}/events",
            "expirationDateTime": (datetime.now(UTC) + timedelta(hours=48)).isoformat(), "clientState": "s3cret"}
    return client.post("/subscriptions", json={**body, **overrides})


def test_subscription_handshake_then_change_notifications(ms: FakeMicrosoft, receiver: GraphReceiver):
    client = graph(ms)
    created = subscribe(client, ms, receiver)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["clientState"] == "s3cret" and sub["id"]
    # both URLs were validated: the token arrives decoded and must come back verbatim
    assert len(receiver.validations) == 2 and receiver.validations[0].startswith("Validation: ")
    assert [p.outcome for p in ms.pushes if p.kind == "validation"] == ["delivered", "delivered"]

    event = ms.add_event("ana@contoso.com", "Pushed", start=T0)
    ms.delete_event("ana@contoso.com", event["id"])
    ms.wait_for_pushes(2)
    notes = receiver.received(lifecycle=False)
    assert [n["changeType"] for n in notes] == ["created", "deleted"]
    assert notes[0]["clientState"] == "s3cret" and notes[0]["subscriptionId"] == sub["id"]
    assert notes[0]["resourceData"]["id"] == event["id"] and notes[0]["tenantId"]
    assert all(p.status == 202 for p in ms.pushes if p.kind == "change")

    # other calendars do not notify this subscription
    other = ms.add_calendar("ana@contoso.com", "Other")
    ms.add_event(other, "Elsewhere", start=T0)
    assert len([p for p in ms.pushes if p.kind == "change"]) == 2

    renewed = client.patch(f"/subscriptions/{sub['id']}",
                           json={"expirationDateTime": (datetime.now(UTC) + timedelta(hours=60)).isoformat()})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    assert client.delete(f"/subscriptions/{sub['id']}").status_code == 204
    assert client.delete(f"/subscriptions/{sub['id']}").status_code == 404
    assert client.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": "2030-01-01T00:00:00Z"}) \
        .status_code == 404


@pytest.mark.parametrize("mode", ["wrong", "html", "error"])
def test_subscription_refused_when_the_receiver_does_not_echo(ms: FakeMicrosoft, receiver: GraphReceiver, mode):
    receiver.mode = mode
    refused = subscribe(graph(ms), ms, receiver)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ValidationError"
    assert ms.active_subscriptions() == []


def test_subscription_refused_when_the_receiver_is_slow(ms: FakeMicrosoft, receiver: GraphReceiver):
    ms.validation_timeout = 0.3
    receiver.mode, receiver.slow_seconds = "slow", 1.0
    refused = subscribe(graph(ms), ms, receiver)
    assert refused.status_code == 400 and "timed out" in refused.json()["error"]["message"]


def test_subscription_expiration_limit_and_resource(ms: FakeMicrosoft, receiver: GraphReceiver):
    client = graph(ms)
    too_long = (datetime.now(UTC) + timedelta(minutes=ms.max_subscription_minutes + 5)).isoformat()
    response = subscribe(client, ms, receiver, expirationDateTime=too_long)
    assert response.status_code == 400 and "minutes in the future" in response.json()["error"]["message"]
    assert subscribe(client, ms, receiver, resource="me/calendars/not-mine/events").status_code == 400
    assert receiver.validations == []  # refused before any handshake
    assert subscribe(client, ms, receiver, resource="me/events").status_code == 201
    # a calendar shared by someone else lives in their mailbox: no delegated subscription
    ms.add_account("boss@contoso.com")
    shared = ms.add_calendar(ANA_EMAIL, "Boss", calendar_id=ms.default_calendar("boss@contoso.com"))
    refused = subscribe(client, ms, receiver, resource=f"me/calendars/{shared}/events")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ExtensionError"


def test_lifecycle_notifications_and_push_modes(ms: FakeMicrosoft, receiver: GraphReceiver):
    client = graph(ms)
    sub = subscribe(client, ms, receiver).json()
    ms.send_lifecycle(sub["id"], "reauthorizationRequired")
    ms.send_lifecycle(sub["id"], "missed")
    ms.wait_for_pushes(2, kind="lifecycle")
    events = receiver.received(lifecycle=True)
    assert [e["lifecycleEvent"] for e in events] == ["reauthorizationRequired", "missed"]
    assert events[0]["_path"].endswith("/lifecycle") and events[0]["clientState"] == "s3cret"

    ms.push_mode = "duplicate"
    ms.add_event("ana@contoso.com", "Twice", start=T0)
    ms.wait_for_pushes(2)
    ms.push_mode = "drop"
    ms.add_event("ana@contoso.com", "Never", start=T0)
    assert [p.outcome for p in ms.pushes if p.kind == "change"][-1] == "dropped"
    ms.push_mode = "reorder"
    first = ms.add_event("ana@contoso.com", "First", start=T0)
    second = ms.add_event("ana@contoso.com", "Second", start=T0)
    assert ms.flush_pushes() == 2
    ms.wait_for_pushes(4)
    ids = [n["resourceData"]["id"] for n in receiver.received(lifecycle=False)]
    assert ids[-2:] == [second["id"], first["id"]]

    ms.push_mode = "deliver"
    ms.send_lifecycle(sub["id"], "subscriptionRemoved")
    ms.wait_for_pushes(3, kind="lifecycle")
    assert client.get(f"/subscriptions/{sub['id']}").status_code == 404
