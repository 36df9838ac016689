"""REST: a member's rules (CRUD, order, validation, isolation) and recording one event or its series."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.api_seed import add_calendar, add_event, add_member, api_key

TEAM = "T_RULES"


@pytest.fixture
def keys(env):
    ana = add_member(env.db, TEAM, "U_ANA", env.clock)
    bob = add_member(env.db, TEAM, "U_BOB", env.clock)
    add_member(env.db, "T_OTHER", "U_EVE", env.clock)
    return {"workspace": api_key(env.db, TEAM, env.clock), "ana": api_key(env.db, TEAM, env.clock, member_id=ana),
            "other": api_key(env.db, "T_OTHER", env.clock), "ana_id": ana, "bob_id": bob}


DEMO_RULE = {"action": "record", "conditions": [{"type": "title_contains", "text": "demo"}]}


def test_rules_are_added_in_order_described_and_deleted(env, keys):
    assert env.get("/api/rules", keys["ana"]).json() == {"member": "U_ANA", "rules": []}
    env.post("/api/rules", keys["ana"], json={"rule": DEMO_RULE})
    created = env.post("/api/rules", keys["ana"], json={"rule": {"action": "skip", "conditions": [
        {"type": "recurring", "value": True}]}, "position": 1})
    assert created.status_code == 201
    rules = created.json()["rules"]
    assert [(r["position"], r["description"]) for r in rules] == [
        (1, "is recurring → skip"), (2, "title contains 'demo' → record")]
    deleted = env.delete(f"/api/rules/{rules[0]['id']}", keys["ana"])
    assert deleted.json() == {"id": rules[0]["id"], "deleted": True}
    assert [r["position"] for r in env.get("/api/rules", keys["ana"]).json()["rules"]] == [1]


@pytest.mark.parametrize("rule", [
    {"action": "record", "conditions": [{"type": "matches", "pattern": "(broken"}]},
    {"action": "sometimes"},
    {"action": "record", "conditions": [{"type": "attendee_count"}]},
])
def test_invalid_rules_are_422_and_nothing_is_stored(env, keys, rule):
    response = env.post("/api/rules", keys["ana"], json={"rule": rule})
    assert response.status_code == 422 and set(response.json()["error"]) == {"code", "message"}
    assert env.db.execute("SELECT COUNT(*) FROM rules").fetchone()[0] == 0


def test_workspace_keys_say_whose_rules_and_other_workspaces_see_nothing(env, keys):
    assert env.get("/api/rules", keys["workspace"]).status_code == 422
    env.post("/api/rules", keys["workspace"], json={"rule": DEMO_RULE, "member": "U_BOB"})
    assert len(env.get("/api/rules?member=U_BOB", keys["workspace"]).json()["rules"]) == 1
    assert env.get("/api/rules?member=U_BOB", keys["other"]).status_code == 422
    rule_id = env.get("/api/rules?member=U_BOB", keys["workspace"]).json()["rules"][0]["id"]
    assert env.delete(f"/api/rules/{rule_id}", keys["ana"]).status_code == 404  # not Ana's rule
    assert env.delete(f"/api/rules/{rule_id}?member=U_EVE", keys["other"]).status_code == 404


def test_record_an_event_and_its_series(env, keys):
    calendar = add_calendar(env.db, keys["ana_id"], env.clock)
    start = env.clock.now() + timedelta(days=1)
    single = add_event(env.db, calendar, env.clock, title="Pitch", start=start)
    weekly = add_event(env.db, calendar, env.clock, title="Weekly", start=start, series_id="w1")
    response = env.post(f"/api/calendars/events/{single}/bot", keys["ana"])
    assert response.status_code == 200 and response.json()["scope"] == "occurrence"
    series = env.post(f"/api/calendars/events/{weekly}/bot?all_occurrences=true", keys["workspace"])
    assert series.json()["scope"] == "series"
    stop = env.delete(f"/api/calendars/events/{single}/bot", keys["ana"])
    assert stop.json()["action"] == "skip"
    rows = env.db.execute("SELECT scope, action, subject, source FROM decisions ORDER BY id").fetchall()
    assert {(scope, action) for scope, action, _, _ in rows} == {("series", "record"), ("occurrence", "skip")}
    assert any(subject == "series:w1" for _, _, subject, _ in rows)
    assert {source for *_, source in rows} == {"api"}
    # a later "don't record" replaced the earlier "record" for the single event
    assert sum(1 for scope, *_ in rows if scope == "occurrence") == 1


def test_event_bots_of_another_workspace_are_404_and_link_less_events_422(env, keys):
    calendar = add_calendar(env.db, keys["ana_id"], env.clock)
    start = env.clock.now() + timedelta(days=1)
    event = add_event(env.db, calendar, env.clock, title="Lunch", start=start, meeting_url=None, platform=None)
    assert env.post(f"/api/calendars/events/{event}/bot", keys["other"]).status_code == 404
    assert env.post("/api/calendars/events/999999/bot", keys["ana"]).status_code == 404
    refused = env.post(f"/api/calendars/events/{event}/bot", keys["ana"])
    assert refused.status_code == 422 and "no meeting link" in refused.json()["error"]["message"]
