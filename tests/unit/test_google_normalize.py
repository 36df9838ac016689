"""`normalize`: a raw Google Event resource in, calbot's NormalizedEvent out (pure, no I/O)."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone

from bot.calendars.base import EventContext, TokenSet
from bot.calendars.google import id_token_email, missing_scopes, normalize

UTC = timezone.utc
ANA = "ana@acme.com"
CTX = EventContext(account_email=ANA, calendar_id=ANA, calendar_timezone="Europe/Berlin",
                   internal_domains=frozenset({"acme.com"}))


def event(**fields):
    raw = {
        "kind": "calendar#event", "etag": '"3181161784712000"', "id": "evt1", "status": "confirmed",
        "updated": "2030-04-30T12:34:56.789Z", "summary": "Acme demo",
        "organizer": {"email": ANA, "self": True},
        "start": {"dateTime": "2030-05-01T10:00:00+02:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2030-05-01T10:30:00+02:00", "timeZone": "Europe/Berlin"},
        "iCalUID": "evt1@google.com", "eventType": "default",
    }
    raw.update(fields)
    return raw


def test_timed_event_is_utc_with_its_zone():
    result = normalize(event(), CTX)
    assert result.provider_event_id == "evt1" and result.ical_uid == "evt1@google.com"
    assert result.start_at == datetime(2030, 5, 1, 8, 0, tzinfo=UTC)
    assert result.end_at == datetime(2030, 5, 1, 8, 30, tzinfo=UTC)
    assert result.timezone == "Europe/Berlin" and not result.all_day
    assert result.provider_updated == datetime(2030, 4, 30, 12, 34, 56, 789000, tzinfo=UTC)
    assert result.title == "Acme demo" and result.status == "confirmed"


def test_time_rendered_in_another_zone_than_the_event_zone():
    # Google renders dateTime in the calendar's zone; the event's own zone is only a label
    raw = event(start={"dateTime": "2030-05-01T04:00:00-04:00", "timeZone": "Asia/Tokyo"},
                end={"dateTime": "2030-05-01T05:00:00-04:00", "timeZone": "Asia/Tokyo"})
    result = normalize(raw, CTX)
    assert result.start_at == datetime(2030, 5, 1, 8, 0, tzinfo=UTC)
    assert result.timezone == "Asia/Tokyo"


def test_all_day_event_starts_at_midnight_in_the_calendar_zone():
    result = normalize(event(start={"date": "2030-05-01"}, end={"date": "2030-05-02"}), CTX)
    assert result.all_day
    assert result.start_at == datetime(2030, 4, 30, 22, 0, tzinfo=UTC)
    assert result.end_at == datetime(2030, 5, 1, 22, 0, tzinfo=UTC)


def test_recurring_instance_carries_its_series_and_slot():
    raw = event(id="abc_20300501T080000Z", recurringEventId="abc",
                originalStartTime={"dateTime": "2030-05-01T10:00:00+02:00", "timeZone": "Europe/Berlin"})
    result = normalize(raw, CTX)
    assert result.series_id == "abc" and result.is_recurring
    assert result.original_start == datetime(2030, 5, 1, 8, 0, tzinfo=UTC)


def test_moved_occurrence_keeps_its_original_slot():
    raw = event(id="abc_20300501T080000Z", recurringEventId="abc",
                originalStartTime={"dateTime": "2030-05-01T10:00:00+02:00", "timeZone": "Europe/Berlin"},
                start={"dateTime": "2030-05-02T15:00:00+02:00", "timeZone": "Europe/Berlin"},
                end={"dateTime": "2030-05-02T15:30:00+02:00", "timeZone": "Europe/Berlin"})
    result = normalize(raw, CTX)
    assert result.start_at == datetime(2030, 5, 2, 13, 0, tzinfo=UTC)
    assert result.original_start == datetime(2030, 5, 1, 8, 0, tzinfo=UTC)


def test_all_day_series_slot_is_a_date():
    raw = event(id="abc_20300501", recurringEventId="abc", originalStartTime={"date": "2030-05-01"},
                start={"date": "2030-05-01"}, end={"date": "2030-05-02"})
    assert normalize(raw, CTX).original_start == datetime(2030, 4, 30, 22, 0, tzinfo=UTC)


def test_declined_invitation():
    raw = event(organizer={"email": "carl@acme.com"}, attendees=[
        {"email": "carl@acme.com", "organizer": True, "responseStatus": "accepted"},
        {"email": ANA, "self": True, "responseStatus": "declined"},
    ])
    result = normalize(raw, CTX)
    assert result.my_response == "declined"
    assert result.organizer_email == "carl@acme.com" and not result.organizer_self


def test_organizer_self_is_organizer_response():
    raw = event(attendees=[{"email": ANA, "self": True, "organizer": True, "responseStatus": "accepted"},
                           {"email": "bob@acme.com", "responseStatus": "needsAction"}])
    result = normalize(raw, CTX)
    assert result.my_response == "organizer" and result.organizer_self
    assert [a.organizer for a in result.attendees] == [True, False]


def test_external_guests_by_domain_and_rooms_not_counted():
    raw = event(attendees=[
        {"email": ANA, "self": True, "organizer": True, "responseStatus": "accepted"},
        {"email": "Bob@ACME.com", "displayName": "Bob", "responseStatus": "accepted"},
        {"email": "dee@eu.acme.com", "responseStatus": "tentative"},
        {"email": "eve@client.com", "responseStatus": "needsAction"},
        {"email": "c_1882abc@resource.calendar.google.com", "displayName": "Room 4", "resource": True,
         "responseStatus": "accepted"},
    ])
    result = normalize(raw, CTX)
    external = {a.email: a.external for a in result.attendees}
    assert external == {ANA: False, "Bob@ACME.com": False, "dee@eu.acme.com": False, "eve@client.com": True,
                        "c_1882abc@resource.calendar.google.com": False}
    assert result.attendee_count == 4 and result.has_external
    room = result.attendees[-1]
    assert room.resource and room.name == "Room 4"
    assert result.attendees[1].name == "Bob" and result.attendees[2].response == "tentative"


def test_without_workspace_domains_the_account_domain_is_internal():
    ctx = EventContext(account_email=ANA, calendar_id=ANA, calendar_timezone=None, internal_domains=frozenset())
    raw = event(attendees=[{"email": "bob@acme.com"}, {"email": "eve@client.com"}])
    assert [a.external for a in normalize(raw, ctx).attendees] == [False, True]


def test_tentative_and_cancelled_status():
    assert normalize(event(status="tentative"), CTX).status == "tentative"
    assert normalize(event(status="cancelled"), CTX).status == "cancelled"


def test_cancelled_tombstone_and_non_meetings_are_not_events():
    assert normalize({"kind": "calendar#event", "id": "x", "status": "cancelled", "etag": '"1"'}, CTX) is None
    assert normalize(event(eventType="workingLocation"), CTX) is None
    assert normalize(event(eventType="outOfOffice"), CTX) is None


def test_missing_optional_fields_become_empty():
    raw = event()
    for name in ("summary", "organizer", "updated", "iCalUID"):
        raw.pop(name)
    result = normalize(raw, CTX)
    assert result.title == "" and result.description == "" and result.location == ""
    assert result.organizer_email is None and result.my_response is None and result.attendees == []
    assert result.provider_updated is None


def test_google_meet_link_from_conference_data():
    raw = event(hangoutLink="https://meet.google.com/abc-defg-hij", conferenceData={
        "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij",
                         "label": "meet.google.com/abc-defg-hij"}],
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
        "conferenceId": "abc-defg-hij",
    })
    result = normalize(raw, CTX)
    assert result.meeting_url == "https://meet.google.com/abc-defg-hij"
    assert result.platform == "meet" and result.meeting_key


def test_zoom_link_in_the_description():
    raw = event(description='Join: <a href="https://acme.zoom.us/j/81234567890?pwd=xyz">Zoom</a>')
    result = normalize(raw, CTX)
    assert result.platform == "zoom" and "81234567890" in result.meeting_url


def test_no_link_means_no_meeting():
    result = normalize(event(description="Lunch at the usual place"), CTX)
    assert result.meeting_url is None and result.platform is None and result.meeting_key is None


def test_normalized_event_survives_a_json_round_trip():
    raw = event(attendees=[{"email": "eve@client.com"}], hangoutLink="https://meet.google.com/abc-defg-hij")
    result = normalize(raw, CTX)
    assert type(result).model_validate(result.model_dump()) == result
    assert result.content_hash() == normalize(raw, CTX).content_hash()


def test_normalising_is_fast():
    raws = [event(id=f"e{i}", summary=f"Meeting {i}", hangoutLink="https://meet.google.com/abc-defg-hij",
                  attendees=[{"email": ANA, "self": True, "organizer": True, "responseStatus": "accepted"},
                             {"email": f"guest{i}@client.com", "responseStatus": "needsAction"},
                             {"email": "bob@acme.com", "responseStatus": "accepted"}],
                  description="Agenda: numbers, roadmap, next steps") for i in range(10_000)]
    best = min(_timed(raws) for _ in range(2))
    assert best < 1.0, f"10,000 events took {best:.2f}s (must be >= 10,000 events/s)"


def _timed(raws):
    started = time.perf_counter()
    for raw in raws:
        normalize(raw, CTX)
    return time.perf_counter() - started


# -- token helpers -----------------------------------------------------------------------------

def _jwt(claims):
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def test_email_from_the_id_token():
    assert id_token_email(_jwt({"email": ANA, "email_verified": True, "sub": "1"})) == ANA
    assert id_token_email(_jwt({"email": ANA, "email_verified": False})) is None
    assert id_token_email(_jwt({"sub": "1"})) is None
    assert id_token_email("not-a-jwt") is None


def test_missing_calendar_scopes():
    def tokens(scope):
        return TokenSet("a", None, None, scope=scope)

    events = "https://www.googleapis.com/auth/calendar.events.readonly"
    calendarlist = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
    assert missing_scopes(tokens(f"openid {events} {calendarlist}")) == set()
    assert missing_scopes(tokens(f"openid {events}")) == {calendarlist}
    assert missing_scopes(tokens("openid https://www.googleapis.com/auth/calendar.readonly")) == set()
