"""The change feed `storage.events.apply_page` writes: one row per aspect that really changed."""

from datetime import datetime, timedelta, timezone

import pytest

from bot.models import Attendee, NormalizedEvent
from storage import events as event_store
from storage.db import open_database

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WINDOW = ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "c.db")
    database.execute("INSERT INTO workspaces (team_id, installed_at) VALUES ('T1', 'x')")
    database.execute("INSERT INTO members (id, team_id, user_id, created_at) VALUES (1, 'T1', 'U1', 'x')")
    database.execute("INSERT INTO connections (id, member_id, provider, account, created_at, updated_at) "
                     "VALUES (1, 1, 'google', 'ana@acme.com', 'x', 'x')")
    database.execute("INSERT INTO calendars (id, connection_id, provider_calendar_id, selected) VALUES (1, 1, 'c', 1)")
    return database


def event(**fields) -> NormalizedEvent:
    base = dict(provider_event_id="e1", title="Acme demo", start_at=T0, end_at=T0 + timedelta(minutes=30),
                meeting_url="https://meet.google.com/abc-defg-hij", platform="meet",
                meeting_key="meet:abc-defg-hij", my_response="accepted",
                attendees=[Attendee(email="ana@acme.com", self=True, response="accepted"),
                           Attendee(email="bob@client.com", external=True, response="needsAction")])
    base.update(fields)
    return NormalizedEvent(**base)


def apply(db, events=(), removed=(), generation=None):
    with event_store.transaction(db):
        return event_store.apply_page(db, calendar_id=1, team_id="T1", events=list(events), removed=list(removed),
                                      window_start=WINDOW[0], window_end=WINDOW[1], now="2026-03-01T08:00:00Z",
                                      generation=generation)


def kinds(db, after=0):
    return [c["kind"] for c in event_store.changes_since(db, after)]


def mark(db):
    return db.execute("SELECT COALESCE(MAX(id), 0) FROM changes").fetchone()[0]


@pytest.mark.parametrize("change, expected", [
    (dict(start_at=T0 + timedelta(hours=1), end_at=T0 + timedelta(hours=1, minutes=30)), ["moved"]),
    (dict(status="cancelled"), ["cancelled"]),
    (dict(meeting_url="https://zoom.us/j/1", platform="zoom", meeting_key="zoom:1"), ["link_changed"]),
    (dict(meeting_url=None, platform=None, meeting_key=None), ["link_changed"]),
    (dict(my_response="declined", attendees=[Attendee(email="ana@acme.com", self=True, response="declined"),
                                             Attendee(email="bob@client.com", external=True, response="needsAction")]),
     ["response_changed"]),
    (dict(attendees=[Attendee(email="ana@acme.com", self=True, response="accepted")]), ["attendees_changed"]),
    (dict(title="Acme demo (rescheduled)"), ["updated"]),
    (dict(title="New", start_at=T0 + timedelta(days=1), end_at=T0 + timedelta(days=1, minutes=30)),
     ["moved", "updated"]),
])
def test_each_real_change_is_reported_once_by_kind(db, change, expected):
    apply(db, [event()])
    row_id = db.execute("SELECT id FROM events").fetchone()[0]
    before = mark(db)
    outcome = apply(db, [event(**change)])
    assert kinds(db, before) == expected and outcome.updated == 1
    assert {c["event_id"] for c in event_store.changes_since(db, before)} == {row_id}
    before = mark(db)
    assert apply(db, [event(**change)]).unchanged == 1   # the same again: nothing
    assert kinds(db, before) == []


def test_created_then_removed_with_what_a_consumer_needs(db):
    apply(db, [event()])
    assert kinds(db) == ["created"]
    db.execute("UPDATE events SET meeting_id = NULL")
    before = mark(db)
    apply(db, removed=["e1", "never-seen"])
    [gone] = event_store.changes_since(db, before)
    assert gone["kind"] == "deleted" and gone["team_id"] == "T1"
    assert gone["detail"]["provider_event_id"] == "e1" and gone["detail"]["meeting_key"] == "meet:abc-defg-hij"
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_an_event_moved_out_of_the_window_leaves_the_store(db):
    apply(db, [event()])
    before = mark(db)
    apply(db, [event(start_at=datetime(2026, 5, 1, tzinfo=timezone.utc), end_at=datetime(2026, 5, 1, 1, tzinfo=timezone.utc))])
    [gone] = event_store.changes_since(db, before)
    assert gone["kind"] == "deleted" and gone["detail"]["reason"] == "out_of_window"
    before = mark(db)
    apply(db, [event(provider_event_id="e2", start_at=datetime(2026, 5, 1, tzinfo=timezone.utc),
                     end_at=datetime(2026, 5, 1, 1, tzinfo=timezone.utc))])
    assert kinds(db, before) == [] and db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_a_full_sync_deletes_only_what_it_did_not_see_and_keeps_row_ids(db):
    apply(db, [event(), event(provider_event_id="e2"), event(provider_event_id="old", start_at=datetime(2026, 2, 27, tzinfo=timezone.utc),
                                                           end_at=datetime(2026, 2, 27, 1, tzinfo=timezone.utc))],
          generation=1)
    ids = dict(db.execute("SELECT provider_event_id, id FROM events").fetchall())
    assert "old" not in ids   # outside the window from the start
    before = mark(db)
    apply(db, [event()], generation=2)
    with event_store.transaction(db):
        event_store.finish_full_sync(db, calendar_id=1, team_id="T1", generation=2, window_start=WINDOW[0],
                                     now="2026-03-01T08:00:00Z")
    assert [(c["kind"], c["detail"]["provider_event_id"]) for c in event_store.changes_since(db, before)] == [
        ("deleted", "e2")]
    assert db.execute("SELECT provider_event_id, id FROM events").fetchall() == [("e1", ids["e1"])]


def test_a_failed_page_writes_nothing(db):
    with pytest.raises(RuntimeError):
        with event_store.transaction(db):
            event_store.apply_page(db, calendar_id=1, team_id="T1", events=[event()], window_start=WINDOW[0],
                                   window_end=WINDOW[1], now="x")
            raise RuntimeError("crash before commit")
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM changes").fetchone()[0] == 0
