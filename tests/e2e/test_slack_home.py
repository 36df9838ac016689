"""End to end: the App Home tab — published when opened, republished (throttled) when the member's
data changes, connection health with a reconnect button, settings from the Home, admin buttons."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.timeutil import to_iso
from tests.e2e.slack_rig import TEAM, running_rig

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)       # Monday, 09:00 in Paris


@pytest.fixture
def slack(tmp_path, slack_fake):
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez")
    with running_rig(tmp_path, slack_fake, clock=NOW) as rig:
        rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
        yield rig


def publishes(slack) -> list:
    return [r for r in slack.fake.requests if r.path == "/api/views.publish"]


def synced_change(slack, event_id: int, user: str = "U_ANA") -> None:
    """What the syncer writes when it stores a change."""
    slack.db.execute("INSERT INTO changes (event_id, calendar_id, team_id, kind, created_at) VALUES (?, ?, ?, ?, ?)",
                     [event_id, slack.world.calendars[user], TEAM, "created", to_iso(NOW)])


def open_home(slack, user: str = "U_ANA") -> dict:
    before = len(publishes(slack))
    assert slack.driver.home_opened(user).status_code == 200
    slack.wait(lambda: len(publishes(slack)) > before, what="the Home published")
    return slack.fake.home_view(user)


def test_home_shows_calendars_meetings_rules_and_settings(slack):
    slack.world.event("U_ANA", "Acme demo", NOW + timedelta(hours=1), desired="record", reason="rule 1")
    slack.world.event("U_ANA", "Board review", NOW + timedelta(days=2), desired="ask")
    slack.world.event("U_ANA", "Next month", NOW + timedelta(days=9), desired="record")
    home = open_home(slack)
    text = slack.fake.text_of(home)
    assert "Hi Ana" in text
    assert "*u_ana@acme.example* (Google Calendar): :large_green_circle: healthy — 1 calendar watched" in text
    assert "*Next 7 days* · 2 meetings, 1 will be recorded, 1 waiting for a decision" in text
    assert "*Today, Monday 2 March*" in text and "Acme demo" in text and "*Wednesday 4 March*" in text
    assert "Next month" not in text
    assert "No rules yet" in text and "Digest at 08:30 on weekdays" in text
    assert slack.fake.find_button(home, action_id="home_settings")
    assert not any(b["action_id"] in ("home_policy", "home_admin_health") for b in slack.fake.buttons(home))
    # opening again with nothing changed: Slack still shows it, nothing to publish
    count = len(publishes(slack))
    slack.driver.home_opened("U_ANA")
    time.sleep(0.5)
    assert len(publishes(slack)) == count


def test_home_follows_data_changes_at_most_every_few_seconds(slack):
    open_home(slack)
    first = publishes(slack)[-1].at
    event = slack.world.event("U_ANA", "Added meeting", NOW + timedelta(hours=2), desired="record")
    synced_change(slack, event)
    slack.wait(lambda: "Added meeting" in slack.fake.text_of(slack.fake.home_view("U_ANA")), 12,
               "the Home to show the new meeting")
    second = publishes(slack)[-1].at
    assert second - first >= 4.9                     # throttled: not sooner than 5 s after the last
    # a burst of changes becomes one publish
    for n in range(3):
        synced_change(slack, slack.world.event("U_ANA", f"Burst {n}", NOW + timedelta(hours=3 + n), desired="ask"))
        time.sleep(0.2)
    slack.wait(lambda: "Burst 2" in slack.fake.text_of(slack.fake.home_view("U_ANA")), 12, "the burst")
    time.sleep(2.5)
    after_burst = [p.at for p in publishes(slack) if p.at > second]
    assert len(after_burst) == 1 and after_burst[0] - second >= 4.9
    # a planner decision (no sync change) shows too
    slack.db.execute("UPDATE meetings SET desired = 'skip', reason = 'rule 2: you asked', planned_at = ? "
                     "WHERE title = 'Burst 0'", [to_iso(NOW)])
    slack.wait(lambda: "rule 2: you asked" in slack.fake.text_of(slack.fake.home_view("U_ANA")), 12,
               "the replanned meeting")


def test_broken_connection_offers_reconnect(slack):
    slack.db.execute("UPDATE connections SET status = 'needs_reauth'")
    home = open_home(slack)
    assert ":red_circle: needs reconnecting" in slack.fake.text_of(home)
    slack.driver.click_home("U_ANA", action_id="home_reconnect")
    modal = slack.wait(lambda: slack.fake.top_view("U_ANA"), what="the reconnect modal")
    # Google is not configured on this calbot: the modal says what the admin must do
    assert "Google Calendar isn't set up on this calbot yet" in slack.fake.text_of(modal)


def test_no_calendar_offers_connect_buttons(slack, slack_fake):
    slack_fake.add_user("U_BO", team_id=TEAM, tz="Europe/Paris", name="Bo")
    home = open_home(slack, "U_BO")
    assert "No calendar connected yet" in slack.fake.text_of(home)
    slack.driver.click_home("U_BO", action_id="home_connect:microsoft")
    modal = slack.wait(lambda: slack.fake.top_view("U_BO"), what="the connect modal")
    assert "Microsoft 365" in slack.fake.text_of(modal)


def test_settings_from_the_home_and_the_home_updates(slack):
    open_home(slack)
    slack.driver.click_home("U_ANA", action_id="home_settings")
    modal = slack.wait(lambda: slack.fake.top_view("U_ANA"), what="the settings modal")
    slack.driver.submit_view("U_ANA", modal, values={"digest_time": {"value": "07:15"}})
    slack.wait(lambda: "Digest at 07:15 on weekdays" in slack.fake.text_of(slack.fake.home_view("U_ANA")), 12,
               "the Home to show the new digest time")


def test_admins_get_the_workspace_buttons(slack, slack_fake):
    slack_fake.add_user("U_BOSS", team_id=TEAM, tz="Europe/London", name="Sam Boss", is_admin=True)
    home = open_home(slack, "U_BOSS")           # first contact: the profile (and is_admin) is read
    assert slack.fake.find_button(home, action_id="home_policy")
    assert slack.fake.find_button(home, action_id="home_admin_health")
