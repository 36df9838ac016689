"""Who sees what: API keys (three headers, revoked, other workspace), member vs workspace keys,
and 404 — never 403 — for another workspace's or member's objects."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.api_keys import revoke_api_key
from tests.integration.api_seed import add_calendar, add_event, add_member, api_key


@pytest.fixture
def world(env):
    """Two workspaces; in the first, Ana and Bob each with a calendar and an event."""
    clock, db = env.clock, env.db
    tomorrow = clock.now() + timedelta(days=1)
    ana = add_member(db, "T_ACME", "U_ANA", clock)
    bob = add_member(db, "T_ACME", "U_BOB", clock)
    eve = add_member(db, "T_EVIL", "U_EVE", clock)
    cal = {name: add_calendar(db, member, clock, account=f"{name}@x.com")
           for name, member in (("ana", ana), ("bob", bob), ("eve", eve))}
    events = {name: add_event(db, cal[name], clock, title=f"{name} Team Meeting", start=tomorrow)
              for name in cal}
    keys = {
        "acme": api_key(db, "T_ACME", clock),
        "ana": api_key(db, "T_ACME", clock, member_id=ana),
        "evil": api_key(db, "T_EVIL", clock),
    }
    return {"cal": cal, "events": events, "keys": keys, "members": {"ana": ana, "bob": bob}}


def titles(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(e["title"] for e in response.json()["events"])


def test_key_accepted_in_each_of_the_three_headers(env, world):
    key = world["keys"]["acme"]
    for headers in ({"x-meeting-baas-api-key": key}, {"x-spoke-api-key": key}, {"Authorization": f"Bearer {key}"}):
        assert env.client.get("/api/calendars/providers", headers=headers).status_code == 200


@pytest.mark.parametrize("headers", [
    {}, {"x-spoke-api-key": "cbk_not-a-real-key"}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"},
    {"x-meeting-baas-api-key": "x" * 5000},
])
def test_missing_or_bad_key_is_401_in_our_error_shape(env, world, headers):
    response = env.client.get("/api/calendars/events", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_revoked_key_stops_working(env, world):
    key_id = env.db.execute("SELECT id FROM api_keys WHERE team_id = 'T_ACME' AND member_id IS NULL").fetchone()[0]
    assert env.get("/api/calendars", world["keys"]["acme"]).status_code == 200
    assert revoke_api_key(env.db, key_id, team_id="T_ACME", clock=env.clock)
    assert env.get("/api/calendars", world["keys"]["acme"]).status_code == 401


def test_key_of_an_uninstalled_workspace_is_refused(env, world):
    env.db.execute("UPDATE workspaces SET uninstalled_at = ? WHERE team_id = 'T_EVIL'", [env.clock.now_iso()])
    assert env.get("/api/calendars", world["keys"]["evil"]).status_code == 401


def test_last_used_is_recorded_at_most_once_a_minute(env, world):
    def last_used():
        return env.db.execute("SELECT last_used_at FROM api_keys WHERE member_id = ?",
                              [world["members"]["ana"]]).fetchone()[0]

    assert last_used() is None
    env.get("/api/calendars", world["keys"]["ana"])
    first = last_used()
    assert first == env.clock.now_iso()
    env.clock.advance(seconds=30)
    env.get("/api/calendars", world["keys"]["ana"])
    assert last_used() == first
    env.clock.advance(seconds=31)
    env.get("/api/calendars", world["keys"]["ana"])
    assert last_used() == env.clock.now_iso()


def test_workspace_key_sees_the_workspace_only(env, world):
    key = world["keys"]["acme"]
    assert titles(env.get("/api/calendars/events", key)) == ["ana Team Meeting", "bob Team Meeting"]
    providers = env.get("/api/calendars/providers", key).json()["providers"]
    assert sorted(p["account"] for p in providers) == ["ana@x.com", "bob@x.com"]
    assert sorted(c["member"] for c in env.get("/api/calendars", key).json()["calendars"]) == ["U_ANA", "U_BOB"]
    assert titles(env.get("/api/calendars/events", world["keys"]["evil"])) == ["eve Team Meeting"]


def test_member_key_sees_only_that_members_calendars(env, world):
    key = world["keys"]["ana"]
    assert titles(env.get("/api/calendars/events", key)) == ["ana Team Meeting"]
    [provider] = env.get("/api/calendars/providers", key).json()["providers"]
    assert provider["account"] == "ana@x.com" and provider["status"] == "active"
    assert [c["id"] for c in env.get("/api/calendars", key).json()["calendars"]] == [str(world["cal"]["ana"])]


@pytest.mark.parametrize("viewer, owner", [("evil", "ana"), ("evil", "bob"), ("ana", "bob"), ("acme", "eve")])
def test_someone_elses_event_is_404_not_403(env, world, viewer, owner):
    key = world["keys"][viewer]
    event_id = world["events"][owner]
    response = env.get(f"/api/calendars/events/{event_id}", key)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": f"event {event_id} not found"}}
    assert env.get(f"/api/calendars/events?calendar_id={world['cal'][owner]}", key).json()["events"] == []


def test_own_event_is_found(env, world):
    event = env.get(f"/api/calendars/events/{world['events']['ana']}", world["keys"]["ana"]).json()
    assert event["title"] == "ana Team Meeting" and event["member"] == "U_ANA"


def test_webhooks_are_isolated_between_workspaces_and_members(env, world):
    acme = env.post("/api/webhooks", world["keys"]["acme"], json={"url": "https://acme.example/hook"}).json()
    ana = env.post("/api/webhooks", world["keys"]["ana"], json={"url": "https://ana.example/hook"}).json()
    assert ana["member"] == "U_ANA" and acme["member"] is None
    assert env.get("/api/webhooks", world["keys"]["evil"]).json()["webhooks"] == []
    assert [w["id"] for w in env.get("/api/webhooks", world["keys"]["ana"]).json()["webhooks"]] == [ana["id"]]
    assert sorted(w["id"] for w in env.get("/api/webhooks", world["keys"]["acme"]).json()["webhooks"]) == sorted(
        [acme["id"], ana["id"]])
    for key, hook in (("evil", acme), ("evil", ana), ("ana", acme)):
        assert env.get(f"/api/webhooks/{hook['id']}", world["keys"][key]).status_code == 404
        assert env.get(f"/api/webhooks/{hook['id']}/deliveries", world["keys"][key]).status_code == 404
        assert env.delete(f"/api/webhooks/{hook['id']}", world["keys"][key]).status_code == 404
        assert env.patch(f"/api/webhooks/{hook['id']}", world["keys"][key], json={"status": "disabled"}).status_code == 404
    assert env.get(f"/api/webhooks/{acme['id']}", world["keys"]["acme"]).json()["status"] == "active"
