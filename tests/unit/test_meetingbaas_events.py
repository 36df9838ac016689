"""Meeting BaaS callbacks/webhooks become BotEvents, and only genuine senders get through."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from svix.webhooks import Webhook

from bot.recorder.meetingbaas_events import (
    FAILURE_REASONS,
    MalformedEvent,
    authenticate,
    failure_reason,
    parse_event,
)

BOT = "0b6e2c1e-8f0a-4f6e-9a51-1c1d1e1f1a1b"
OTHER_BOT = "1b6e2c1e-8f0a-4f6e-9a51-1c1d1e1f1a1b"
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
SECRETS = {BOT: "per-bot-secret-1"}


def settings(webhook_secret=WHSEC, api_key="our-api-key"):
    return SimpleNamespace(meetingbaas_webhook_secret=webhook_secret, meetingbaas_api_key=api_key)


def status_change(code, **status):
    return {"event": "bot.status_change",
            "data": {"bot_id": BOT, "event_id": None,
                     "status": {"code": code, "created_at": "2030-01-01T10:00:05.000Z", **status}},
            "extra": {"calbot_key": "k-1"}}


def completed(**data):
    return {"event": "bot.completed",
            "data": {"bot_id": BOT, "event_id": None, "participants": [], "speakers": [], "duration_seconds": 60,
                     "joined_at": None, "exited_at": None, "data_deleted": False,
                     "video": "https://s3.example.com/v.mp4", "audio": "https://s3.example.com/a.flac",
                     "diarization": None, "raw_transcription": "https://s3.example.com/raw.json",
                     "transcription": "https://s3.example.com/t.json", "transcription_provider": "gladia",
                     "transcription_ids": None, "sent_at": "2030-01-01T11:00:00.000Z", **data},
            "extra": {"calbot_key": "k-1"}}


def failed(code, message="whatever"):
    return {"event": "bot.failed",
            "data": {"bot_id": BOT, "event_id": None, "error_code": code, "error_message": message,
                     "sent_at": "2030-01-01T10:11:00.000Z"},
            "extra": {"calbot_key": "k-1"}}


def signed(body: bytes, *, secret=WHSEC, at: datetime | None = None, msg_id="msg_1"):
    at = at or datetime.now(timezone.utc)
    return {"svix-id": msg_id, "svix-timestamp": str(int(at.timestamp())),
            "svix-signature": Webhook(secret).sign(msg_id, at, body.decode())}


# -- parsing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("code,kind", [
    ("joining_call", "joining"), ("in_waiting_room", "joining"), ("in_call_recording", "in_call"),
    ("in_call_not_recording", "in_call"), ("bot_rejected", "refused"), ("waiting_room_timeout", "refused"),
    ("bot_removed", "removed"), ("bot_removed_too_early", "removed"), ("call_ended", "status"),
    ("some_future_code", "status"),
])
def test_status_changes_map_to_kinds(code, kind):
    event = parse_event(json.dumps(status_change(code)).encode())
    assert (event.bot_id, event.kind, event.status_code) == (BOT, kind, code)
    assert event.extra == {"calbot_key": "k-1"}


def test_refusal_reads_as_plain_words():
    event = parse_event(status_change("bot_rejected"))
    assert event.reason == "the host refused to let the bot in"


def test_completed_carries_recording_links():
    event = parse_event(json.dumps(completed()))
    assert event.kind == "completed"
    assert event.video_url == "https://s3.example.com/v.mp4"
    assert event.transcript_url == "https://s3.example.com/t.json"
    assert event.audio_url == "https://s3.example.com/a.flac"


def test_completed_without_transcript_or_video():
    event = parse_event(completed(video=None, transcription=None, raw_transcription=None))
    assert event.kind == "completed" and event.video_url is None and event.transcript_url is None


def test_failure_reason_is_plain_words():
    event = parse_event(failed("BOT_NOT_ACCEPTED"))
    assert event.kind == "failed" and event.status_code == "BOT_NOT_ACCEPTED"
    assert event.reason == "the host did not let the bot in"
    assert "nobody let it in" in parse_event(failed("TIMEOUT_WAITING_TO_START")).reason


def test_unknown_failure_code_falls_back_to_the_services_message():
    event = parse_event(failed("BRAND_NEW_CODE", "The moon was in the way."))
    assert event.reason == "the recording failed: The moon was in the way"
    assert failure_reason(None) == "the recording failed for an unknown reason"


def test_every_failure_code_named_in_the_spec_has_words():
    from tests.reference import reference_path
    import re

    spec = reference_path("meetingbaas-openapi-v2.json").read_text()
    codes = set(re.findall(r"\b[A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+\b", spec)) - {
        "FST_ERR_BOT_STATUS", "FST_ERR_CHAT_DISABLED", "FST_ERR_SEND_CHAT_MESSAGE_FAILED"}
    assert codes - set(FAILURE_REASONS) == set()


def test_same_fact_twice_has_one_event_id():
    by_callback = parse_event(completed())
    by_webhook = parse_event(json.dumps(completed(sent_at="2030-01-01T11:00:01.000Z")))
    assert by_callback.event_id == by_webhook.event_id
    assert parse_event(status_change("joining_call")).event_id != parse_event(status_change("in_waiting_room")).event_id


def test_v1_webhooks_are_understood():
    complete = parse_event({"event": "complete", "data": {"bot_id": BOT, "mp4": "https://x.example/v.mp4",
                                                          "speakers": [], "transcript": [], "extra": {"calbot_key": "k"}}})
    assert complete.kind == "completed" and complete.video_url == "https://x.example/v.mp4"
    assert complete.extra == {"calbot_key": "k"}
    fail = parse_event({"event": "failed", "data": {"bot_id": BOT, "error": "meeting_not_found", "message": "gone"}})
    assert fail.kind == "failed" and "could not be found" in fail.reason


def test_events_calbot_does_not_use_are_none():
    assert parse_event({"event": "bot.chat_message", "data": {"bot_id": BOT}, "extra": None}) is None
    assert parse_event({"event": "calendar.sync_events", "data": {"calendar_id": "c"}}) is None


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"event": "bot.failed"}',
                                  b'{"event": "bot.failed", "data": {}}',
                                  b'{"event": "bot.status_change", "data": {"bot_id": "x", "status": {}}}'])
def test_malformed_bodies_raise(body):
    with pytest.raises(MalformedEvent):
        parse_event(body)


# -- authentication --------------------------------------------------------------------------

def body_of(payload) -> bytes:
    return json.dumps(payload).encode()


def test_callback_secret_authenticates():
    body = body_of(completed())
    assert authenticate({"X-MB-Secret": "per-bot-secret-1"}, body, settings=settings(),
                        secret_lookup=SECRETS.get) == "callback_secret"


def test_wrong_callback_secret_is_rejected():
    body = body_of(completed())
    assert authenticate({"x-mb-secret": "per-bot-secret-2"}, body, settings=settings(), secret_lookup=SECRETS.get) is False


def test_callback_secret_of_another_bot_is_rejected():
    body = body_of({**completed(), "data": {**completed()["data"], "bot_id": OTHER_BOT}})
    assert authenticate({"x-mb-secret": "per-bot-secret-1"}, body, settings=settings(), secret_lookup=SECRETS.get) is False


def test_svix_signature_authenticates():
    body = body_of(status_change("joining_call"))
    assert authenticate(signed(body), body, settings=settings(), secret_lookup=SECRETS.get) == "svix"


def test_forged_svix_signature_is_rejected():
    body = body_of(status_change("joining_call"))
    forged = signed(body, secret="whsec_" + base64.b64encode(b"not-our-secret-not-our-secret-!!").decode())
    assert authenticate(forged, body, settings=settings(), secret_lookup=SECRETS.get) is False


def test_tampered_body_is_rejected():
    body = body_of(status_change("joining_call"))
    headers = signed(body)
    tampered = body.replace(b"joining_call", b"bot_rejected")
    assert authenticate(headers, tampered, settings=settings(), secret_lookup=SECRETS.get) is False


def test_replayed_old_signature_is_rejected():
    body = body_of(completed())
    old = signed(body, at=datetime.now(timezone.utc) - timedelta(minutes=10))
    assert authenticate(old, body, settings=settings(), secret_lookup=SECRETS.get) is False


def test_garbage_signature_header_is_rejected_not_raised():
    body = body_of(completed())
    headers = {**signed(body), "svix-signature": "nonsense"}
    assert authenticate(headers, body, settings=settings(), secret_lookup=SECRETS.get) is False


def test_svix_without_configured_secret_is_rejected():
    body = body_of(status_change("joining_call"))
    assert authenticate(signed(body), body, settings=settings(webhook_secret=None), secret_lookup=SECRETS.get) is False


def test_v1_api_key_header_authenticates():
    body = body_of(completed())
    assert authenticate({"x-meeting-baas-api-key": "our-api-key"}, body, settings=settings(),
                        secret_lookup=SECRETS.get) == "api_key"
    assert authenticate({"x-meeting-baas-api-key": "their-key"}, body, settings=settings(),
                        secret_lookup=SECRETS.get) is False


def test_nothing_at_all_is_rejected():
    body = body_of(completed())
    assert authenticate({}, body, settings=settings(), secret_lookup=SECRETS.get) is False
    assert authenticate({"x-meeting-baas-api-key": ""}, body, settings=settings(api_key=None),
                        secret_lookup=SECRETS.get) is False
    assert authenticate({"x-mb-secret": "x"}, b"not json", settings=settings(), secret_lookup=SECRETS.get) is False
