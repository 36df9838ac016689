"""`calbot serve` as a process with the Slack fake, a seeded database and (optionally) a test-set
clock (CALBOT_CLOCK_FILE), for the Slack end-to-end tests. Not a test module: tests import the
fixtures from here.

Every test that uses `slack` ends by checking every payload Slack received against slack-sdk's
Block Kit models and Slack's size limits (tests/slack_payloads.py).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from bot.clock_file import set_clock_file
from storage.db import open_database
from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET, CalbotProcess
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import SlackDriver
from tests.integration.slack_world import World
from tests.slack_payloads import assert_all_payloads_valid

TEAM = "T0001"


@dataclass
class SlackRig:
    calbot: CalbotProcess
    fake: FakeSlack
    driver: SlackDriver
    world: World
    db: Any
    clock_file: Path | None = None

    def set_time(self, moment: datetime) -> None:
        assert self.clock_file is not None, "start the rig with clock=... to control time"
        set_clock_file(self.clock_file, moment)

    def wait(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = time.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.time() > deadline:
                raise AssertionError(f"{what} not met within {timeout}s\n--- calbot log (tail) ---\n"
                                     f"{self.calbot.logs()[-4000:]}")
            time.sleep(0.03)

    def reply_to(self, user: str, text: str, *, channel: str | None = None, timeout: float = 10.0) -> dict:
        """Type `/calbot text` and wait for the reply shown to the user (in the ack or via respond)."""
        before = len(self.fake.ephemerals(user)) + len(self.fake.messages(channel) if channel else [])
        response = self.driver.slash(user, text, channel_id=channel)
        assert response.status_code == 200, response.text
        if response.slack_message is not None:
            return response.slack_message

        def arrived():
            shown = self.fake.ephemerals(user) + (self.fake.messages(channel) if channel else [])
            return shown[-1] if len(shown) > before else None

        return self.wait(arrived, timeout, f"a reply to /calbot {text}")

    def last_ephemeral(self, user: str) -> dict | None:
        found = self.fake.ephemerals(user)
        return found[-1] if found else None

    def member_id(self, user: str) -> int:
        return self.db.execute("SELECT id FROM members WHERE user_id = ?", [user]).fetchone()[0]

    def settings(self, user: str) -> dict:
        import json

        return json.loads(self.db.execute("SELECT settings FROM members WHERE user_id = ?", [user]).fetchone()[0])


def start_rig(tmp_path: Path, fake: FakeSlack, *, clock: datetime | None = None, env: dict | None = None,
              team_id: str = TEAM) -> SlackRig:
    clock_file = None
    extra = dict(env or {})
    if clock is not None:
        clock_file = tmp_path / "clock.txt"
        set_clock_file(clock_file, clock)
        extra["CALBOT_CLOCK_FILE"] = str(clock_file)
    settings = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "CALBOT_SLACK_API_URL": f"{fake.url}/api/"}
    if "SLACK_CLIENT_ID" not in extra:
        settings["SLACK_BOT_TOKEN"] = BOT_TOKEN
    proc = CalbotProcess(tmp_path, {**settings, **extra}).start()
    db = open_database(tmp_path / "calbot.db")
    driver = SlackDriver(proc.url, SIGNING_SECRET, fake, team_id=team_id)
    return SlackRig(proc, fake, driver, World(db, team_id), db, clock_file)


@contextmanager
def running_rig(tmp_path: Path, fake: FakeSlack, **options) -> Iterator[SlackRig]:
    """`start_rig`, and on the way out: every Block Kit payload Slack received is checked, calbot
    is killed and the database closed (also when the test's own setup fails)."""
    rig = start_rig(tmp_path, fake, **options)
    try:
        yield rig
        assert_all_payloads_valid(fake)
    finally:
        rig.calbot.kill()
        rig.db.close()


@contextmanager
def rig_with_recorder(tmp_path: Path, slack_fake: FakeSlack, recorder, now: datetime,
                      people: dict[str, str]) -> Iterator[SlackRig]:
    """calbot serve with Slack and the Meeting BaaS fake (its clock at `now`), and `people`
    ({user id: name}, in Paris) as members with connected calendars."""
    recorder.set_now(now)
    for user_id, name in people.items():
        slack_fake.add_user(user_id, team_id=TEAM, tz="Europe/Paris", name=name)
    with running_rig(tmp_path, slack_fake, clock=now, env={
        "MEETINGBAAS_API_KEY": recorder.api_key, "CALBOT_MEETINGBAAS_API_URL": recorder.url,
    }) as rig:
        for user_id, name in people.items():
            rig.world.member(user_id, tz="Europe/Paris", name=name)
        rig.recorder = recorder
        yield rig


@pytest.fixture
def slack(tmp_path, slack_fake):
    """calbot serve + Slack fake; Ana (Paris) is a member with a connected Google calendar."""
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez")
    with running_rig(tmp_path, slack_fake) as rig:
        rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
        yield rig
