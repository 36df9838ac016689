"""MeetingBaasRecorder against the Meeting BaaS fake: what calbot sends, and how it takes the answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

import bot.recorder.meetingbaas as meetingbaas
from bot.config import Settings
from bot.recorder.base import (
    BotConfig,
    RecorderError,
    RecorderLocked,
    RecorderNotFound,
    RecorderRateLimited,
    RecorderRejected,
)
from bot.recorder.meetingbaas import MeetingBaasRecorder, RecorderAuthError
from tests.fakes.base import free_port
from tests.fakes.openapi_check import meetingbaas_spec

MEET = "https://meet.google.com/abc-defg-hij"
ZOOM = "https://acme.zoom.us/j/123456789?pwd=s3cret"
CALLBACK = "https://calbot.example.com/webhooks/meetingbaas"


def settings_for(url: str, key: str | None = "mb-test-key") -> Settings:
    return Settings(_env_file=None, meetingbaas_api_key=key, calbot_meetingbaas_api_url=url)


@pytest.fixture(scope="module")
def shared_fake():
    from tests.fakes.meetingbaas import FakeMeetingBaas

    with FakeMeetingBaas() as fake:
        yield fake


@pytest.fixture
def meetingbaas_fake(shared_fake):
    """One server for the module (starting one per test costs more than the tests), fresh state each test."""
    shared_fake.reset()
    return shared_fake


@pytest.fixture
async def recorder(meetingbaas_fake):
    rec = MeetingBaasRecorder(settings_for(meetingbaas_fake.url), timeout=5.0)
    yield rec
    await rec.aclose()


@pytest.fixture(autouse=True)
def every_exchange_matches_the_spec(meetingbaas_fake):
    """Whatever a test does, each request calbot made and each answer it got is as the spec says."""
    yield
    spec = meetingbaas_spec()
    for exchange in meetingbaas_fake.exchanges:
        if exchange.status < 300:
            spec.check_request(exchange.method, exchange.path, exchange.body, exchange.query, has_body=exchange.has_body)
        spec.check_response(exchange.method, exchange.path, exchange.status, exchange.response)


def in_(**delta) -> datetime:
    return datetime.now(timezone.utc) + timedelta(**delta)


async def schedule(recorder, *, key="key-1", join_at=None, url=MEET, config=None) -> str:
    return await recorder.schedule(meeting_url=url, join_at=join_at or in_(hours=2), config=config or BotConfig(),
                                   idempotency_key=key, callback_url=CALLBACK, callback_secret="cb-secret")


# -- schedule -----------------------------------------------------------------------------------

async def test_schedule_creates_a_bot_as_configured(recorder, meetingbaas_fake):
    join_at = in_(hours=3).replace(microsecond=0)
    config = BotConfig(bot_name="Acme notes", entry_message="Recording for the team", recording_mode="audio_only",
                       speech_to_text="gladia", extra={"team": "T1"})
    bot_id = await schedule(recorder, key="key-42", join_at=join_at, url=ZOOM, config=config)

    bot = meetingbaas_fake.bot(bot_id)
    assert bot.status == "scheduled" and bot.join_at == join_at and bot.meeting_url == ZOOM
    body = bot.body
    assert body["join_at"].endswith("Z")
    assert body["bot_name"] == "Acme notes" and body["entry_message"] == "Recording for the team"
    assert body["recording_mode"] == "audio_only"
    assert body["transcription_enabled"] is True and body["transcription_config"] == {"provider": "gladia"}
    assert body["extra"] == {"team": "T1", "calbot_key": "key-42"}
    assert body["callback_enabled"] is True
    assert body["callback_config"] == {"url": CALLBACK, "method": "POST", "secret": "cb-secret"}
    assert body["allow_multiple_bots"] is False
    [request] = meetingbaas_fake.calls("/v2/bots/scheduled", method="POST")
    assert request.headers["x-meeting-baas-api-key"] == "mb-test-key"


async def test_schedule_without_speech_to_text_turns_transcription_off(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder, config=BotConfig(speech_to_text=None))
    body = meetingbaas_fake.bot(bot_id).body
    assert body["transcription_enabled"] is False and body.get("transcription_config") is None


async def test_naive_join_time_is_taken_as_utc(recorder, meetingbaas_fake):
    naive = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(tzinfo=None, microsecond=0)
    bot_id = await schedule(recorder, join_at=naive)
    assert meetingbaas_fake.bot(bot_id).join_at == naive.replace(tzinfo=timezone.utc)


async def test_our_key_wins_over_a_same_named_extra(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder, key="real", config=BotConfig(extra={"calbot_key": "impostor"}))
    assert meetingbaas_fake.bot(bot_id).extra["calbot_key"] == "real"


async def test_an_overlong_name_and_message_are_trimmed_not_refused(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder, config=BotConfig(bot_name="n" * 300, entry_message="m" * 600))
    body = meetingbaas_fake.bot(bot_id).body
    assert len(body["bot_name"]) == 255 and len(body["entry_message"]) == 500


async def test_join_time_too_soon_is_rejected(recorder):
    with pytest.raises(RecorderRejected) as caught:
        await schedule(recorder, join_at=in_(seconds=20))
    assert caught.value.status == 400 and not caught.value.transient
    assert "1 minute" in str(caught.value)


async def test_unsupported_meeting_link_is_rejected(recorder):
    with pytest.raises(RecorderRejected) as caught:
        await schedule(recorder, url="https://whereby.com/acme")
    assert caught.value.code == "INVALID_MEETING_PLATFORM"


# -- reschedule ---------------------------------------------------------------------------------

async def test_reschedule_moves_the_bot_and_can_change_its_look(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder, key="k")
    later = in_(hours=5).replace(microsecond=0)
    await recorder.reschedule(bot_id, join_at=later, meeting_url=ZOOM,
                              config=BotConfig(bot_name="Renamed", speech_to_text=None))
    bot = meetingbaas_fake.bot(bot_id)
    assert bot.join_at == later and bot.meeting_url == ZOOM and bot.body["bot_name"] == "Renamed"
    assert bot.extra == {"calbot_key": "k"}            # untouched by the update


async def test_reschedule_inside_the_lock_window_is_locked(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder, join_at=in_(minutes=30))
    meetingbaas_fake.advance(minutes=27)               # join is now 3 minutes away
    with pytest.raises(RecorderLocked) as caught:
        await recorder.reschedule(bot_id, join_at=in_(hours=1))
    assert caught.value.status == 409 and not caught.value.transient


async def test_reschedule_to_a_time_inside_the_lock_window_is_locked(recorder):
    bot_id = await schedule(recorder, join_at=in_(hours=1))
    with pytest.raises(RecorderLocked):
        await recorder.reschedule(bot_id, join_at=in_(minutes=2))


async def test_reschedule_after_the_bot_launched_is_locked(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder, join_at=in_(minutes=10))
    meetingbaas_fake.advance(minutes=11)
    assert [b.bot_id for b in meetingbaas_fake.transition_due()] == [bot_id]
    with pytest.raises(RecorderLocked):
        await recorder.reschedule(bot_id, join_at=in_(hours=2))


async def test_reschedule_of_an_unknown_bot_is_not_found(recorder):
    with pytest.raises(RecorderNotFound):
        await recorder.reschedule("0b6e2c1e-8f0a-4f6e-9a51-1c1d1e1f1a1b", join_at=in_(hours=1))


# -- cancel -------------------------------------------------------------------------------------

async def test_cancel_deletes_and_twice_is_fine(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder)
    await recorder.cancel(bot_id)
    assert meetingbaas_fake.bot(bot_id).status == "cancelled"
    assert meetingbaas_fake.active_bots(MEET) == []
    await recorder.cancel(bot_id)                      # 409 "already cancelled" counts as done


async def test_cancel_of_an_unknown_bot_is_fine(recorder):
    await recorder.cancel("0b6e2c1e-8f0a-4f6e-9a51-1c1d1e1f1a1b")


async def test_cancel_inside_the_lock_window_is_locked(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder, join_at=in_(minutes=10))
    meetingbaas_fake.advance(minutes=7)
    with pytest.raises(RecorderLocked):
        await recorder.cancel(bot_id)
    assert meetingbaas_fake.bot(bot_id).status == "scheduled"


async def test_cancel_of_a_launched_bot_is_locked(recorder, meetingbaas_fake):
    bot_id = await schedule(recorder, join_at=in_(minutes=2))
    meetingbaas_fake.advance(minutes=3)
    meetingbaas_fake.transition_due()
    with pytest.raises(RecorderLocked):
        await recorder.cancel(bot_id)


# -- find_by_key --------------------------------------------------------------------------------

async def test_find_by_key_adopts_the_bot_made_with_that_key(recorder):
    bot_id = await schedule(recorder, key="adopt-me")
    await schedule(recorder, key="someone-else")
    found = await recorder.find_by_key("adopt-me")
    assert found.bot_id == bot_id and found.status == "scheduled" and found.meeting_url == MEET
    assert found.extra["calbot_key"] == "adopt-me" and found.join_at.tzinfo is not None
    assert await recorder.find_by_key("never-used") is None


async def test_find_by_key_ignores_cancelled_bots(recorder):
    bot_id = await schedule(recorder, key="gone")
    await recorder.cancel(bot_id)
    assert await recorder.find_by_key("gone") is None


async def test_find_by_key_follows_cursors_and_prefers_a_live_bot(recorder, meetingbaas_fake, monkeypatch):
    monkeypatch.setattr(meetingbaas, "PAGE_SIZE", 2)
    launched = [await schedule(recorder, key="dup", join_at=in_(minutes=2, seconds=i)) for i in range(4)]
    meetingbaas_fake.advance(minutes=3)
    meetingbaas_fake.transition_due(notify=False)
    live = await schedule(recorder, key="dup", join_at=in_(hours=4))
    assert all(meetingbaas_fake.bot(b).status in ("completed", "failed") for b in launched)

    found = await recorder.find_by_key("dup")
    assert found.bot_id == live and found.status == "scheduled"
    pages = meetingbaas_fake.calls("/v2/bots/scheduled$", method="GET")
    assert len(pages) == 3 and pages[1].param("cursor")


# -- errors -------------------------------------------------------------------------------------

async def test_rate_limit_says_how_long_to_wait(recorder, meetingbaas_fake):
    meetingbaas_fake.rate_limit_next(retry_after=7)
    with pytest.raises(RecorderRateLimited) as caught:
        await schedule(recorder)
    assert caught.value.retry_after == 7 and caught.value.transient and caught.value.status == 429


async def test_rate_limit_wait_from_the_body_when_no_header(recorder, meetingbaas_fake):
    meetingbaas_fake.rate_limit_next(retry_after=9, header=False)
    with pytest.raises(RecorderRateLimited) as caught:
        await recorder.find_by_key("k")
    assert caught.value.retry_after == 9


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient(recorder, meetingbaas_fake, status):
    meetingbaas_fake.fail_next("/v2/bots/scheduled", status)
    with pytest.raises(RecorderError) as caught:
        await schedule(recorder)
    assert caught.value.transient and caught.value.status == status
    assert not isinstance(caught.value, (RecorderRejected, RecorderLocked))
    await schedule(recorder)                           # and the next attempt works


async def test_timeout_is_transient(meetingbaas_fake):
    rec = MeetingBaasRecorder(settings_for(meetingbaas_fake.url), timeout=0.2)
    meetingbaas_fake.fail_next("/v2/bots/scheduled", None, delay=0.6)
    try:
        with pytest.raises(RecorderError) as caught:
            await schedule(rec)
        assert caught.value.transient and "in time" in str(caught.value)
    finally:
        await rec.aclose()
    # The slow request still lands once the delay is over (as it may at the real service: a
    # timeout says nothing about whether the bot was made) — wait, so it can't leak into the next test.
    meetingbaas_fake.wait_for(lambda: meetingbaas_fake.exchanges, timeout=5)
    assert len(meetingbaas_fake.active_bots()) == 1


async def test_connection_refused_is_transient():
    rec = MeetingBaasRecorder(settings_for(f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(RecorderError) as caught:
            await rec.cancel("0b6e2c1e-8f0a-4f6e-9a51-1c1d1e1f1a1b")
        assert caught.value.transient and "cannot reach" in str(caught.value)
    finally:
        await rec.aclose()


async def test_refused_api_key_is_not_transient_and_says_so(meetingbaas_fake):
    async with httpx.AsyncClient() as http:
        rec = MeetingBaasRecorder(settings_for(meetingbaas_fake.url, key="wrong"), http)
        with pytest.raises(RecorderAuthError) as caught:
            await schedule(rec)
    assert not caught.value.transient and "MEETINGBAAS_API_KEY was refused" in str(caught.value)
    assert caught.value.status == 401


async def test_missing_api_key_fails_before_calling(meetingbaas_fake):
    rec = MeetingBaasRecorder(settings_for(meetingbaas_fake.url, key=None))
    try:
        with pytest.raises(RecorderAuthError, match="MEETINGBAAS_API_KEY is not set"):
            await rec.find_by_key("k")
    finally:
        await rec.aclose()
    assert meetingbaas_fake.calls() == []


async def test_a_shared_client_is_left_open(meetingbaas_fake):
    async with httpx.AsyncClient() as http:
        rec = MeetingBaasRecorder(settings_for(meetingbaas_fake.url), http)
        await rec.aclose()
        assert not http.is_closed
