"""End to end, as a member lives it in Slack: choose calendars, check status, lose access and
reconnect, disconnect — against `calbot serve` with push on and the Google fake."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET, CalbotProcess
from tests.e2e.test_connect_and_sync import ANA, calendar_dm, connect_from_slack, query, soon, wait_until
from tests.fakes.slack import find_button

TEAM_CAL = "team@group.calendar.google.com"


@pytest.fixture
def calbot(tmp_path, slack_fake, google_fake):
    slack_fake.add_user(ANA, team_id="T0001", tz="Europe/Paris", name="Ana")
    proc = CalbotProcess(tmp_path, {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "CALBOT_SLACK_API_URL": f"{slack_fake.url}/api/",
        "CALBOT_PUSH": "on",
        **google_fake.env(),
    })
    with proc:
        yield proc


@pytest.fixture
def driver(calbot, slack_fake):
    from tests.fakes.slack_driver import SlackDriver

    return SlackDriver(calbot.url, SIGNING_SECRET, slack_fake, team_id="T0001")


@pytest.fixture
def connected(calbot, driver, slack_fake, google_fake):
    google_fake.add_account("ana@acme.com", calendars=[{"id": TEAM_CAL, "summary": "Team"}])
    google_fake.next_login = "ana@acme.com"
    page = connect_from_slack(driver, slack_fake, "google", google_fake.consent)
    assert page.status_code == 200
    return calendar_dm(slack_fake)


def reply_to(driver, slack_fake, text: str) -> dict:
    before = len(slack_fake.ephemerals(ANA))
    assert driver.slash(ANA, text).status_code == 200
    return slack_fake.wait_for(lambda: slack_fake.ephemerals(ANA)[before:])[-1]


def reauth_dms(slack_fake) -> list[dict]:
    return [m for m in slack_fake.dms(ANA) if "lost access" in (m.get("text") or "")]


def test_choosing_another_calendar_in_the_dm_syncs_it(calbot, driver, slack_fake, google_fake, connected):
    google_fake.add_event(TEAM_CAL, "Team offsite", soon(4), conference="meet")
    ids = {name: int(cal_id) for cal_id, name in query(calbot, "SELECT id, name FROM calendars")}
    driver.select(ANA, connected, action_id="calendars_select", value=[str(ids["ana@acme.com"]), str(ids["Team"])])
    wait_until(lambda: query(calbot, "SELECT 1 FROM events WHERE title = 'Team offsite'"))
    assert query(calbot, "SELECT name, selected FROM calendars ORDER BY id") == [("ana@acme.com", 1), ("Team", 1)]

    listing = reply_to(driver, slack_fake, "calendars")
    boxes = [e for b in listing["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert sorted(o["text"]["text"] for o in boxes[0]["initial_options"]) == ["Team", "ana@acme.com"]


def test_lost_access_dms_once_and_reconnecting_from_the_dm_fixes_it(calbot, driver, slack_fake, google_fake,
                                                                   connected):
    status = reply_to(driver, slack_fake, "status")
    assert "healthy" in status["text"]
    wait_until(lambda: google_fake.active_channels("ana@acme.com"))

    google_fake.revoke("ana@acme.com")
    for hour in (2, 3, 4):   # each change is pushed; each push makes calbot try again
        google_fake.add_event("ana@acme.com", f"Meeting {hour}", soon(hour))
        time.sleep(0.3)
    dm = slack_fake.wait_for(lambda: reauth_dms(slack_fake) or None)[0]
    time.sleep(1.0)
    assert len(reauth_dms(slack_fake)) == 1
    assert query(calbot, "SELECT status FROM connections") == [("needs_reauth",)]

    status = reply_to(driver, slack_fake, "status")
    assert "needs reconnecting" in status["text"]
    assert "/oauth/google/start?state=" in find_button(status, text="Reconnect")["url"]

    before = len(slack_fake.ephemerals(ANA))
    driver.click(ANA, dm, action_id="connection_reconnect")
    link = slack_fake.wait_for(lambda: slack_fake.ephemerals(ANA)[before:])[-1]
    start = httpx.get(find_button(link, action_id="connection_open_link")["url"], follow_redirects=False)
    google_fake.next_login = "ana@acme.com"
    page = httpx.get(google_fake.consent(start.headers["location"]), follow_redirects=False, timeout=20)
    assert page.status_code == 200
    assert query(calbot, "SELECT COUNT(*), MIN(status) FROM connections") == [(1, "active")]
    wait_until(lambda: query(calbot, "SELECT 1 FROM events WHERE title = 'Meeting 4'"))
    assert "healthy" in reply_to(driver, slack_fake, "status")["text"]


def test_disconnect_removes_the_account_and_stops_watching(calbot, driver, slack_fake, google_fake, connected):
    google_fake.add_event("ana@acme.com", "Acme demo", soon(3), conference="meet")
    wait_until(lambda: query(calbot, "SELECT 1 FROM events WHERE title = 'Acme demo'"))
    wait_until(lambda: google_fake.active_channels("ana@acme.com"))

    wrong = reply_to(driver, slack_fake, "disconnect bob@acme.com")
    assert "No connected calendar account `bob@acme.com`" in wrong["text"] and "ana@acme.com" in wrong["text"]

    done = reply_to(driver, slack_fake, "disconnect ana@acme.com")
    assert "Disconnected *ana@acme.com*" in done["text"]
    assert query(calbot, "SELECT COUNT(*) FROM connections") == [(0,)]
    assert query(calbot, "SELECT COUNT(*) FROM events") == [(0,)]
    assert query(calbot, "SELECT kind FROM changes ORDER BY id DESC LIMIT 1") == [("deleted",)]
    assert google_fake.active_channels("ana@acme.com") == []
    assert "haven't connected" in reply_to(driver, slack_fake, "calendars")["text"]


def test_connecting_an_unconfigured_provider_says_so_plainly(calbot, driver, slack_fake):
    reply = reply_to(driver, slack_fake, "connect microsoft")
    assert "Microsoft 365 isn't set up on this calbot" in reply["text"]
    assert "MICROSOFT_CLIENT_ID" in reply["text"]
