"""The API's small parsers: cursors, client times, and seed-style bot requests."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from bot.api.bot_requests import bot_config, join_time, meeting_link, speech_to_text_provider
from bot.api.errors import ApiError
from bot.api.pagination import decode_cursor, encode_cursor
from bot.api.queries import parse_public_id
from bot.api.schemas import CreateBotRequest, SpeechToText
from bot.api.timeparams import parse_time

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def test_cursor_round_trip():
    cursor = encode_cursor("2026-03-02T09:00:00Z", 42)
    assert decode_cursor(cursor) == ("2026-03-02T09:00:00Z", 42)
    assert "=" not in cursor


@pytest.mark.parametrize("cursor", ["", "!!!", "bnVsbA", "WzEsMl0", "WyJ4IiwxXQ", "W10", "x" * 1000,
                                    encode_cursor("2026-03-02T09:00:00Z", -1)[:-2] + "xx"])
def test_foreign_cursors_are_a_400(cursor):
    with pytest.raises(ApiError) as error:
        decode_cursor(cursor)
    assert error.value.status == 400


@pytest.mark.parametrize("text, expected", [
    ("2026-03-02T10:00:00", "2026-03-02T10:00:00+00:00"),           # naive means UTC
    ("2026-03-02T10:00:00.123456", "2026-03-02T10:00:00.123456+00:00"),
    ("2026-03-02T10:00:00Z", "2026-03-02T10:00:00+00:00"),
    ("2026-03-02T11:00:00+01:00", "2026-03-02T10:00:00+00:00"),
    ("2026-03-02", "2026-03-02T00:00:00+00:00"),
])
def test_client_times(text, expected):
    assert parse_time(text, "start_time").isoformat() == expected


@pytest.mark.parametrize("text", ["tomorrow", "", "2026-02-30T00:00:00", "0001-01-01T00:00:00+05:00",
                                  "9999-12-31T23:59:59-05:00", "1900-01-01", "2026-03-02T25:00"])
def test_bad_client_times_are_422_naming_the_parameter(text):
    with pytest.raises(ApiError) as error:
        parse_time(text, "end_time")
    assert error.value.status == 422 and error.value.message.startswith("end_time")


@pytest.mark.parametrize("value, expected", [("12", 12), ("0", 0), ("abc", None), ("-3", None), ("１", None),
                                             ("9" * 19, None), ("1e3", None)])
def test_public_ids(value, expected):
    assert parse_public_id(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("Gladia", "gladia"), ("default", "gladia"), ("Runpod", "runpod"), (True, "gladia"), (False, None),
    (None, None), ("none", None), ("", None), (SpeechToText(provider="Gladia"), "gladia"),
])
def test_speech_to_text_forms(value, expected):
    assert speech_to_text_provider(value) == expected


def test_speech_to_text_nonsense_is_422():
    with pytest.raises(ApiError):
        speech_to_text_provider("gladia; drop table")


def test_bot_request_accepts_the_seed_body_and_its_aliases():
    seed = CreateBotRequest.model_validate({
        "meeting_url": "https://meet.google.com/abc-defg-hij", "scheduled_time": "2026-03-03T10:00:00Z",
        "bot_name": "Team Meeting Recorder", "speech_to_text": "Gladia",
        "entry_message": "I'll be recording this team meeting.", "something_else": 1})
    assert join_time(seed, NOW) == datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)
    assert bot_config(seed) == {"speech_to_text": "gladia", "bot_name": "Team Meeting Recorder",
                                "entry_message": "I'll be recording this team meeting."}
    for alias in ("start_time", "join_at"):
        body = CreateBotRequest.model_validate({"meeting_url": "https://zoom.us/j/1234567890",
                                                alias: "2026-03-03T11:00:00+01:00"})
        assert join_time(body, NOW) == datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)
    assert join_time(CreateBotRequest(meeting_url="https://zoom.us/j/1234567890"), NOW) == NOW
    assert bot_config(CreateBotRequest(meeting_url="https://zoom.us/j/1234567890")) == {}


@pytest.mark.parametrize("times", [
    {"scheduled_time": "2026-03-03T10:00:00Z", "join_at": "2026-03-03T11:00:00Z"},  # disagree
    {"scheduled_time": "2026-02-27T10:00:00Z"},                                     # days ago
    {"scheduled_time": "2028-03-03T10:00:00Z"},                                     # years ahead
    {"start_time": "soon"},
])
def test_bad_join_times_are_422(times):
    with pytest.raises(ApiError) as error:
        join_time(CreateBotRequest(meeting_url="https://zoom.us/j/1234567890", **times), NOW)
    assert error.value.status == 422


def test_same_time_in_two_fields_is_fine():
    body = CreateBotRequest(meeting_url="https://zoom.us/j/1234567890", scheduled_time="2026-03-03T10:00:00Z",
                            start_time="2026-03-03T11:00:00+01:00")
    assert join_time(body, NOW) == datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("url", ["https://example.com/meeting", "not a url", "javascript:alert(1)",
                                 "https://meet.google.com/", "https://zoom.us/download"])
def test_links_a_bot_cannot_join_are_422(url):
    with pytest.raises(ApiError) as error:
        meeting_link(url)
    assert error.value.status == 422


def test_joinable_links_keep_their_passcode():
    assert meeting_link(" https://us02web.zoom.us/j/85012345678?pwd=abc ") == (
        "https://us02web.zoom.us/j/85012345678?pwd=abc", "zoom")


@pytest.mark.parametrize("body", [
    {"meeting_url": "https://zoom.us/j/1", "bot_name": "x" * 101},
    {"meeting_url": "https://zoom.us/j/1", "speech_to_text": 3},
    {"meeting_url": "https://zoom.us/j/1", "speech_to_text": {"nope": 1}},
    {"meeting_url": "https://zoom.us/j/1", "recording_mode": "4k"},
    {"meeting_url": "https://zoom.us/j/1\x00"},
    {"meeting_url": "https://zoom.us/j/\ud800"},
    {},
])
def test_malformed_bot_bodies_fail_validation(body):
    with pytest.raises(ValidationError):
        CreateBotRequest.model_validate(body)
