"""The Meeting BaaS fake behaves as meetingbaas-openapi-v2.json says the real service does.

Every request it accepts and every answer it gives is validated against the spec, and so is every
callback and webhook it sends; then its behaviour (auth, validation, lock window, 404, list
filters and cursors, SVIX signing) is checked the way calbot relies on it.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.routing import Route
from svix.webhooks import Webhook, WebhookVerificationError

from bot.recorder.meetingbaas_events import authenticate, parse_event
from tests.fakes.base import FakeService
from tests.fakes.meetingbaas import FakeMeetingBaas
from tests.fakes.openapi_check import (
    SpecViolation,
    check_meetingbaas_callback,
    check_meetingbaas_webhook,
    meetingbaas_spec,
)

KEY = "mb-test-key"
AUTH = {"x-meeting-baas-api-key": KEY}
MEET = "https://meet.google.com/abc-defg-hij"
UNKNOWN = "0b6e2c1e-8f0a-4f6e-9a51-1c1d1e1f1a1b"
http = httpx.Client()          # one keep-alive connection for the module: the tests make hundreds of calls


class Receiver(FakeService):
    """Stands in for calbot's /webhooks/meetingbaas: records what arrives, answers 200."""

    name = "receiver"

    def routes(self):
        async def accept(request):
            return JSONResponse({"ok": True})

        return [Route("/{path:path}", accept, methods=["POST", "PUT"])]


@pytest.fixture(scope="module")
def fake():
    with FakeMeetingBaas(api_key=KEY) as service:
        yield service
    http.close()


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as service:
        yield service


@pytest.fixture(autouse=True)
def fresh(fake, receiver):
    fake.reset()
    receiver.reset_requests()
    yield
    spec = meetingbaas_spec()
    for exchange in fake.exchanges:
        if exchange.status < 300:
            spec.check_request(exchange.method, exchange.path, exchange.body, exchange.query, has_body=exchange.has_body)
        spec.check_response(exchange.method, exchange.path, exchange.status, exchange.response)


def z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_(**delta) -> str:
    return z(datetime.now(timezone.utc) + timedelta(**delta))


def create(fake, **fields) -> httpx.Response:
    body = {"bot_name": "calbot", "meeting_url": MEET, "join_at": in_(hours=1), **fields}
    return http.post(f"{fake.url}/v2/bots/scheduled", json=body, headers=AUTH)


def created(fake, **fields) -> str:
    response = create(fake, **fields)
    assert response.status_code == 201, response.text
    return response.json()["data"]["bot_id"]


