"""Decide and schedule, in-process: a Google calendar (fake) → planner → reconciler → Meeting BaaS (fake).

Each test drives the engine's real loops step by step against the fakes and checks what a user
would see: how many bots the recorder has, when they join, and what calbot told them.
"""

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot.engine.requests import decide_event, request_bot
from tests.integration.calendar_rig import close_ctx, connect, make_ctx
from tests.integration.engine_world import EngineWorld, tomorrow_at

ANA = "ana@acme.com"
BEN = "ben@acme.com"


@pytest.fixture
async def world(tmp_path, google_fake, meetingbaas_fake):
    google_fake.add_account(ANA)
    google_fake.add_account(BEN)
    ctx = make_ctx(tmp_path, google_fake, meetingbaas_api_key=meetingbaas_fake.api_key,
                   calbot_meetingbaas_api_url=meetingbaas_fake.url)
    await connect(ctx, google_fake, ANA, provider="google", user_id="U_ANA")
    await connect(ctx, google_fake, BEN, provider="google", user_id="U_BEN")
    world = World(ctx, google_fake, meetingbaas_fake)
    yield world
    await close_ctx(ctx)


class World(EngineWorld):
    def member(self, user_id):
        return self.ctx.db.execute("SELECT id FROM members WHERE user_id = ?", [user_id]).fetchone()[0]

    def event_id(self, user_id, title):
        return self.ctx.db.execute(
            "SELECT e.id FROM events e JOIN calendars c ON c.id = e.calendar_id JOIN connections cn ON "
            "cn.id = c.connection_id JOIN members m ON m.id = cn.member_id WHERE m.user_id = ? AND e.title = ?",
            [user_id, title]).fetchone()[0]

    def meeting(self, title):
        return next(self.ctx.db.query("SELECT * FROM meetings WHERE title = ?", [title]))

    def outbox(self, prefix):
        return [dict(r, payload=json.loads(r["payload"]))
                for r in self.ctx.db.query("SELECT * FROM outbox WHERE dedup_key LIKE ? ORDER BY id", [prefix + "%"])]

    def notices_text(self):
        return "\n".join(m["payload"]["text"] for m in self.outbox("notice:"))


async def test_a_meeting_i_organise_is_asked_about_and_record_schedules_one_bot_at_its_start(world):
    start = tomorrow_at(10)
    world.google.add_event(ANA, "Acme demo", start, conference="zoom", attendees=["client@other.com"])
    await world.converge()

    assert world.meeting("Acme demo")["desired"] == "ask"
    [dm] = world.outbox("approval:")
    assert dm["target"] == "U_ANA" and "Acme demo" in dm["payload"]["text"]
    actions = [e["action_id"] for b in dm["payload"]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["approval_record", "approval_skip"]  # not recurring: no series buttons
    assert world.recorder.active_bots() == []

    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=world.event_id("U_ANA", "Acme demo"),
                 action="record", scope="occurrence", actor="U_ANA")
    await world.converge()
    [bot] = world.recorder.active_bots()
    assert bot.join_at == start
    assert world.meeting("Acme demo")["reason"] == "approved by <@U_ANA>"
    assert "Bot scheduled for *Acme demo*" in world.notices_text()
    assert "Answered" in world.outbox("approval:")[0]["payload"]["text"]


async def test_moving_the_meeting_moves_the_same_bot_and_cancelling_deletes_it(world):
    start = tomorrow_at(10)
    event = world.google.add_event(ANA, "Weekly sync", start, conference="meet")
    await world.converge()
    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=world.event_id("U_ANA", "Weekly sync"),
                 action="record", scope="occurrence", actor="U_ANA")
    await world.converge()
    [bot] = world.recorder.active_bots()

    world.google.move_event(ANA, event["id"], start + timedelta(hours=1))
    await world.converge()
    [moved] = world.recorder.active_bots()
    assert moved.bot_id == bot.bot_id and moved.join_at == start + timedelta(hours=1)
    assert "moved to" in world.notices_text() and "bot rescheduled" in world.notices_text()

    world.google.cancel_event(ANA, event["id"])
    await world.converge()
    assert world.recorder.active_bots() == []
    assert world.recorder.bot(bot.bot_id).status == "cancelled"
    assert "cancelled" in world.notices_text()


async def test_the_same_meeting_on_two_calendars_gets_one_bot_asked_for_by_whoever_chose_record(world):
    start = tomorrow_at(14)
    world.google.add_event(ANA, "Board review", start, conference="zoom", attendees=[BEN])
    await world.converge()
    assert world.ctx.db.execute("SELECT COUNT(DISTINCT meeting_id) FROM events WHERE title = 'Board review'").fetchone()[0] == 1
    decide_event(world.ctx, member_id=world.member("U_BEN"), event_id=world.event_id("U_BEN", "Board review"),
                 action="record", scope="occurrence", actor="U_BEN")
    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=world.event_id("U_ANA", "Board review"),
                 action="skip", scope="occurrence", actor="U_ANA")
    await world.converge()
    assert len(world.recorder.active_bots()) == 1
    meeting = world.meeting("Board review")
    assert meeting["desired"] == "record" and meeting["requested_by"] == world.member("U_BEN")


