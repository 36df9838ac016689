"""End to end: every failure a person meets is a friendly message with a reference id, and the log
has a line with the same id; and calbot acks within Slack's 3 seconds even when Slack is slow."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from tests.e2e.slack_rig import TEAM, running_rig

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
APOLOGY = re.compile(r"Sorry, something went wrong on our side\. If it keeps happening, tell your admin: ref ([A-Z2-9]{6})\.")


@pytest.fixture
def slack(tmp_path, slack_fake):
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez")
    with running_rig(tmp_path, slack_fake, clock=NOW) as rig:
        rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
        yield rig


def logged_ref(rig, ref: str) -> dict:
    for line in rig.calbot.logs().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("ref") == ref and record.get("level") == "error":
            return record
    raise AssertionError(f"no error log line with ref {ref}")


def test_a_command_that_fails_says_sorry_with_a_reference_in_the_log(slack, slack_fake):
    slack_fake.fail_method("views.open", "internal_error")
    reply = slack.reply_to("U_ANA", "settings")
    ref = APOLOGY.search(reply["text"]).group(1)
    record = logged_ref(slack, ref)
    assert record["where"] == "/calbot settings" and record["user_id"] == "U_ANA"
    assert "internal_error" in record["msg"]


def test_a_button_that_fails_on_the_home_tab_says_sorry_by_dm(slack, slack_fake):
    slack.driver.home_opened("U_ANA")
    slack.wait(lambda: slack_fake.home_view("U_ANA"), what="the Home")
    slack_fake.fail_method("views.open", "internal_error")
    slack.driver.click_home("U_ANA", action_id="home_settings")
    dm = slack.wait(lambda: slack_fake.last_dm("U_ANA"), what="the apology")
    ref = APOLOGY.search(dm["text"]).group(1)
    assert logged_ref(slack, ref)["where"] == "settings button"


def test_an_unexpected_failure_after_a_modal_is_submitted_reaches_the_person(slack, slack_fake):
    view = {"id": "V0BAD", "type": "modal", "callback_id": "meeting_options", "private_metadata": "not json",
            "state": {"values": {}}, "title": {"type": "plain_text", "text": "Bot options"}, "blocks": []}
    payload = slack.driver._base_interaction("view_submission", "U_ANA")
    payload.update(view=view, response_urls=[])
    assert slack.driver.post_payload(payload).status_code == 200
    dm = slack.wait(lambda: slack_fake.last_dm("U_ANA"), what="the apology DM")
    ref = APOLOGY.search(dm["text"]).group(1)
    assert logged_ref(slack, ref)["where"] == "bot options form"


def test_slow_slack_does_not_delay_the_ack(slack, slack_fake):
    slack.world.event("U_ANA", "Acme demo", NOW.replace(hour=9), desired="record")
    slack_fake.fail_next(r"^/response/", None, delay=4.0)      # Slack is slow to take our answer
    response = slack.driver.slash("U_ANA", "upcoming")           # the driver fails the test after 3 s
    assert response.status_code == 200
    slack.wait(lambda: slack.last_ephemeral("U_ANA"), timeout=10, what="the late answer")
