"""Daily digests with a controlled clock: at the member's local time (their Slack time zone),
correct across DST, exactly once per member and day across restarts and clock changes, late
(but within the morning) after a downtime, and never twice."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.crypto import new_secret_key
from bot.engine.digests import DigestSender, send_digest_now
from bot.engine.notifier import Notifier
from bot.engine.profiles import ProfileRefresher
from bot.timeutil import FixedClock
from storage import outbox
from storage.settings import TeamDigest, set_team_digest
from tests.fakes.slack import block_problems
from tests.integration.slack_world import World, close_ctx, make_slack_ctx

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Rig:
    def __init__(self, tmp_path, fake, start: datetime):
        self.tmp_path, self.fake = tmp_path, fake
        self.key = new_secret_key()
        self.clock = FixedClock(start)
        self.ctx = make_slack_ctx(tmp_path, fake, clock=self.clock, secret_key=self.key)
        self.world = World(self.ctx.db)

    def restart(self) -> None:
        """A new process on the same database file (the clock is the machine's, it carries on)."""
        self.ctx.db.close()
        self.ctx = make_slack_ctx(self.tmp_path, self.fake, clock=self.clock, secret_key=self.key)
        self.world.db = self.ctx.db

    async def tick(self, when: datetime | None = None) -> None:
        """The digests loop runs, then the notifier delivers what it queued."""
        if when is not None:
            self.clock.set(when)
        while await DigestSender(self.ctx).step():
            pass
        notifier = Notifier(self.ctx)
        deadline = time.monotonic() + 10
        while outbox.pending_count(self.ctx.db):
            assert time.monotonic() < deadline
            if not await notifier.step():
                await asyncio.sleep(0.02)

    def digests(self, user="U_ANA") -> list[dict]:
        return self.fake.dms(user)


@pytest.fixture
async def rig(tmp_path, slack_fake):
    slack_fake.add_user("U_ANA", tz="Europe/Paris", name="Ana Lopez")
    rigs = []

    def make(start: str, tz: str = "Europe/Paris", settings: dict | None = None) -> Rig:
        made = Rig(tmp_path, slack_fake, at(start))
        made.world.member("U_ANA", tz=tz, name="Ana Lopez", settings=settings)
        rigs.append(made)
        return made

    yield make
    for made in rigs:
        await close_ctx(made.ctx)


async def test_sent_at_0830_local_with_todays_meetings_and_buttons(rig):
    r = rig("2026-03-02T06:00:00")        # Monday; Paris is UTC+1 in March
    r.world.event("U_ANA", "Acme demo", at("2026-03-02T09:00:00"), desired="record",
                  reason="rule 1: title contains 'demo'")
    r.world.event("U_ANA", "1:1 with Bo", at("2026-03-02T13:00:00"), desired="ask")
    r.world.event("U_ANA", "Lunch", at("2026-03-02T11:00:00"), url=None)
    r.world.event("U_ANA", "Tomorrow's sync", at("2026-03-03T09:00:00"), desired="record")
    await r.tick(at("2026-03-02T07:29:00"))
    assert r.digests() == []
    await r.tick(at("2026-03-02T07:30:00"))
    (digest,) = r.digests()
    text = r.fake.text_of(digest)
    assert "Good morning, Ana" in text and "Monday 2 March" in text
    assert "3 meetings, 1 will be recorded" in text
    assert "10:00–10:30*  Acme demo" in text and "rule 1: title contains 'demo'" in text
    assert "Lunch" in text and "no meeting link" in text
    assert "Tomorrow's sync" not in text
    assert block_problems(digest["blocks"]) == []
    # buttons for the meetings that can be recorded, none for the link-less one
    values = {b["action_id"] + ":" + b["value"].split("|")[1] for b in r.fake.buttons(digest)}
    assert values == {"meeting_skip:digest:2026-03-02", "meeting_record:digest:2026-03-02",
                      "meeting_options:digest:2026-03-02"}
    assert len(r.fake.buttons(digest)) == 5   # Skip+Options for the demo, Record+Skip+Options for the 1:1


async def test_exactly_once_across_steps_restarts_and_clock_jumping_back(rig):
    r = rig("2026-03-02T07:30:00")
    r.world.event("U_ANA", "Acme demo", at("2026-03-02T09:00:00"), desired="record")
    await r.tick()
    await r.tick(at("2026-03-02T07:45:00"))
    r.restart()
    await r.tick(at("2026-03-02T08:00:00"))
    await r.tick(at("2026-03-02T07:31:00"))      # NTP steps the clock back
    r.restart()
    await r.tick(at("2026-03-02T10:59:00"))
    assert len(r.digests()) == 1
    assert r.ctx.db.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 1
    r.world.event("U_ANA", "Tuesday demo", at("2026-03-03T09:00:00"), desired="record")
    await r.tick(at("2026-03-03T07:30:00"))      # Tuesday: the next one
    assert len(r.digests()) == 2


async def test_restart_between_queueing_and_posting_posts_once(rig):
    r = rig("2026-03-02T07:30:00")
    r.world.event("U_ANA", "Acme demo", at("2026-03-02T09:00:00"), desired="record")
    while await DigestSender(r.ctx).step():
        pass
    assert r.digests() == []             # queued, then the process died before the notifier ran
    r.restart()
    await r.tick(at("2026-03-02T07:31:00"))
    assert len(r.digests()) == 1


@pytest.mark.parametrize("tz,monday,due_utc", [
    ("Europe/Paris", "2026-03-30", "06:30"),        # first Monday of summer time (CEST, UTC+2)
    ("Europe/Paris", "2026-03-23", "07:30"),        # the Monday before (CET, UTC+1)
    ("Europe/Paris", "2026-10-26", "07:30"),        # first Monday of winter time again
    ("America/New_York", "2026-03-09", "12:30"),    # US summer time started the day before
    ("America/New_York", "2026-03-02", "13:30"),
    ("Asia/Kolkata", "2026-03-02", "03:00"),        # a half-hour zone
    ("Australia/Sydney", "2026-04-06", "22:30"),    # Sydney left summer time on 5 April; due Sunday 22:30 UTC
])
async def test_local_0830_across_dst(rig, tz, monday, due_utc):
    due = at(f"{monday}T{due_utc}:00")
    if tz == "Australia/Sydney":
        due -= timedelta(days=1)
    r = rig((due - timedelta(hours=3)).isoformat()[:19], tz=tz)
    r.world.event("U_ANA", "Acme demo", due + timedelta(hours=2), desired="record")
    await r.tick(due - timedelta(minutes=1))
    assert r.digests() == []
    await r.tick(due)
    assert len(r.digests()) == 1


async def test_on_the_dst_change_day_itself(rig):
    # Sunday 29 March 2026: Paris skips 02:00–03:00; a 02:30 digest goes at 03:00 local (01:00 UTC)
    r = rig("2026-03-28T23:00:00", settings={"digest_time": "02:30", "digest_days": [6]})
    r.world.event("U_ANA", "Weekend call", at("2026-03-29T08:00:00"), desired="record")
    await r.tick(at("2026-03-29T00:59:00"))     # 01:59 CET
    assert r.digests() == []
    await r.tick(at("2026-03-29T01:00:00"))     # 03:00 CEST
    assert len(r.digests()) == 1
    # and on 25 October the 02:30 hour happens twice: still one digest
    r.world.event("U_ANA", "Autumn call", at("2026-10-25T09:00:00"), desired="record")
    await r.tick(at("2026-10-25T00:30:00"))     # 02:30 CEST
    await r.tick(at("2026-10-25T01:30:00"))     # 02:30 CET, again
    assert len(r.digests()) == 2


async def test_after_a_downtime_it_comes_late_within_the_morning_but_not_after(rig):
    r = rig("2026-03-02T06:00:00")
    r.world.event("U_ANA", "Early standup", at("2026-03-02T08:00:00"), desired="record")   # 09:00 local
    r.world.event("U_ANA", "Acme demo", at("2026-03-02T11:00:00"), desired="record")       # 12:00 local
    # down from 08:00 to 10:50 local: the digest comes at 10:50, without the meeting that is over
    await r.tick(at("2026-03-02T09:50:00"))
    (digest,) = r.digests()
    assert "Acme demo" in r.fake.text_of(digest) and "Early standup" not in r.fake.text_of(digest)
    # Tuesday: down all morning, up at 12:00 local — too late for a morning digest
    r.world.event("U_ANA", "Tuesday demo", at("2026-03-03T14:00:00"), desired="record")
    await r.tick(at("2026-03-03T11:00:00"))
    assert len(r.digests()) == 1


async def test_weekends_chosen_days_and_off(rig):
    r = rig("2026-03-07T07:30:00")      # Saturday
    r.world.event("U_ANA", "Weekend call", at("2026-03-07T10:00:00"), desired="record")
    await r.tick()
    assert r.digests() == []
    r.world.member("U_ANA", name="Ana Lopez", settings={"digest_days": [5, 6], "digest_time": "09:15"}, connected=False)
    await r.tick(at("2026-03-07T08:14:00"))
    assert r.digests() == []
    await r.tick(at("2026-03-07T08:15:00"))
    assert len(r.digests()) == 1
    assert "09:15 on Sat, Sun" in r.fake.text_of(r.digests()[0])
    r.world.member("U_ANA", name="Ana Lopez", settings={"digest_enabled": False, "digest_days": [6]}, connected=False)
    r.world.event("U_ANA", "Sunday call", at("2026-03-08T10:00:00"), desired="record")
    await r.tick(at("2026-03-08T07:45:00"))
    assert len(r.digests()) == 1


async def test_quiet_days_send_nothing_and_digest_now_always_answers(rig):
    r = rig("2026-03-02T07:30:00")
    await r.tick()
    assert r.digests() == []
    assert r.ctx.db.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 1   # decided, once
    member = dict(next(r.ctx.db.query("SELECT * FROM members WHERE user_id = 'U_ANA'")))
    send_digest_now(r.ctx, member)
    await r.tick()
    (digest,) = r.digests()
    assert "nothing on your calendar today" in digest["text"]


async def test_digest_now_counts_as_todays_and_asking_again_sends_again(rig):
    r = rig("2026-03-02T06:00:00")       # 07:00 in Paris, before the digest time
    r.world.event("U_ANA", "Acme demo", at("2026-03-02T09:00:00"), desired="record")
    member = dict(next(r.ctx.db.query("SELECT * FROM members WHERE user_id = 'U_ANA'")))
    send_digest_now(r.ctx, member)
    await r.tick()
    await r.tick(at("2026-03-02T07:30:00"))     # the scheduled one does not follow
    assert len(r.digests()) == 1
    send_digest_now(r.ctx, member)              # asked again: asked for, so sent
    await r.tick()
    assert len(r.digests()) == 2


async def test_no_digest_without_a_calendar_or_after_uninstall(rig, slack_fake):
    r = rig("2026-03-02T07:30:00")
    slack_fake.add_user("U_BO", tz="Europe/Paris", name="Bo")
    r.world.member("U_BO", connected=False)
    await r.tick()
    assert r.digests("U_BO") == []
    r.world.event("U_ANA", "Acme demo", at("2026-03-03T09:00:00"), desired="record")
    r.ctx.db.execute("UPDATE workspaces SET uninstalled_at = '2026-03-02T12:00:00Z'")
    await r.tick(at("2026-03-03T07:30:00"))
    assert r.digests() == []


async def test_the_digest_follows_the_slack_time_zone_when_it_changes(rig, slack_fake):
    r = rig("2026-03-02T07:30:00")
    r.world.event("U_ANA", "Acme demo", at("2026-03-03T18:00:00"), desired="record")
    await r.tick()
    # Ana flies to New York; the daily profile refresh picks up her new zone
    slack_fake.update_user("U_ANA", tz="America/New_York")
    r.clock.set(at("2026-03-03T07:30:00"))
    r.ctx.db.execute("UPDATE members SET profile_synced_at = '2026-03-02T07:00:00Z'")
    await ProfileRefresher(r.ctx).step()
    assert r.ctx.db.execute("SELECT tz FROM members WHERE user_id = 'U_ANA'").fetchone()[0] == "America/New_York"
    await r.tick(at("2026-03-03T07:30:00"))     # 02:30 in New York: not yet
    assert r.digests() == []
    await r.tick(at("2026-03-03T13:30:00"))     # 08:30 in New York
    (digest,) = r.digests()
    assert "13:00–13:30*  Acme demo" in r.fake.text_of(digest)
    assert "America/New_York" in r.fake.text_of(digest)


async def test_many_meetings_fit_one_message(rig):
    r = rig("2026-03-02T07:30:00")
    for n in range(40):
        r.world.event("U_ANA", f"Call {n:02d}", at("2026-03-02T08:00:00") + timedelta(minutes=15 * n),
                      desired="record" if n % 2 else "skip")
    await r.tick()
    (digest,) = r.digests()
    assert len(digest["blocks"]) <= 50 and block_problems(digest["blocks"]) == []
    assert "more today — `/calbot upcoming today` lists them all" in r.fake.text_of(digest)


async def test_batches_of_members_are_all_sent(rig, slack_fake):
    r = rig("2026-03-02T07:30:00")
    for n in range(30):
        user = f"U{n:04d}"
        slack_fake.add_user(user, tz="Europe/Paris", name=f"Person {n}")
        r.world.member(user)
        r.world.event(user, f"Call {n}", at("2026-03-02T10:00:00"), desired="record")
    sender = DigestSender(r.ctx, batch=7)
    steps = 1
    while await sender.step():
        steps += 1
    assert steps == 5
    assert r.ctx.db.execute("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE 'digest:%'").fetchone()[0] == 30


async def test_team_digest_goes_to_the_channel_once(rig, slack_fake):
    slack_fake.add_channel("C_TEAM", "team-recordings", bot_member=True)
    r = rig("2026-03-02T07:00:00")
    set_team_digest(r.ctx.db, "T0001", "C_TEAM", TeamDigest(digest_time="09:00", digest_tz="Europe/Paris"))
    r.world.event("U_ANA", "Acme demo", at("2026-03-02T09:00:00"), desired="record")
    r.world.event("U_ANA", "Private chat", at("2026-03-02T10:00:00"), desired="skip")
    await r.tick(at("2026-03-02T07:59:00"))
    assert slack_fake.messages("C_TEAM") == []
    await r.tick(at("2026-03-02T08:00:00"))
    await r.tick(at("2026-03-02T08:10:00"))
    (posted,) = slack_fake.messages("C_TEAM")
    text = slack_fake.text_of(posted)
    assert "Acme demo" in text and "Ana Lopez" in text and "Private chat" not in text