def listing(fake, **params) -> dict:
    response = http.get(f"{fake.url}/v2/bots/scheduled", params={"limit": "100", **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


# -- the spec checker itself ---------------------------------------------------------------------

def test_checker_catches_what_the_spec_forbids():
    spec = meetingbaas_spec()
    with pytest.raises(SpecViolation, match="bot_name"):
        spec.check_request("POST", "/v2/bots/scheduled", {"meeting_url": MEET, "join_at": in_(hours=1)})
    with pytest.raises(SpecViolation, match="join_at"):
        spec.check_request("POST", "/v2/bots/scheduled", {"bot_name": "b", "meeting_url": MEET,
                                                          "join_at": "2030-01-01T10:00:00+02:00"})
    with pytest.raises(SpecViolation, match="limit"):
        spec.check_request("GET", "/v2/bots/scheduled", query={"limit": "500"})
    with pytest.raises(SpecViolation, match="bot_id"):
        spec.check_response("POST", "/v2/bots/scheduled", 201, {"success": True, "data": {"bot_id": "nope"}})
    with pytest.raises(SpecViolation, match="not a documented response"):
        spec.check_response("POST", "/v2/bots/scheduled", 418, {})
    with pytest.raises(SpecViolation):
        check_meetingbaas_callback({"event": "bot.status_change", "data": {}, "extra": None})


# -- every exchange matches the spec --------------------------------------------------------------

def test_a_full_session_matches_the_spec_status_by_status(fake):
    bot_id = created(fake, extra={"calbot_key": "k1"}, callback_enabled=True,
                     callback_config={"url": "https://calbot.example.com/cb", "secret": "s"},
                     transcription_enabled=True, transcription_config={"provider": "gladia"},
                     entry_message="hello", recording_mode="audio_only", allow_multiple_bots=False)
    listing(fake, extra="calbot_key:k1")
    http.get(f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH)
    http.patch(f"{fake.url}/v2/bots/scheduled/{bot_id}", json={"join_at": in_(hours=2)}, headers=AUTH)
    http.patch(f"{fake.url}/v2/bots/scheduled/{bot_id}", json={"recording_mode": "nope"}, headers=AUTH)
    http.get(f"{fake.url}/v2/bots/scheduled/{UNKNOWN}", headers=AUTH)
    http.get(f"{fake.url}/v2/bots/scheduled/not-a-uuid", headers=AUTH)
    http.get(f"{fake.url}/v2/bots/scheduled", params={"limit": "1"})
    http.delete(f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH)
    http.delete(f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH)     # 409: already cancelled
    create(fake, join_at=in_(seconds=10))
    statuses = sorted({(e.method, e.status) for e in fake.exchanges})
    assert statuses == [("DELETE", 200), ("DELETE", 409), ("GET", 200), ("GET", 400), ("GET", 401), ("GET", 404),
                        ("PATCH", 200), ("PATCH", 400), ("POST", 201), ("POST", 400)]
    # (the autouse fixture validates each of these exchanges against the spec)


def test_injected_faults_have_the_specs_shape(fake):
    fake.rate_limit_next(retry_after=12)
    fake.fail_next("/v2/bots/scheduled", 500)
    fake.fail_next("/v2/bots/scheduled", 503)
    spec = meetingbaas_spec()
    limited = create(fake)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "12"
    assert limited.json()["retryAfter"] == 12
    spec.check_response("POST", "/v2/bots/scheduled", 429, limited.json())
    for status in (500, 503):
        failed = create(fake)
        assert failed.status_code == status
        spec.check_component("ErrorResponse", failed.json())
    assert create(fake).status_code == 201


# -- auth ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"x-meeting-baas-api-key": "wrong"}, {"authorization": f"Bearer {KEY}"}])
def test_every_endpoint_needs_the_api_key(fake, headers):
    answers = [
        http.post(f"{fake.url}/v2/bots/scheduled", json={"bot_name": "b", "meeting_url": MEET,
                                                           "join_at": in_(hours=1)}, headers=headers),
        http.get(f"{fake.url}/v2/bots/scheduled", params={"limit": "5"}, headers=headers),
        http.get(f"{fake.url}/v2/bots/scheduled/{UNKNOWN}", headers=headers),
        http.patch(f"{fake.url}/v2/bots/scheduled/{UNKNOWN}", json={"bot_name": "x"}, headers=headers),
        http.delete(f"{fake.url}/v2/bots/scheduled/{UNKNOWN}", headers=headers),
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert all(a.json()["success"] is False and a.json()["statusCode"] == 401 for a in answers)
    assert fake.bots == {}


# -- create validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("change,why", [
    ({"bot_name": None}, "bot_name"),
    ({"bot_name": ""}, "bot_name"),
    ({"meeting_url": None}, "meeting_url"),
    ({"join_at": None}, "join_at"),
    ({"join_at": "2030-01-01T10:00:00+02:00"}, "join_at"),
    ({"join_at": "2030-01-01 10:00:00Z"}, "join_at"),
    ({"recording_mode": "cinema"}, "recording_mode"),
    ({"entry_message": "x" * 501}, "entry_message"),
    ({"transcription_enabled": True, "transcription_config": {"provider": "whisper"}}, "provider"),
    ({"callback_enabled": True, "callback_config": {"secret": "no url"}}, "url"),
    ({"speech_to_text": "gladia"}, "unknown properties: speech_to_text"),
    ({"callback_config": {"url": "https://c.example"}}, "callback_enabled"),
    ({"callback_enabled": True}, "callback_config is required"),
    ({"transcription_config": {"provider": "gladia"}}, "transcription_enabled"),
    ({"meeting_url": "https://whereby.com/acme"}, "Zoom, Google Meet or Microsoft Teams"),
    ({"meeting_url": "http://meet.google.com/abc-defg-hij"}, "https"),
])
def test_invalid_create_bodies_are_400(fake, change, why):
    body = {"bot_name": "calbot", "meeting_url": MEET, "join_at": in_(hours=1)}
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    response = http.post(f"{fake.url}/v2/bots/scheduled", json=body, headers=AUTH)
    assert response.status_code == 400
    answer = response.json()
    meetingbaas_spec().check_component("ValidationErrorResponse", answer)
    assert why in answer["message"]
    assert fake.bots == {}


def test_body_that_is_not_json_is_400(fake):
    response = http.post(f"{fake.url}/v2/bots/scheduled", content=b"{nope", headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("delta,accepted", [
    (timedelta(seconds=30), False), (timedelta(minutes=-5), False), (timedelta(seconds=75), True),
    (timedelta(days=89), True), (timedelta(days=91), False),
])
def test_join_time_must_be_a_minute_to_ninety_days_ahead(fake, delta, accepted):
    response = create(fake, join_at=z(fake.now() + delta))
    assert (response.status_code == 201) is accepted, response.text


def test_join_time_is_judged_by_the_fakes_clock(fake):
    fake.advance(days=1)
    assert create(fake, join_at=in_(hours=1)).status_code == 400      # an hour from real now is a day ago


# -- get / patch / delete --------------------------------------------------------------------------

def test_get_returns_the_configuration(fake):
    bot_id = created(fake, extra={"calbot_key": "k"}, entry_message="hi", bot_image="https://img.example/a.png",
                     callback_enabled=True, callback_config={"url": "https://c.example/cb", "secret": "s", "method": "PUT"},
                     timeout_config={"waiting_room_timeout": 300})
    data = http.get(f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH).json()["data"]
    assert data["status"] == "scheduled" and data["meeting_platform"] == "meet"
    assert data["callback_config"] == {"enabled": True, "url": "https://c.example/cb", "secret": "s", "method": "PUT"}
    assert data["timeout_config"] == {"waiting_room_timeout": 300, "no_one_joined_timeout": 600}
    assert data["extra"] == {"calbot_key": "k"} and data["bot_image"] == "https://img.example/a.png"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_bot_is_404_and_a_bad_id_is_400(fake, method):
    kwargs = {"json": {"bot_name": "x"}} if method == "PATCH" else {}
    missing = http.request(method, f"{fake.url}/v2/bots/scheduled/{UNKNOWN}", headers=AUTH, **kwargs)
    assert missing.status_code == 404 and missing.json()["statusCode"] == 404
    malformed = http.request(method, f"{fake.url}/v2/bots/scheduled/42", headers=AUTH, **kwargs)
    assert malformed.status_code == 400


def test_patch_updates_only_what_is_given(fake):
    bot_id = created(fake, entry_message="hello", extra={"calbot_key": "k"})
    new_time = in_(hours=3)
    response = http.patch(f"{fake.url}/v2/bots/scheduled/{bot_id}",
                           json={"join_at": new_time, "bot_name": "Renamed"}, headers=AUTH)
    assert response.status_code == 200 and response.json()["success"] is True
    data = http.get(f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH).json()["data"]
    assert (data["join_at"], data["bot_name"], data["entry_message"], data["extra"]) == \
        (new_time, "Renamed", "hello", {"calbot_key": "k"})


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_lock_window_is_four_minutes(fake, method):
    kwargs = {"json": {"bot_name": "x"}} if method == "PATCH" else {}
    bot_id = created(fake, join_at=in_(minutes=30))
    fake.advance(minutes=25)                                          # 5 minutes to go: still open
    fake.clock_offset -= 1                                            # (a second of slack for the test's own pace)
    assert http.request(method, f"{fake.url}/v2/bots/scheduled/{UNKNOWN}", headers=AUTH, **kwargs).status_code == 404
    fake.advance(minutes=2)                                           # 3 minutes to go: locked
    locked = http.request(method, f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH, **kwargs)
    assert locked.status_code == 409
    meetingbaas_spec().check_component("ErrorResponse", locked.json())
    assert fake.bot(bot_id).status == "scheduled"
    fake.advance(minutes=-2)
    assert http.request(method, f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH, **kwargs).status_code == 200


def test_patch_to_a_time_inside_the_window_is_409_and_to_the_past_400(fake):
    bot_id = created(fake, join_at=in_(hours=1))
    assert http.patch(f"{fake.url}/v2/bots/scheduled/{bot_id}", json={"join_at": in_(minutes=3)},
                       headers=AUTH).status_code == 409
    assert http.patch(f"{fake.url}/v2/bots/scheduled/{bot_id}", json={"join_at": in_(minutes=-3)},
                       headers=AUTH).status_code == 400


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize("state", ["completed", "failed", "cancelled"])
def test_only_scheduled_bots_change(fake, method, state):
    bot_id = created(fake, join_at=in_(hours=2))
    fake.bot(bot_id).status = state
    kwargs = {"json": {"bot_name": "x"}} if method == "PATCH" else {}
    assert http.request(method, f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH, **kwargs).status_code == 409


def test_delete_cancels(fake):
    bot_id = created(fake)
    assert http.delete(f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH).status_code == 200
    data = http.get(f"{fake.url}/v2/bots/scheduled/{bot_id}", headers=AUTH).json()["data"]
    assert data["status"] == "cancelled" and data["cancelled_at"]
    assert fake.active_bots() == []


# -- listing ------------------------------------------------------------------------------------

def test_list_filters_by_extra_exactly(fake):
    a = created(fake, extra={"calbot_key": "Alpha", "team": "T1"})
    b = created(fake, extra={"calbot_key": "alpha", "team": "T1"})
    c = created(fake, extra={"team": "T1", "n": 5})
    created(fake)

    def ids(**params):
        return {bot["bot_id"] for bot in listing(fake, **params)["data"]}

    assert ids(extra="calbot_key:Alpha") == {a}                       # case-sensitive
    assert ids(extra="team:T1") == {a, b, c}
    assert ids(extra="team:T1,calbot_key:alpha") == {b}               # all conditions
    assert ids(extra="n:5") == {c}                                    # non-string values as JSON text
    assert ids(extra="calbot_key:Alph") == set()                      # exact, not partial
    assert http.get(f"{fake.url}/v2/bots/scheduled", params={"limit": "5", "extra": "nocolon"},
                     headers=AUTH).status_code == 400


def test_list_filters_by_status_time_and_url(fake):
    soon = created(fake, join_at=in_(minutes=2))
    later = created(fake, join_at=in_(hours=5), meeting_url="https://acme.zoom.us/j/123")
    gone = created(fake, join_at=in_(hours=6))
    http.delete(f"{fake.url}/v2/bots/scheduled/{gone}", headers=AUTH)

    def ids(**params):
        return [bot["bot_id"] for bot in listing(fake, **params)["data"]]

    assert ids() == [soon, later, gone]                               # by join time
    assert ids(status="scheduled") == [soon, later]
    assert ids(status="cancelled,completed") == [gone]
    assert ids(scheduled_after=in_(hours=1)) == [later, gone]
    assert ids(scheduled_before=in_(hours=1)) == [soon]
    assert ids(meeting_url="ZOOM.US") == [later]
    assert ids(meeting_platform="meet") == [soon, gone]
    assert ids(bot_id=later[:8].upper()) == [later]
    assert http.get(f"{fake.url}/v2/bots/scheduled", params={"limit": "5", "status": "joining"},
                     headers=AUTH).status_code == 400


def test_list_pages_with_cursors_both_ways(fake):
    made = [created(fake, join_at=in_(hours=1, minutes=i)) for i in range(7)]
    seen, pages, cursor = [], [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = listing(fake, **params)
        pages.append(page)
        seen += [b["bot_id"] for b in page["data"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == made and [len(p["data"]) for p in pages] == [3, 3, 1]
    assert pages[0]["prev_cursor"] is None and pages[1]["prev_cursor"].startswith("-")
    back = listing(fake, limit="3", cursor=pages[2]["prev_cursor"])
    assert [b["bot_id"] for b in back["data"]] == made[3:6]
    assert http.get(f"{fake.url}/v2/bots/scheduled", params={"limit": "3", "cursor": "%%%"},
                     headers=AUTH).status_code == 400


def test_limit_defaults_and_bounds(fake):
    for _ in range(3):
        created(fake)
    assert len(http.get(f"{fake.url}/v2/bots/scheduled", headers=AUTH).json()["data"]) == 3
    for bad in ("0", "101", "x"):
        assert http.get(f"{fake.url}/v2/bots/scheduled", params={"limit": bad}, headers=AUTH).status_code == 400


# -- the bot's life after join time ------------------------------------------------------------

def test_due_bots_launch_and_duplicates_fail_at_join_time(fake, receiver):
    callback = {"url": f"{receiver.url}/cb", "secret": "s"}
    first = created(fake, join_at=in_(minutes=2), allow_multiple_bots=False)
    second = created(fake, join_at=in_(minutes=2), allow_multiple_bots=False,
                     callback_enabled=True, callback_config=callback)
    later = created(fake, join_at=in_(hours=1))
    assert fake.transition_due() == []
    fake.advance(minutes=3)
    launched = fake.transition_due()
    assert [b.bot_id for b in launched] == [first]
    assert (fake.bot(first).status, fake.bot(second).status, fake.bot(later).status) == ("completed", "failed", "scheduled")
    [delivery] = receiver.calls("/cb")
    assert delivery.json()["event"] == "bot.failed" and delivery.json()["data"]["error_code"] == "BOT_ALREADY_EXISTS"
    assert [b.bot_id for b in fake.active_bots()] == [later]


# -- callbacks and webhooks ------------------------------------------------------------------------

@pytest.fixture
def wired(fake, receiver):
    """A bot with a callback, and an account webhook, both pointing at the receiver."""
    secret = fake.configure_account_webhook(f"{receiver.url}/webhook")
    bot_id = created(fake, extra={"calbot_key": "k-9"}, callback_enabled=True,
                     callback_config={"url": f"{receiver.url}/callback", "secret": "per-bot-secret", "method": "POST"})
    return SimpleNamespace(bot_id=bot_id, secret=secret)


def arrived(receiver, path):
    return [call for call in receiver.calls(path)]


def verify_svix(call, secret):
    Webhook(secret).verify(call.body, {k: call.headers[k] for k in ("svix-id", "svix-timestamp", "svix-signature")})


@pytest.mark.parametrize("code", ["joining_call", "in_waiting_room", "in_call_recording", "bot_rejected",
                                  "bot_removed", "recording_failed", "call_ended"])
def test_status_changes_go_to_the_account_webhook_only(fake, receiver, wired, code):
    deliveries = fake.send_status(wired.bot_id, code)
    assert [d.status for d in deliveries] == [200]
    assert arrived(receiver, "/callback") == []                       # callbacks carry completed/failed only
    [call] = arrived(receiver, "/webhook")
    payload = call.json()
    check_meetingbaas_webhook(payload)
    assert payload["data"]["status"]["code"] == code and payload["extra"] == {"calbot_key": "k-9"}
    verify_svix(call, wired.secret)
    if code == "in_call_recording":
        assert isinstance(payload["data"]["status"]["start_time"], int)


def test_completion_goes_to_both_in_the_specs_shapes(fake, receiver, wired):
    fake.complete(wired.bot_id, video_url="https://s3.example.com/v.mp4", transcript="https://s3.example.com/t.json")
    [callback] = arrived(receiver, "/callback")
    [webhook] = arrived(receiver, "/webhook")
    check_meetingbaas_callback(callback.json())
    check_meetingbaas_webhook(webhook.json())
    assert callback.method == "POST" and callback.headers["x-mb-secret"] == "per-bot-secret"
    assert "svix-id" not in callback.headers and "x-mb-secret" not in webhook.headers
    verify_svix(webhook, wired.secret)
    data = callback.json()["data"]
    assert (data["video"], data["transcription"], data["transcription_provider"]) == \
        ("https://s3.example.com/v.mp4", "https://s3.example.com/t.json", "gladia")


def test_failure_goes_to_both_in_the_specs_shapes(fake, receiver, wired):
    fake.fail(wired.bot_id, error_code="TIMEOUT_WAITING_TO_START")
    [callback] = arrived(receiver, "/callback")
    [webhook] = arrived(receiver, "/webhook")
    check_meetingbaas_callback(callback.json())
    check_meetingbaas_webhook(webhook.json())
    assert callback.json()["data"]["error_code"] == "TIMEOUT_WAITING_TO_START"
    assert callback.json()["data"]["error_message"]


def test_callback_method_put_and_no_callback_without_config(fake, receiver):
    put_bot = created(fake, callback_enabled=True, callback_config={"url": f"{receiver.url}/put", "method": "PUT"})
    quiet_bot = created(fake)
    fake.complete(put_bot)
    assert fake.complete(quiet_bot) == []
    [call] = arrived(receiver, "/put")
    assert call.method == "PUT" and "x-mb-secret" not in call.headers      # no secret given, none sent


def test_redelivery_keeps_the_svix_id_and_held_deliveries_can_be_reordered(fake, receiver, wired):
    twice = fake.send_status(wired.bot_id, "joining_call", copies=2)
    assert twice[0].headers["svix-id"] == twice[1].headers["svix-id"]
    receiver.reset_requests()
    held = fake.send_status(wired.bot_id, "in_waiting_room", deliver=False) + \
        fake.send_status(wired.bot_id, "in_call_recording", deliver=False)
    assert arrived(receiver, "/webhook") == []
    fake.deliver(reversed(held))
    codes = [call.json()["data"]["status"]["code"] for call in arrived(receiver, "/webhook")]
    assert codes == ["in_call_recording", "in_waiting_room"]


def test_signatures_fail_with_the_wrong_secret_or_an_old_timestamp(fake, receiver, wired):
    fake.send_status(wired.bot_id, "joining_call")
    [call] = arrived(receiver, "/webhook")
    other = "whsec_" + base64.b64encode(b"x" * 24).decode()
    with pytest.raises(WebhookVerificationError):
        verify_svix(call, other)
    receiver.reset_requests()
    fake.send_status(wired.bot_id, "in_waiting_room", svix_timestamp=datetime.now(timezone.utc) - timedelta(hours=1))
    [old] = arrived(receiver, "/webhook")
    with pytest.raises(WebhookVerificationError):
        verify_svix(old, wired.secret)


def test_calbot_reads_and_trusts_what_the_fake_sends(fake, receiver, wired):
    """The round trip: the fake's deliveries parse into the BotEvents calbot expects, and pass
    (or fail) `authenticate` the way the contract says."""
    settings = SimpleNamespace(meetingbaas_webhook_secret=wired.secret, meetingbaas_api_key=KEY)
    lookup = {wired.bot_id: "per-bot-secret"}.get
    fake.send_status(wired.bot_id, "bot_rejected")
    fake.complete(wired.bot_id, transcript="https://s3.example.com/t.json")
    kinds = []
    for call in receiver.calls():
        assert authenticate(call.headers, call.body, settings=settings, secret_lookup=lookup) in ("svix", "callback_secret")
        kinds.append(parse_event(call.body).kind)
    assert kinds == ["refused", "completed", "completed"]
    without_secret = SimpleNamespace(meetingbaas_webhook_secret=None, meetingbaas_api_key=KEY)
    webhook = next(c for c in receiver.calls() if "svix-id" in c.headers)
    assert authenticate(webhook.headers, webhook.body, settings=without_secret, secret_lookup=lookup) is False


def test_payload_extra_follows_the_bot(fake, receiver, wired):
    http.patch(f"{fake.url}/v2/bots/scheduled/{wired.bot_id}", json={"extra": {"calbot_key": "k-10"}}, headers=AUTH)
    fake.fail(wired.bot_id)
    assert {json.loads(c.body)["extra"]["calbot_key"] for c in receiver.calls()} == {"k-10"}
