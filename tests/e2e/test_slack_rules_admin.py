"""End to end: the rules modal (add with a preview, reorder, edit, delete) and the admins' views
(workspace policy, members' calendars), driven through the buttons calbot actually shows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.slack_rig import TEAM, running_rig
from tests.fakes.slack_driver import build_state

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)       # Monday, 09:00 in Paris


@pytest.fixture
def slack(tmp_path, slack_fake):
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez")
    slack_fake.add_user("U_BOSS", team_id=TEAM, tz="Europe/Paris", name="The Boss", is_admin=True)
    with running_rig(tmp_path, slack_fake, clock=NOW) as rig:
        rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
        rig.world.event("U_ANA", "Acme demo", NOW + timedelta(hours=2))
        rig.world.event("U_ANA", "Standup", NOW + timedelta(hours=3))
        yield rig


def rules_in_db(slack) -> list[str]:
    import json

    return [json.loads(r[0])["conditions"][0].get("text", "?") for r in
            slack.db.execute("SELECT rule FROM rules ORDER BY position").fetchall()]


def rule_lines(view: dict) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b.get("block_id", "").startswith("rule:")]


def open_rules(slack) -> dict:
    assert slack.driver.slash("U_ANA", "rules").status_code == 200
    return slack.wait(lambda: slack.fake.top_view("U_ANA"), what="the rules modal")


def test_add_a_rule_with_a_preview_then_it_decides(slack):
    listing = open_rules(slack)
    assert "No rules yet" in slack.fake.text_of(listing)
    slack.driver.click_modal("U_ANA", action_id="rule_add")
    editor = slack.wait(lambda: (lambda v: v if v and v["callback_id"] == "rule_editor" else None)(
        slack.fake.top_view("U_ANA")), what="the rule editor")
    slack.fake.set_view_state(editor["id"], build_state(editor, {"title": {"value": "demo"}}))
    slack.driver.click_modal("U_ANA", action_id="rule_preview")
    previewed = slack.wait(lambda: (lambda v: v if "Matches" in slack.fake.text_of(v) else None)(
        slack.fake.top_view("U_ANA")), what="the preview")
    assert "Matches 1 of your 2 meetings" in slack.fake.text_of(previewed)
    assert "Acme demo" in slack.fake.text_of(previewed) and "Standup" not in slack.fake.text_of(previewed)

    slack.driver.submit_view("U_ANA", previewed, values={"title": {"value": "demo"}, "action": {"value": "record"}})
    assert rules_in_db(slack) == ["demo"]
    back = slack.wait(lambda: (lambda v: v if "title contains 'demo'" in slack.fake.text_of(v) else None)(
        slack.fake.top_view("U_ANA")), what="the list showing the new rule")
    assert back["callback_id"] == "rules_list"
    reason = slack.wait(lambda: slack.db.execute(
        "SELECT reason FROM meetings WHERE title = 'Acme demo'").fetchone(), what="the planner's decision")
    assert reason[0] == "rule 1: title contains 'demo'"


def test_bad_input_in_the_editor_says_what_to_fix(slack):
    open_rules(slack)
    slack.driver.click_modal("U_ANA", action_id="rule_add")
    editor = slack.wait(lambda: (lambda v: v if v and v["callback_id"] == "rule_editor" else None)(
        slack.fake.top_view("U_ANA")))
    response = slack.driver.submit_view("U_ANA", editor, values={
        "pattern": {"value": "(unclosed"}, "min_attendees": {"value": "three"}})
    assert response.json()["response_action"] == "errors"
    errors = slack.fake.view_errors(editor["id"])
    assert errors["min_attendees"] == "A whole number, like 3."
    assert errors["pattern"].startswith("Not a valid regular expression")
    assert rules_in_db(slack) == []


def test_reorder_edit_and_delete_from_the_rule_menu(slack):
    from bot.rules import Rule, TitleContains
    from bot.timeutil import Clock
    from storage.rules import add_rule

    member = slack.member_id("U_ANA")
    for text in ("first", "second"):
        add_rule(slack.db, member, Rule(action="skip", conditions=[TitleContains(text=text)]), clock=Clock())
    listing = open_rules(slack)
    second = [b["block_id"] for b in listing["blocks"] if b.get("block_id", "").startswith("rule:")][1]
    slack.driver.select("U_ANA", listing, "rule_menu", f"up:{second.split(':')[1]}", block_id=second)
    slack.wait(lambda: rules_in_db(slack) == ["second", "first"], what="the move")
    listing = slack.wait(lambda: (lambda v: v if "second" in rule_lines(v)[0] else None)(
        slack.fake.top_view("U_ANA")), what="the list redrawn")
    first = [b["block_id"] for b in listing["blocks"] if b.get("block_id", "").startswith("rule:")][1]
    slack.driver.select("U_ANA", listing, "rule_menu", f"delete:{first.split(':')[1]}", block_id=first)
    slack.wait(lambda: rules_in_db(slack) == ["second"], what="the delete")


def test_editing_in_slack_keeps_what_the_editor_has_no_field_for(slack):
    """A rule made through the API can hold conditions and bot settings the Slack editor does not
    show; changing its title there must not quietly drop them."""
    import json

    from bot.rules import MyResponse, OrganizerDomain, Rule, TitleContains
    from bot.timeutil import Clock
    from storage.rules import add_rule

    member = slack.member_id("U_ANA")
    add_rule(slack.db, member, Rule.model_validate({
        "action": "record", "bot": {"bot_name": "Scribe"},
        "conditions": [TitleContains(text="demo").model_dump(), OrganizerDomain(domains=["acme.com"]).model_dump(),
                       MyResponse(responses=["accepted"]).model_dump(),
                       TitleContains(text="q3").model_dump()]}), clock=Clock())
    listing = open_rules(slack)
    rule_block = next(b["block_id"] for b in listing["blocks"] if b.get("block_id", "").startswith("rule:"))
    slack.driver.select("U_ANA", listing, "rule_menu", f"edit:{rule_block.split(':')[1]}", block_id=rule_block)
    editor = slack.wait(lambda: (lambda v: v if v and v["callback_id"] == "rule_editor" else None)(
        slack.fake.top_view("U_ANA")), what="the rule editor")
    shown = slack.fake.text_of(editor)
    assert "kept as it is" in shown and "acme.com" in shown and "Scribe" in shown and "'q3'" in shown

    slack.driver.submit_view("U_ANA", editor, values={"title": {"value": "acme demo"}, "action": {"value": "skip"}})
    stored = slack.wait(lambda: (lambda r: json.loads(r[0]) if r and json.loads(r[0])["action"] == "skip" else None)(
        slack.db.execute("SELECT rule FROM rules").fetchone()), what="the edited rule")
    kinds = [c["type"] for c in stored["conditions"]]
    assert kinds == ["title_contains", "organizer_domain", "my_response", "title_contains"]
    assert stored["conditions"][0]["text"] == "acme demo" and stored["conditions"][3]["text"] == "q3"
    assert stored["bot"]["bot_name"] == "Scribe"


def test_a_pattern_that_could_backtrack_forever_is_refused_with_a_reason(slack):
    open_rules(slack)
    slack.driver.click_modal("U_ANA", action_id="rule_add")
    editor = slack.wait(lambda: (lambda v: v if v and v["callback_id"] == "rule_editor" else None)(
        slack.fake.top_view("U_ANA")))
    response = slack.driver.submit_view("U_ANA", editor, values={"pattern": {"value": r"(\w+)\1"}})
    assert response.json()["response_action"] == "errors"
    assert "linear time" in slack.fake.view_errors(editor["id"])["pattern"]
    assert rules_in_db(slack) == []


def test_admins_edit_the_workspace_policy_and_see_everyones_connections(slack):
    # not synced yet: calbot reads the Slack profile (is_admin) on first contact
    slack.world.member("U_BOSS", tz="Europe/Paris", name="The Boss", connected=False, profile_synced=False)
    slack.driver.home_opened("U_BOSS")
    home = slack.wait(lambda: slack.fake.home_view("U_BOSS"), what="the admin's Home")
    slack.driver.click_home("U_BOSS", action_id="home_policy")
    modal = slack.wait(lambda: slack.fake.top_view("U_BOSS"), what="the policy modal")
    assert modal["callback_id"] == "workspace_policy" and home
    slack.driver.submit_view("U_BOSS", modal, values={
        "bot_name": {"value": "Acme Notetaker"}, "external_needs_approval": {"value": ["on"]},
        "never_record_titles": {"value": "1:1\ninterview"}})
    policy = slack.wait(lambda: slack.db.execute("SELECT policy FROM workspaces").fetchone()[0], what="the policy")
    stored = json.loads(policy)
    assert stored["bot_name"] == "Acme Notetaker" and stored["never_record_titles"] == ["1:1", "interview"]
    assert slack.db.execute("SELECT action FROM audit_log").fetchone()[0] == "policy.update"

    slack.driver.click_home("U_BOSS", action_id="home_admin_health")
    health = slack.wait(lambda: (lambda v: v if v and "Members' calendars" in v["title"]["text"] else None)(
        slack.fake.top_view("U_BOSS")), what="the health view")
    assert "<@U_ANA>" in slack.fake.text_of(health) and "working" in slack.fake.text_of(health)


def test_admins_turn_on_the_team_digest_and_the_channel_gets_it(slack):
    slack.fake.add_channel("C0TEAM", "team-recordings", bot_member=True)
    slack.fake.add_channel("G0SECRET", "deal-room", is_private=True)
    slack.world.member("U_BOSS", tz="Europe/Paris", name="The Boss", connected=False, profile_synced=False)
    from bot.rules import Rule, TitleContains
    from bot.timeutil import Clock
    from storage.rules import add_rule

    add_rule(slack.db, slack.member_id("U_ANA"), Rule(action="record", conditions=[TitleContains(text="board")]),
             clock=Clock())
    slack.world.event("U_ANA", "Board prep", NOW + timedelta(hours=4), desired="record")
    slack.driver.home_opened("U_BOSS")
    slack.wait(lambda: slack.fake.home_view("U_BOSS"), what="the admin's Home")
    slack.driver.click_home("U_BOSS", action_id="home_policy")
    modal = slack.wait(lambda: slack.fake.top_view("U_BOSS"), what="the policy modal")
    assert "Team digest" in slack.fake.text_of(modal) and "Europe/Paris" in slack.fake.text_of(modal)

    # a private channel calbot was not invited to is refused with what to do
    refused = slack.driver.submit_view("U_BOSS", modal, values={
        "bot_name": {"value": "calbot recorder"}, "team_digest_channel": {"value": "G0SECRET"},
        "team_digest_time": {"value": "09:30"}, "team_digest_days": {"value": ["0", "1", "2", "3", "4"]}})
    assert refused.json()["response_action"] == "errors"
    assert "invite" in slack.fake.view_errors(modal["id"])["team_digest_channel"]

    slack.set_time(NOW + timedelta(minutes=31))         # 09:31 in Paris, a Monday: the digest is due
    slack.driver.submit_view("U_BOSS", modal, values={
        "bot_name": {"value": "calbot recorder"}, "team_digest_channel": {"value": "C0TEAM"},
        "team_digest_time": {"value": "09:30"}, "team_digest_days": {"value": ["0", "1", "2", "3", "4"]}})
    stored = slack.wait(lambda: slack.db.execute("SELECT digest_channel FROM workspaces").fetchone()[0],
                        what="the team digest channel")
    assert stored == "C0TEAM"
    intro = slack.wait(lambda: [m for m in slack.fake.messages("C0TEAM") if "each day at 09:30" in m.get("text", "")],
                       what="the channel told why calbot will post there")
    assert "Europe/Paris" in intro[0]["text"] and "<@U_BOSS>" in intro[0]["text"]

    digest = slack.wait(lambda: [m for m in slack.fake.messages("C0TEAM") if "Board prep" in slack.fake.text_of(m)],
                        timeout=15, what="the team digest in the channel")
    assert len(digest) == 1


def test_admins_create_and_revoke_api_keys_from_slack_and_the_key_works(slack):
    import httpx

    slack.world.member("U_BOSS", tz="Europe/Paris", name="The Boss", connected=False, profile_synced=False)
    slack.driver.home_opened("U_BOSS")
    slack.wait(lambda: slack.fake.home_view("U_BOSS"), what="the admin's Home")
    slack.driver.click_home("U_BOSS", action_id="home_api_keys")
    modal = slack.wait(lambda: slack.fake.top_view("U_BOSS"), what="the API keys modal")
    assert modal["callback_id"] == "api_keys" and "No API keys yet" in slack.fake.text_of(modal)

    answer = slack.driver.submit_view("U_BOSS", modal, values={"key_name": {"value": "crm sync"},
                                                               "key_scope": {"value": "workspace"}}).json()
    assert answer["response_action"] == "update"
    shown = slack.fake.text_of(answer["view"])
    key = shown.split("```")[1]
    assert "copy it now" in shown and key.startswith("cbk_")
    events = httpx.get(f"{slack.calbot.url}/api/calendars/events", headers={"x-spoke-api-key": key}, timeout=10)
    assert events.status_code == 200 and any(e["title"] == "Acme demo" for e in events.json()["events"])
    stored = slack.db.execute("SELECT key_hash FROM api_keys").fetchone()[0]
    assert key not in stored                      # only its hash is kept

    listing = slack.wait(lambda: (lambda v: v if v and "crm sync" in slack.fake.text_of(v) else None)(
        slack.fake.top_view("U_BOSS")), what="the modal listing the key")
    slack.driver.click_modal("U_BOSS", action_id="api_key_revoke")
    slack.wait(lambda: slack.db.execute("SELECT revoked_at FROM api_keys").fetchone()[0], what="the revocation")
    assert listing
    refused = httpx.get(f"{slack.calbot.url}/api/calendars/events", headers={"x-spoke-api-key": key}, timeout=10)
    assert refused.status_code == 401
    actions = [r[0] for r in slack.db.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["api_key.create", "api_key.revoke"]


def test_non_admins_are_not_offered_the_admin_buttons(slack):
    from bot.views.home import ADMIN_HEALTH_ACTION, POLICY_ACTION

    slack.driver.home_opened("U_ANA")
    home = slack.wait(lambda: slack.fake.home_view("U_ANA"), what="Ana's Home")
    assert POLICY_ACTION not in str(home) and ADMIN_HEALTH_ACTION not in str(home)
    assert "home_rules" in str(home)
