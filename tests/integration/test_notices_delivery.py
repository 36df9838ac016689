"""Bot notices as Slack shows them: a Google calendar (fake) → planner → reconciler → Meeting BaaS
(fake) → outbox → notifier → Slack (fake).

A member who set a notice channel reads the news about their meetings' bots there as well as in
their DMs; a burst of changes to one meeting is one message edited in place, and a change after a
quiet minute starts a new message.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.engine.notifier import Notifier
from bot.engine.requests import decide_event
from bot.slack_gateway import SlackGateway
from bot.timeutil import FixedClock
from storage import outbox
from storage.settings import update_member_settings
from tests.integration.calendar_rig import close_ctx, connect, make_ctx
from tests.integration.engine_world import EngineWorld

ANA = "ana@acme.com"
CHANNEL = "C_RECORDINGS"


class World(EngineWorld):
    def __init__(self, ctx, clock, google, recorder, slack):
        super().__init__(ctx, google, recorder)
        self.clock, self.slack = clock, slack
        self.notifier = Notifier(ctx)

    async def converge(self, *, to_slack: bool = True):
        """Calendar → plans → bots → Slack, until each is idle."""
        await super().converge()
        deadline = time.monotonic() + 20
        while to_slack and outbox.pending_count(self.ctx.db):
            assert time.monotonic() < deadline, "the outbox did not drain"
            if not await self.notifier.step():
                await asyncio.sleep(0.05)

    def member(self):
        return self.ctx.db.execute("SELECT id FROM members WHERE user_id = 'U_ANA'").fetchone()[0]

    def event_id(self, title):
        return self.ctx.db.execute("SELECT id FROM events WHERE title = ?", [title]).fetchone()[0]

    def calls(self, method, channel=None):
        found = [r for r in self.slack.requests if r.path == f"/api/{method}"]
        if channel is not None:
            found = [r for r in found if _arg(r, "channel") == channel]
        return found


def _arg(request, name):
    try:
        return request.json().get(name)
    except (ValueError, AttributeError):
        return request.form().get(name)


@pytest.fixture
async def world(tmp_path, google_fake, meetingbaas_fake, slack_fake):
    slack_fake.add_user("U_ANA", tz="UTC", name="Ana")
    slack_fake.add_channel(CHANNEL, "recordings", bot_member=True)
    google_fake.add_account(ANA)
    clock = FixedClock(datetime.now(timezone.utc).replace(microsecond=0))
    ctx = make_ctx(tmp_path, google_fake, clock=clock, meetingbaas_api_key=meetingbaas_fake.api_key,
                   calbot_meetingbaas_api_url=meetingbaas_fake.url, slack_bot_token="xoxb-test-token",
                   slack_signing_secret="test-signing-secret", calbot_slack_api_url=f"{slack_fake.url}/api/")
    ctx.slack = SlackGateway(ctx.settings, db=ctx.db)
    await connect(ctx, google_fake, ANA, provider="google", team_id="T0001", user_id="U_ANA")
    world = World(ctx, clock, google_fake, meetingbaas_fake, slack_fake)
    yield world
    await close_ctx(ctx)


async def recorded(world, title, start):
    event = world.google.add_event(ANA, title, start, conference="meet")
    await world.converge()
    decide_event(world.ctx, member_id=world.member(), event_id=world.event_id(title), action="record",
                 scope="occurrence", actor="U_ANA")
    await world.converge()
    return event


def tomorrow_at(hour):
    day = datetime.now(timezone.utc) + timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


async def test_the_notice_channel_gets_the_news_and_a_burst_of_changes_is_one_message(world):
    update_member_settings(world.ctx.db, world.member(), notice_channel=CHANNEL)
    start = tomorrow_at(10)
    event = await recorded(world, "Acme demo", start)

    [first] = world.slack.messages(CHANNEL)
    assert "Bot scheduled for *Acme demo*" in first["text"] and "<@U_ANA>" in first["text"]
    assert [m["text"] for m in world.slack.dms("U_ANA") if "Bot scheduled" in m["text"]] != []

    # Two moves within a minute of each other: the same message, edited, says both.
    world.clock.advance(seconds=20)
    world.google.move_event(ANA, event["id"], start + timedelta(hours=1))
    await world.converge()
    world.clock.advance(seconds=40)
    world.google.move_event(ANA, event["id"], start + timedelta(hours=2))
    await world.converge()

    [message] = world.slack.messages(CHANNEL)
    assert message["ts"] == first["ts"]
    lines = message["text"].splitlines()
    assert len(lines) == 3 and "Bot scheduled" in lines[0]
    assert "*Acme demo* moved to" in lines[1]
    assert lines[1].endswith("bot rescheduled") and lines[2].endswith("bot rescheduled")
    assert f"{(start + timedelta(hours=2)):%H:%M}" in lines[2]
    assert len(world.calls("chat.postMessage", CHANNEL)) == 1
    assert len(world.calls("chat.update", CHANNEL)) >= 1
    assert world.slack.message_versions(CHANNEL, first["ts"])[-1]["text"] == message["text"]

    # After a quiet minute, the next change is a new message of its own.
    world.clock.advance(minutes=2)
    world.google.cancel_event(ANA, event["id"])
    await world.converge()

    first_again, second = world.slack.messages(CHANNEL)
    assert first_again["ts"] == first["ts"] and first_again["text"] == message["text"]
    assert second["text"].startswith(":x: Bot for *Acme demo*") and "\n" not in second["text"]
    assert len(world.calls("chat.postMessage", CHANNEL)) == 2
    assert world.recorder.active_bots() == []

    # The DM went the same way: one message for the burst, one for the later news.
    notice_ts = {r["message_ts"] for r in world.ctx.db.query(
        "SELECT message_ts FROM outbox WHERE dedup_key LIKE 'notice:U_ANA:%'")}
    notices = [m for m in world.slack.dms("U_ANA") if m["ts"] in notice_ts]
    assert [m["text"] for m in notices] == [message["text"], second["text"]]
    rows = list(world.ctx.db.query("SELECT kind, target FROM outbox WHERE dedup_key LIKE 'notice:%' ORDER BY id"))
    assert sorted((r["kind"], r["target"]) for r in rows) == \
        [("slack.dm", "U_ANA"), ("slack.dm", "U_ANA"), ("slack.post", CHANNEL), ("slack.post", CHANNEL)]


async def test_without_a_notice_channel_the_news_goes_by_dm_only(world):
    await recorded(world, "Quiet one", tomorrow_at(11))

    assert world.slack.messages(CHANNEL) == []
    assert any("Bot scheduled for *Quiet one*" in m["text"] for m in world.slack.dms("U_ANA"))
    kinds = {r["kind"] for r in world.ctx.db.query("SELECT kind FROM outbox WHERE dedup_key LIKE 'notice:%'")}
    assert kinds == {"slack.dm"}


async def test_a_channel_set_later_gets_only_the_news_after_it_was_set(world):
    start = tomorrow_at(12)
    event = await recorded(world, "Later", start)
    update_member_settings(world.ctx.db, world.member(), notice_channel=CHANNEL)

    world.clock.advance(minutes=5)
    world.google.move_event(ANA, event["id"], start + timedelta(hours=1))
    await world.converge()

    [message] = world.slack.messages(CHANNEL)
    assert message["text"].startswith(":arrow_right: *Later* moved to") and "\n" not in message["text"]
    payloads = [json.loads(r["payload"]) for r in world.ctx.db.query(
        "SELECT payload FROM outbox WHERE kind = 'slack.post' AND target = ?", [CHANNEL])]
    assert [p["text"] for p in payloads] == [message["text"]]


async def test_a_long_burst_keeps_the_newest_news_in_the_message(world):
    update_member_settings(world.ctx.db, world.member(), notice_channel=CHANNEL)
    title = "Quarterly planning with the whole extended leadership team and every regional lead " * 2
    title = title.strip()[:140]
    start = tomorrow_at(8)
    event = await recorded(world, title, start)

    for n in range(1, 21):              # 20 moves, 5 s apart: one burst
        world.clock.advance(seconds=5)
        world.google.move_event(ANA, event["id"], start + timedelta(minutes=5 * n))
        await world.converge(to_slack=False)
    await world.converge()

    [message] = world.slack.messages(CHANNEL)
    last = (start + timedelta(minutes=100)).strftime("%H:%M")
    assert message["text"].splitlines()[-1].endswith(f"{last} — bot rescheduled")
    assert len(message["text"]) <= 2900
    assert world.recorder.active_bots()[0].join_at == start + timedelta(minutes=100)
