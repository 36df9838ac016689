"""End to end: approve a meeting in Slack, and its one bot follows the meeting.

`calbot serve` runs as a process against the Slack, Google and Meeting BaaS fakes. The member
connects from Slack, gets an approval DM, clicks the Record button calbot posted; the recorder
then has exactly one bot at the meeting's start, which moves when the meeting moves, is deleted
when it's cancelled, and whose recording links reach the member when it completes.
"""

from __future__ import annotations

import random
import sqlite3
import time

import pytest

from bot.crypto import new_secret_key
from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET, CalbotProcess
from tests.e2e.test_connect_and_sync import connect_from_slack, soon, wait_until
from tests.fakes.slack import buttons

ANA = "U_ANA"
ACCOUNT = "ana@acme.com"


def calbot_env(slack_fake, google_fake, meetingbaas_fake, push: str = "on") -> dict:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "CALBOT_SLACK_API_URL": f"{slack_fake.url}/api/",
        "CALBOT_PUSH": push,
        "MEETINGBAAS_API_KEY": meetingbaas_fake.api_key,
        "CALBOT_MEETINGBAAS_API_URL": meetingbaas_fake.url,
        **google_fake.env(),
    }


@pytest.fixture
def world(tmp_path, slack_fake, google_fake, meetingbaas_fake):
    from tests.fakes.slack_driver import SlackDriver

    slack_fake.add_user(ANA, team_id="T0001", tz="Europe/Paris", name="Ana")
    google_fake.add_account(ACCOUNT)
    google_fake.next_login = ACCOUNT
    with CalbotProcess(tmp_path, calbot_env(slack_fake, google_fake, meetingbaas_fake)) as calbot:
        driver = SlackDriver(calbot.url, SIGNING_SECRET, slack_fake, team_id="T0001")
        yield calbot, driver


def dm_with(slack_fake, needle: str, timeout: float = 15.0):
    def find():
        for message in reversed(slack_fake.dms(ANA)):
            if needle in (message.get("text") or ""):
                return message
        return None
    return slack_fake.wait_for(find, timeout=timeout)


def test_click_record_then_move_then_cancel(world, slack_fake, google_fake, meetingbaas_fake):
    calbot, driver = world
    start = soon(4)
    event = google_fake.add_event(ACCOUNT, "Acme demo", start, conference="zoom", attendees=["bob@client.com"])
    connect_from_slack(driver, slack_fake, "google", google_fake.consent)

    question = dm_with(slack_fake, "Record Acme demo?")
    assert meetingbaas_fake.active_bots() == []
    driver.click(ANA, question, action_id="approval_record")

    [bot] = wait_until(lambda: meetingbaas_fake.active_bots(), timeout=15)
    assert bot.join_at == start
    answered = slack_fake.wait_for(
        lambda: "chosen by <@U_ANA>" in str(slack_fake.message(question["channel"], question["ts"])), timeout=10)
    assert answered
    assert buttons(slack_fake.message(question["channel"], question["ts"])) == []
    dm_with(slack_fake, "Bot scheduled for *Acme demo*")

    google_fake.move_event(ACCOUNT, event["id"], start.replace(hour=(start.hour + 1) % 24))
    moved = wait_until(lambda: [b for b in meetingbaas_fake.active_bots() if b.join_at != start], timeout=15)
    assert [b.bot_id for b in moved] == [bot.bot_id] and len(meetingbaas_fake.active_bots()) == 1
    dm_with(slack_fake, "bot rescheduled")

    google_fake.cancel_event(ACCOUNT, event["id"])
    wait_until(lambda: meetingbaas_fake.bot(bot.bot_id).status == "cancelled", timeout=15)
    assert meetingbaas_fake.active_bots() == []
    dm_with(slack_fake, "cancelled")


