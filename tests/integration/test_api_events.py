"""GET /api/calendars/events: the seed's query (time window + title), filters, cursor pagination,
and plain 4xx answers for bad input."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.integration.api_seed import (
    add_bot, add_calendar, add_event, add_meeting, add_member, api_key,
)

TEAM = "T_EVENTS"


@pytest.fixture
def seeded(env):
    clock, db = env.clock, env.db
    ana = add_member(db, TEAM, "U_ANA", clock)
    calendar = add_calendar(db, ana, clock, account="ana@acme.com")
    other_calendar = add_calendar(db, ana, clock, account="ana@acme.com", name="Side", primary=False)
    now = clock.now()
    ids = {
        "team": add_event(db, calendar, clock, title="Weekly Team Meeting", start=now + timedelta(days=1),
                          attendees=[{"email": "Bob@Client.com", "name": "Bob", "external": True}],
                          organizer="ana@acme.com", organizer_self=True, series_id="series-1"),
        "team_later": add_event(db, calendar, clock, title="team meeting (retro)", start=now + timedelta(days=9),
                                series_id="series-1"),
        "zoom": add_event(db, other_calendar, clock, title="Zoom sync", start=now + timedelta(days=2),
                          meeting_url="https://zoom.us/j/123456789", platform="zoom"),
        "cancelled": add_event(db, calendar, clock, title="Cancelled Team Meeting", start=now + timedelta(days=3),
                               status="cancelled"),
        "past": add_event(db, calendar, clock, title="Old Team Meeting", start=now - timedelta(days=3),
                          synced_at=now - timedelta(days=5)),
        "unicode": add_event(db, calendar, clock, title="ÉQUIPE Réunion", start=now + timedelta(days=4)),
    }
    meeting = add_meeting(db, TEAM, clock, title="Weekly Team Meeting", start=now + timedelta(days=1))
    db.execute("UPDATE events SET meeting_id = ? WHERE id = ?", [meeting, ids["team"]])
    bot = add_bot(db, TEAM, meeting, clock, state="scheduled", join_at=now + timedelta(days=1))
    ask = add_meeting(db, TEAM, clock, title="Zoom sync", start=now + timedelta(days=2), desired="ask",
                      reason="default: you organise it")
    db.execute("UPDATE events SET meeting_id = ? WHERE id = ?", [ask, ids["zoom"]])
    return {"key": api_key(db, TEAM, clock), "ids": ids, "bot": bot, "calendar": calendar}


def listing(env, key, **params):
    response = env.get("/api/calendars/events", key, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def titles(env, key, **params) -> list[str]:
    return [e["title"] for e in listing(env, key, **params)["events"]]


def test_the_seed_query_naive_local_isoformat_finds_team_meetings_case_insensitively(env, seeded):
    now = env.clock.now().replace(tzinfo=None)
    params = {"start_time": now.isoformat(), "end_time": (now + timedelta(days=7)).isoformat(),
              "query": "Team Meeting"}
    body = listing(env, seeded["key"], **params)
    assert [e["title"] for e in body["events"]] == ["Weekly Team Meeting"]
    event = body["events"][0]
    for key in ("id", "title", "start_time", "end_time", "meeting_url", "platform", "calendar_id", "series_id",
                "attendees", "organizer", "recording"):
        assert key in event
    assert event["meeting_url"] == "https://meet.google.com/abc-defg-hij" and event["platform"] == "meet"
    assert event["series_id"] == "series-1" and event["is_recurring"] is True
    assert event["attendees"] == [{"email": "Bob@Client.com", "name": "Bob", "response": None, "organizer": False,
                                   "external": True}]
    assert event["organizer"] == {"email": "ana@acme.com", "is_me": True}
    assert event["recording"]["status"] == "scheduled"
    assert event["recording"]["bot_id"] == seeded["bot"]["idempotency_key"]
    assert event["recording"]["reason"] == "rule 1: title contains 'demo'"
    assert datetime.fromisoformat(event["start_time"]) > env.clock.now()


def test_offsets_and_z_mean_the_same_instant(env, seeded):
    start = env.clock.now() + timedelta(hours=23)
    as_z = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    as_offset = start.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Kolkata")).isoformat()
    end = (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert titles(env, seeded["key"], start_time=as_z, end_time=end) == ["Weekly Team Meeting"]
    assert titles(env, seeded["key"], start_time=as_offset, end_time=end) == ["Weekly Team Meeting"]


def test_no_parameters_lists_everything_not_cancelled_in_start_order(env, seeded):
    assert titles(env, seeded["key"]) == ["Old Team Meeting", "Weekly Team Meeting", "Zoom sync", "ÉQUIPE Réunion",
                                          "team meeting (retro)"]
    assert "Cancelled Team Meeting" in titles(env, seeded["key"], include_cancelled="true")


def test_filters(env, seeded):
    key = seeded["key"]
    assert titles(env, key, query="équipe") == ["ÉQUIPE Réunion"]
    assert titles(env, key, attendee="bob@client.com") == ["Weekly Team Meeting"]
    assert titles(env, key, organizer="ANA@acme.com") == ["Weekly Team Meeting"]
    assert titles(env, key, platform="zoom") == ["Zoom sync"]
    assert titles(env, key, recording="ask") == ["Zoom sync"]
    assert titles(env, key, recording="scheduled") == ["Weekly Team Meeting"]
    assert titles(env, key, recording="completed") == []
    assert "Old Team Meeting" not in titles(env, key, updated_since=(env.clock.now() - timedelta(days=1)).isoformat())
    assert titles(env, key, series_id="series-1") == ["Weekly Team Meeting", "team meeting (retro)"]
    assert "Zoom sync" not in titles(env, key, calendar_id=seeded["calendar"])
    assert titles(env, key, query="nothing like this") == []


def test_cursor_pagination_walks_every_event_once(env, seeded):
    key, seen, cursor, pages = seeded["key"], [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = listing(env, key, **params)
        assert len(body["events"]) <= 2
        seen += [e["id"] for e in body["events"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [e["id"] for e in listing(env, key)["events"]]
    assert len(set(seen)) == 5


def test_completed_and_failed_bots_show_in_the_recording(env, seeded):
    env.db.execute("UPDATE bots SET state = 'completed', recording = ? WHERE id = ?",
                   [json.dumps({"video_url": "https://v.example/1.mp4", "transcript_url": "https://v.example/1.txt"}),
                    seeded["bot"]["id"]])
    [event] = listing(env, seeded["key"], recording="completed")["events"]
    assert event["recording"]["video_url"] == "https://v.example/1.mp4"
    assert event["recording"]["transcript_url"] == "https://v.example/1.txt"


@pytest.mark.parametrize("params, status", [
    ({"start_time": "yesterday"}, 422),
    ({"start_time": "2025-13-01T00:00:00"}, 422),
    ({"end_time": "0001-01-01T00:00:00+05:00"}, 422),
    ({"start_time": "2025-01-02T00:00:00Z", "end_time": "2025-01-01T00:00:00Z"}, 422),
    ({"updated_since": "x"}, 422),
    ({"platform": "myspace"}, 422),
    ({"recording": "maybe"}, 422),
    ({"limit": "0"}, 422),
    ({"limit": "100000"}, 422),
    ({"limit": "ten"}, 422),
    ({"limit": "99999999999999999999999"}, 422),
    ({"calendar_id": "99999999999999999999999"}, 422),
    ({"include_cancelled": "perhaps"}, 422),
    ({"cursor": "not-a-cursor"}, 400),
    ({"cursor": "WyJ4IiwxXQ"}, 400),          # ["x",1]: well-formed JSON, not our cursor
    ({"query": "x" * 5000}, 422),
])
def test_bad_input_is_a_4xx_in_our_error_shape(env, seeded, params, status):
    response = env.get("/api/calendars/events", seeded["key"], params=params)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"} and set(response.json()["error"]) == {"code", "message"}


def test_unknown_parameters_are_ignored(env, seeded):
    assert env.get("/api/calendars/events", seeded["key"], params={"colour": "blue"}).status_code == 200


@pytest.mark.parametrize("event_id", ["abc", "-1", "0", "99999999999999999999999999", "1.5", "１"])
def test_odd_event_ids_are_404(env, seeded, event_id):
    response = env.get(f"/api/calendars/events/{event_id}", seeded["key"])
    assert response.status_code in (404, 422)
    assert "error" in response.json()


def test_member_calendars_of_a_disconnected_account_are_hidden(env, seeded):
    env.db.execute("UPDATE connections SET status = 'disconnected'")
    assert env.get("/api/calendars/providers", seeded["key"]).json()["providers"] == []
    assert listing(env, seeded["key"])["events"] == []


def test_unselected_calendars_events_are_not_listed(env, seeded):
    env.db.execute("UPDATE calendars SET selected = 0 WHERE id = ?", [seeded["calendar"]])
    assert titles(env, seeded["key"]) == ["Zoom sync"]


def test_a_parameter_given_twice_is_422(env, seeded):
    response = env.client.get("/api/calendars/events?limit=1&limit=900", headers={"x-spoke-api-key": seeded["key"]})
    assert response.status_code == 422 and "limit" in response.json()["error"]["message"]


@pytest.mark.parametrize("hide", [
    "UPDATE calendars SET selected = 0",
    "UPDATE connections SET status = 'disconnected'",
])
def test_an_event_the_list_hides_is_not_found_by_id_either(env, seeded, hide):
    event = seeded["ids"]["team"]
    assert env.get(f"/api/calendars/events/{event}", seeded["key"]).status_code == 200
    env.db.execute(hide)
    for response in (env.get(f"/api/calendars/events/{event}", seeded["key"]),
                     env.post(f"/api/calendars/events/{event}/bot", seeded["key"]),
                     env.delete(f"/api/calendars/events/{event}/bot", seeded["key"])):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert env.db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0


def test_a_cancelled_event_is_still_found_by_id(env, seeded):
    response = env.get(f"/api/calendars/events/{seeded['ids']['cancelled']}", seeded["key"])
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
