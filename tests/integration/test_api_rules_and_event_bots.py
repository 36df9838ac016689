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


def test_an_event_that_has_ended_cannot_be_recorded(env, keys):
    calendar = add_calendar(env.db, keys["ana_id"], env.clock)
    over = add_event(env.db, calendar, env.clock, title="Yesterday's sync", start=env.clock.now() - timedelta(days=1))
    refused = env.post(f"/api/calendars/events/{over}/bot", keys["ana"])
    assert refused.status_code == 422, refused.text
    assert refused.json() == {"error": {"code": "invalid_request", "message":
                                        "Yesterday's sync has already ended: there is nothing left to record."}}
    assert env.db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0
    under_way = add_event(env.db, calendar, env.clock, title="Now", start=env.clock.now() - timedelta(minutes=10))
    assert env.post(f"/api/calendars/events/{under_way}/bot", keys["ana"]).status_code == 200


def add_rules(env, key, *rules, member=None) -> list[str]:
    for rule in rules:
        response = env.post("/api/rules", key, json={"rule": rule, **({"member": member} if member else {})})
        assert response.status_code == 201, response.text
    return [r["id"] for r in response.json()["rules"]]


SKIP_RECURRING = {"action": "skip", "conditions": [{"type": "recurring", "value": True}]}


def test_one_rule_is_read_and_changed_in_part(env, keys):
    demo, recurring = add_rules(env, keys["ana"], DEMO_RULE, SKIP_RECURRING)
    shown = env.get(f"/api/rules/{recurring}", keys["ana"])
    assert shown.status_code == 200
    assert shown.json()["position"] == 2 and shown.json()["description"] == "is recurring → skip"

    changed = env.patch(f"/api/rules/{demo}", keys["ana"], json={"name": "Demos", "action": "ask"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["id"], body["position"], body["description"]) == (demo, 1, "title contains 'demo' → ask")
    assert body["rule"]["name"] == "Demos"
    assert [c["text"] for c in body["rule"]["conditions"]] == ["demo"]   # untouched

    bot = env.patch(f"/api/rules/{demo}", keys["ana"], json={
        "conditions": [{"type": "platform", "platforms": ["zoom"]}], "bot": {"bot_name": "Demo bot"}}).json()
    assert bot["rule"]["name"] == "Demos" and bot["rule"]["action"] == "ask"
    assert bot["rule"]["bot"]["bot_name"] == "Demo bot" and bot["description"] == "on Zoom → ask"
    assert env.get(f"/api/rules/{demo}", keys["ana"]).json() == bot


def test_a_rule_is_moved_with_position(env, keys):
    demo, recurring = add_rules(env, keys["ana"], DEMO_RULE, SKIP_RECURRING)
    moved = env.patch(f"/api/rules/{recurring}", keys["ana"], json={"position": 1})
    assert moved.status_code == 200 and moved.json()["position"] == 1
    assert [r["id"] for r in env.get("/api/rules", keys["ana"]).json()["rules"]] == [recurring, demo]
    last = env.patch(f"/api/rules/{recurring}", keys["ana"], json={"position": 99, "action": "record"})
    assert (last.json()["position"], last.json()["rule"]["action"]) == (2, "record")


def test_changing_a_rule_asks_the_planner_to_replan(env, keys):
    [demo] = add_rules(env, keys["ana"], DEMO_RULE)
    env.db.execute("DELETE FROM plan_queue")
    env.patch(f"/api/rules/{demo}", keys["ana"], json={"action": "skip"})
    assert env.db.execute("SELECT kind, ref FROM plan_queue").fetchall() == [("member", str(keys["ana_id"]))]


@pytest.mark.parametrize("change", [
    {"action": "sometimes"},
    {"conditions": [{"type": "matches", "pattern": "(broken"}]},
    {"conditions": [{"type": "attendee_count"}]},
    {"bot": {"bot_name": "x" * 500}},
    {"position": 0},
    {"actions": "record"},   # misspelt: refused rather than silently ignored
    {"name": "x" * 101},
])
def test_invalid_changes_are_422_and_change_nothing(env, keys, change):
    [demo] = add_rules(env, keys["ana"], DEMO_RULE)
    before = env.get(f"/api/rules/{demo}", keys["ana"]).json()
    response = env.patch(f"/api/rules/{demo}", keys["ana"], json=change)
    assert response.status_code == 422, response.text
    assert set(response.json()["error"]) == {"code", "message"}
    assert env.get(f"/api/rules/{demo}", keys["ana"]).json() == before


def test_other_members_and_workspaces_rules_are_404(env, keys):
    [bobs] = add_rules(env, keys["workspace"], DEMO_RULE, member="U_BOB")
    assert env.get(f"/api/rules/{bobs}?member=U_BOB", keys["workspace"]).status_code == 200
    assert env.patch(f"/api/rules/{bobs}?member=U_BOB", keys["workspace"], json={"name": "Bob's"}).status_code == 200
    for response in (env.get(f"/api/rules/{bobs}", keys["ana"]),
                     env.patch(f"/api/rules/{bobs}", keys["ana"], json={"action": "skip"}),
                     env.get(f"/api/rules/{bobs}?member=U_ANA", keys["workspace"]),
                     env.get(f"/api/rules/{bobs}?member=U_EVE", keys["other"]),
                     env.patch(f"/api/rules/{bobs}?member=U_EVE", keys["other"], json={"action": "skip"}),
                     env.get("/api/rules/abc", keys["ana"])):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert env.get(f"/api/rules/{bobs}", keys["workspace"]).status_code == 422  # whose? say `member`
    assert env.get(f"/api/rules/{bobs}?member=U_BOB", keys["workspace"]).json()["rule"]["action"] == "record"