async def test_series_always_records_future_instances(world):
    start = tomorrow_at(9)
    world.google.add_recurring(ANA, "Standup", start, count=4, interval=timedelta(days=7), conference="meet")
    await world.converge()
    first = world.ctx.db.execute("SELECT id FROM events WHERE title = 'Standup' ORDER BY start_at LIMIT 1").fetchone()[0]
    [dm, *_] = world.outbox("approval:")
    actions = [e["action_id"] for b in dm["payload"]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "approval_series_always" in actions and "approval_series_never" in actions
    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=first, action="record", scope="series",
                 actor="U_ANA")
    await world.converge()
    assert len(world.recorder.active_bots()) == 4
    assert {m["reason"] for m in world.ctx.db.query("SELECT reason FROM meetings WHERE title = 'Standup'")} == \
        {"series: always (chosen by <@U_ANA>)"}


async def test_declined_and_link_less_meetings_never_get_a_bot_even_when_asked(world):
    from bot.errors import UserError

    world.google.add_event(ANA, "Coffee", tomorrow_at(11))
    await world.converge()
    with pytest.raises(UserError, match="no meeting link"):
        decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=world.event_id("U_ANA", "Coffee"),
                     action="record", scope="occurrence", actor="U_ANA")
    assert world.recorder.active_bots() == []


async def test_api_request_and_calendar_meeting_share_one_bot(world):
    start = tomorrow_at(15)
    world.google.add_event(ANA, "Partner call", start, conference="https://acme.zoom.us/j/5551234567?pwd=abc")
    await world.converge()
    first = request_bot(world.ctx, team_id="T1", meeting_url="https://zoom.us/j/5551234567?pwd=abc", join_at=start,
                        config={"bot_name": "Scribe"}, actor="key 'ci'")
    again = request_bot(world.ctx, team_id="T1", meeting_url="https://acme.zoom.us/j/5551234567", join_at=start,
                        config={}, actor="key 'ci'")
    await world.converge()
    assert first == again
    [bot] = world.recorder.active_bots()
    assert bot.body["bot_name"] == "Scribe"


async def test_recorder_trouble_is_retried_without_a_second_bot(world):
    world.google.add_event(ANA, "Retry me", tomorrow_at(16), conference="meet")
    await world.converge()
    world.recorder.fail_next("/v2/bots/scheduled$", 503, method="POST")
    world.recorder.rate_limit_next(retry_after=0)
    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=world.event_id("U_ANA", "Retry me"),
                 action="record", scope="occurrence", actor="U_ANA")
    for _ in range(4):
        await world.converge()
        world.ctx.db.execute("UPDATE bots SET next_attempt_at = NULL")
    assert len(world.recorder.active_bots()) == 1


async def test_a_crash_after_the_recorder_created_the_bot_adopts_it(world):
    world.google.add_event(ANA, "Crashy", tomorrow_at(17), conference="meet")
    await world.converge()
    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=world.event_id("U_ANA", "Crashy"),
                 action="record", scope="occurrence", actor="U_ANA")
    await world.planner.step()
    world.reconciler._add_missing_bots(world.ctx.clock.now())
    bot = next(world.ctx.db.query("SELECT * FROM bots"))
    meeting = world.meeting("Crashy")
    original = world.ctx.db.execute

    # The recorder creates the bot, then we "crash" before writing its id down.
    class Crash(Exception):
        pass

    async def schedule_then_crash(**kwargs):
        await real_schedule(**kwargs)
        raise Crash()

    real_schedule = world.ctx.recorder.schedule
    world.ctx.recorder.schedule = schedule_then_crash
    with pytest.raises(Crash):
        await world.reconciler._create(dict(bot), meeting, world.ctx.clock.now())
    world.ctx.recorder.schedule = real_schedule
    assert original("SELECT state FROM bots").fetchone()[0] == "creating"

    await world.converge()
    assert len(world.recorder.active_bots()) == 1
    assert original("SELECT state, recorder_bot_id IS NOT NULL FROM bots").fetchone() == ("scheduled", 1)


async def test_duplicated_and_late_callbacks_never_go_backwards(world, tmp_path):
    from bot.engine.bot_status import apply_bot_event
    from bot.recorder.base import BotEvent

    world.google.add_event(ANA, "Callbacks", tomorrow_at(18), conference="meet")
    await world.converge()
    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=world.event_id("U_ANA", "Callbacks"),
                 action="record", scope="occurrence", actor="U_ANA")
    await world.converge()
    [bot] = world.recorder.active_bots()
    done = BotEvent(bot_id=bot.bot_id, kind="completed", video_url="https://v.example/1.mp4",
                    transcript_url="https://v.example/1.json")
    assert apply_bot_event(world.ctx, done)
    assert not apply_bot_event(world.ctx, done)
    assert not apply_bot_event(world.ctx, BotEvent(bot_id=bot.bot_id, kind="joining"))
    state, recording = world.ctx.db.execute("SELECT state, recording FROM bots").fetchone()
    assert state == "completed" and json.loads(recording)["video"] == "https://v.example/1.mp4"
    assert world.notices_text().count("Recording ready") == 1
    assert "<https://v.example/1.mp4|video> · <https://v.example/1.json|transcript>" in world.notices_text()


