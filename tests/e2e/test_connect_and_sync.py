"""End to end: a member connects Google / Microsoft from Slack against `calbot serve` with push on;
their meetings arrive; a change in the calendar is pushed and the store follows within 2 s."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET, CalbotProcess
from tests.fakes.slack import find_button

ANA = "U_ANA"


@pytest.fixture
def calbot(tmp_path, slack_fake, google_fake, microsoft_fake):
    slack_fake.add_user(ANA, team_id="T0001", tz="Europe/Paris", name="Ana")
    proc = CalbotProcess(tmp_path, {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "CALBOT_SLACK_API_URL": f"{slack_fake.url}/api/",
        "CALBOT_PUSH": "on",
        **google_fake.env(),
        **microsoft_fake.env(),
    })
    with proc:
        yield proc


@pytest.fixture
def driver(calbot, slack_fake):
    from tests.fakes.slack_driver import SlackDriver

    return SlackDriver(calbot.url, SIGNING_SECRET, slack_fake, team_id="T0001")


def query(calbot, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{calbot.tmp_path / 'calbot.db'}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(interval)


def connect_from_slack(driver, slack_fake, provider: str, consent) -> httpx.Response:
    """`/calbot connect <provider>` → the button's URL → the provider's consent → our callback."""
    before = len(slack_fake.ephemerals(ANA))
    assert driver.slash(ANA, f"connect {provider}").status_code == 200
    reply = slack_fake.wait_for(lambda: slack_fake.ephemerals(ANA)[before:])[-1]
    url = find_button(reply, action_id="connection_open_link")["url"]
    start = httpx.get(url, follow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    callback = consent(start.headers["location"])
    return httpx.get(callback, follow_redirects=False, timeout=20)


def calendar_dm(slack_fake):
    def find():
        for message in reversed(slack_fake.dms(ANA)):
            if "Connected" in (message.get("text") or ""):
                return message
        return None
    return slack_fake.wait_for(find, timeout=10)


def soon(hours: float) -> datetime:
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)


def test_google_connect_sync_and_push_within_two_seconds(calbot, driver, slack_fake, google_fake):
    google_fake.add_account("ana@acme.com")
    demo = google_fake.add_event("ana@acme.com", "Acme demo", soon(3), conference="meet",
                                 attendees=["bob@client.com"])
    google_fake.next_login = "ana@acme.com"
    page = connect_from_slack(driver, slack_fake, "google", google_fake.consent)
    assert page.status_code == 200
    assert "Connected as ana@acme.com" in page.text and "slack://open?team=T0001" in page.text

    dm = calendar_dm(slack_fake)
    checkboxes = [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "checkboxes"]
    assert checkboxes and checkboxes[0]["initial_options"][0]["text"]["text"] == "ana@acme.com"

    wait_until(lambda: query(calbot, "SELECT title FROM events WHERE provider_event_id = ?", [demo["id"]]))
    wait_until(lambda: google_fake.active_channels("ana@acme.com"))

    moved_to = soon(5)
    changed_at = time.monotonic()
    google_fake.move_event("ana@acme.com", demo["id"], moved_to)
    expected = moved_to.strftime("%Y-%m-%dT%H:%M:%SZ")
    wait_until(lambda: query(calbot, "SELECT 1 FROM events WHERE provider_event_id = ? AND start_at = ?",
                             [demo["id"], expected]), timeout=2.0)
    assert time.monotonic() - changed_at < 2.0
    kinds = [k for (k,) in query(calbot, "SELECT kind FROM changes ORDER BY id")]
    assert kinds == ["created", "moved"]
    pushes = [p for p in google_fake.pushes if p.state == "exists" and p.outcome == "delivered"]
    assert pushes and all(p.status == 200 for p in pushes)


def test_microsoft_connect_sync_and_push_within_two_seconds(calbot, driver, slack_fake, microsoft_fake):
    microsoft_fake.add_account("ana@contoso.com")
    demo = microsoft_fake.add_event("ana@contoso.com", "Contoso review", soon(3), online="teams",
                                    attendees=["bob@client.com"])
    microsoft_fake.next_login = "ana@contoso.com"
    page = connect_from_slack(driver, slack_fake, "microsoft", microsoft_fake.consent)
    assert page.status_code == 200
    assert "Connected as ana@contoso.com" in page.text
    calendar_dm(slack_fake)

    wait_until(lambda: query(calbot, "SELECT title FROM events WHERE provider_event_id = ?", [demo["id"]]))
    wait_until(lambda: microsoft_fake.active_subscriptions("ana@contoso.com"))

    moved_to = soon(6)
    changed_at = time.monotonic()
    microsoft_fake.move_event("ana@contoso.com", demo["id"], moved_to)
    expected = moved_to.strftime("%Y-%m-%dT%H:%M:%SZ")
    wait_until(lambda: query(calbot, "SELECT 1 FROM events WHERE provider_event_id = ? AND start_at = ?",
                             [demo["id"], expected]), timeout=2.0)
    assert time.monotonic() - changed_at < 2.0
    assert [k for (k,) in query(calbot, "SELECT kind FROM changes ORDER BY id")] == ["created", "moved"]