def test_completion_callback_brings_the_recording_links(world, slack_fake, google_fake, meetingbaas_fake):
    calbot, driver = world
    google_fake.add_event(ACCOUNT, "Design review", soon(5), conference="meet")
    connect_from_slack(driver, slack_fake, "google", google_fake.consent)
    driver.click(ANA, dm_with(slack_fake, "Record Design review?"), action_id="approval_record")
    [bot] = wait_until(lambda: meetingbaas_fake.active_bots(), timeout=15)

    deliveries = meetingbaas_fake.complete(bot.bot_id, video_url="https://storage.example.com/v.mp4",
                                           transcript="https://storage.example.com/t.json", copies=2)
    assert all(d.status == 200 for d in deliveries)
    ready = dm_with(slack_fake, "Recording ready")
    assert "<https://storage.example.com/v.mp4|video>" in ready["text"]
    assert "<https://storage.example.com/t.json|transcript>" in ready["text"]
    assert sum("Recording ready" in (m.get("text") or "") for m in slack_fake.dms(ANA)) == 1


def test_forged_recorder_callback_is_refused(world, meetingbaas_fake):
    calbot, _ = world
    import httpx

    body = {"event": "bot.completed", "data": {"bot_id": "00000000-0000-4000-8000-000000000000", "video": "x"}}
    assert httpx.post(f"{calbot.url}/webhooks/meetingbaas", json=body, headers={"x-mb-secret": "guess"}).status_code == 401


def test_kill_9_during_reconciliation_never_makes_a_second_bot(tmp_path, slack_fake, google_fake, meetingbaas_fake):
    """Five hard crashes at random moments while bots are being created (the recorder is slow):
    afterwards each wanted meeting has exactly one bot, the others none, and no choice is lost."""
    from tests.fakes.slack_driver import SlackDriver

    slack_fake.add_user(ANA, team_id="T0001", tz="Europe/Paris", name="Ana")
    google_fake.add_account(ACCOUNT)
    google_fake.next_login = ACCOUNT
    wanted = [f"Record me {n}" for n in range(4)]
    for n, title in enumerate(wanted + ["Not me 1", "Not me 2"]):
        google_fake.add_event(ACCOUNT, title, soon(6 + n), conference=f"https://zoom.us/j/98765432{n:02d}")
    env = {**calbot_env(slack_fake, google_fake, meetingbaas_fake, push="off"), "CALBOT_SECRET_KEY": new_secret_key()}
    calbot = CalbotProcess(tmp_path, env).start()
    try:
        connect_from_slack(SlackDriver(calbot.url, SIGNING_SECRET, slack_fake, team_id="T0001"), slack_fake,
                           "google", google_fake.consent)
        wait_until(lambda: _count(calbot, "SELECT COUNT(*) FROM plans") == 6, timeout=20)
    finally:
        assert calbot.stop() == 0
    _add_record_rule(calbot)

    meetingbaas_fake.fail_next("/v2/bots/scheduled", None, delay=0.4, times=1000)  # slow recorder
    rng = random.Random(7)
    for _ in range(5):
        calbot = CalbotProcess(tmp_path, env).start()
        time.sleep(rng.uniform(0.3, 2.0))
        calbot.kill()
    meetingbaas_fake.clear_faults()

    with CalbotProcess(tmp_path, env) as calbot:
        wait_until(lambda: len(meetingbaas_fake.active_bots()) >= 4, timeout=30)
        time.sleep(2.0)  # would a late duplicate appear?
        urls = sorted(b.meeting_url for b in meetingbaas_fake.active_bots())
        assert len(urls) == 4 and len(set(urls)) == 4
        assert all(u.startswith("https://zoom.us/j/98765432") and int(u[-2:]) < 4 for u in urls)
        assert _count(calbot, "SELECT COUNT(*) FROM rules") == 1
        assert _count(calbot, "SELECT COUNT(*) FROM bots WHERE state = 'scheduled'") == 4


def _count(calbot, sql: str) -> int:
    conn = sqlite3.connect(f"file:{calbot.tmp_path / 'calbot.db'}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def _add_record_rule(calbot) -> None:
    """While calbot is stopped: Ana's rule "title contains 'record me' → record"."""
    from bot.rules import Rule, TitleContains
    from bot.timeutil import Clock
    from storage.db import open_database
    from storage.meetings import enqueue
    from storage.rules import add_rule

    db = open_database(calbot.tmp_path / "calbot.db")
    member_id = db.execute("SELECT id FROM members WHERE user_id = ?", [ANA]).fetchone()[0]
    add_rule(db, member_id, Rule(action="record", conditions=[TitleContains(text="record me")]), clock=Clock())
    enqueue(db, "member", [member_id])
    db.close()