@pytest.fixture
async def fixed_world(tmp_path, google_fake, meetingbaas_fake):
    from bot.timeutil import FixedClock

    google_fake.add_account(ANA)
    clock = FixedClock(datetime.now(timezone.utc))
    ctx = make_ctx(tmp_path, google_fake, clock=clock, meetingbaas_api_key=meetingbaas_fake.api_key,
                   calbot_meetingbaas_api_url=meetingbaas_fake.url)
    await connect(ctx, google_fake, ANA, provider="google", user_id="U_ANA")
    yield World(ctx, google_fake, meetingbaas_fake), clock
    await close_ctx(ctx)


async def test_an_unanswered_approval_resolves_to_the_policy_default_before_the_start(fixed_world):
    world, clock = fixed_world
    start = (clock.now() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    world.google.add_event(ANA, "Unanswered", start, conference="meet")
    await world.converge()
    [question] = world.outbox("approval:")
    assert "Record Unanswered?" in question["payload"]["text"]

    clock.advance(minutes=27)  # under 3 minutes before the start: too late to ask any longer
    await world.converge()
    [settled] = world.outbox("approval:")
    assert "No answer before the meeting — not recorded (policy default: skip)" in settled["payload"]["text"]
    assert world.ctx.db.execute("SELECT status FROM approvals").fetchone()[0] == "expired"
    assert world.recorder.active_bots() == []


async def test_when_the_policy_default_is_record_an_unanswered_approval_records(fixed_world):
    world, clock = fixed_world
    world.ctx.db.execute("UPDATE workspaces SET policy = ?",
                         [json.dumps({"default_action": "record", "external_needs_approval": True})])
    start = (clock.now() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    world.google.add_event(ANA, "External", start, conference="meet", attendees=["guest@elsewhere.org"])
    await world.converge()
    assert world.meeting("External")["reason"] == "policy: external meetings need approval"
    clock.advance(minutes=27)
    await world.converge()
    [bot] = world.recorder.active_bots()
    assert bot.join_at == start
    assert "recording (policy default)" in world.outbox("approval:")[0]["payload"]["text"]


async def test_a_move_inside_the_recorders_lock_window_is_reported_not_lost(world):
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=10)
    event = world.google.add_event(ANA, "Last minute", start, conference="meet")
    await world.converge()
    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=world.event_id("U_ANA", "Last minute"),
                 action="record", scope="occurrence", actor="U_ANA")
    await world.converge()
    [bot] = world.recorder.active_bots()
    world.recorder.advance(minutes=7)  # the recorder now sees the bot inside its 4-minute lock
    world.google.move_event(ANA, event["id"], start + timedelta(hours=2))
    await world.converge()
    assert world.recorder.bot(bot.bot_id).join_at == start  # the recorder would not move it
    assert "the bot could no longer be moved" in world.notices_text()
    assert world.ctx.db.execute("SELECT COUNT(*) FROM bots WHERE state = 'scheduled'").fetchone()[0] == 1


async def test_series_always_survives_this_and_following_and_a_full_resync(world):
    start = tomorrow_at(8)
    master = world.google.add_recurring(ANA, "Team sync", start, count=4, interval=timedelta(days=7),
                                        conference="meet")
    await world.converge()
    first = world.ctx.db.execute("SELECT id FROM events WHERE title = 'Team sync' ORDER BY start_at LIMIT 1").fetchone()[0]
    decide_event(world.ctx, member_id=world.member("U_ANA"), event_id=first, action="record", scope="series",
                 actor="U_ANA")
    await world.converge()
    assert len(world.recorder.active_bots()) == 4

    # "This and following": Google ends the series and makes a new one an hour later.
    world.google.split_series(ANA, master["id"], start + timedelta(days=14), shift=timedelta(hours=1))
    await world.converge()
    joins = sorted(b.join_at for b in world.recorder.active_bots())
    assert joins == [start, start + timedelta(days=7), start + timedelta(days=14, hours=1),
                     start + timedelta(days=21, hours=1)]

    # The provider forgets our sync token: a full resync keeps every choice and every bot.
    world.google.invalidate_sync_tokens(ANA)
    await world.converge()
    assert sorted(b.join_at for b in world.recorder.active_bots()) == joins
    assert world.ctx.db.execute("SELECT COUNT(*) FROM decisions WHERE scope = 'series'").fetchone()[0] == 2
