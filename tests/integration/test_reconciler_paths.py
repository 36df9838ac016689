"""The reconciler's paths, in-process: a Google calendar (fake) → planner → reconciler → Meeting BaaS (fake).

Each test changes something a member would change (declines, removes or swaps the link, skips,
moves a meeting at the last minute, disconnects a calendar) or something the recorder does
(refuses a call, answers too late, calls back about the bot), then drives the engine's real loops
and checks what the recorder received, how many bots it holds, and what calbot told the member.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from bot.engine.requests import decide_event
from bot.timeutil import FixedClock, parse_iso
from tests.integration.calendar_rig import close_ctx, connect, make_ctx
from tests.integration.engine_world import EngineWorld, tomorrow_at

ANA = "ana@acme.com"
BOSS = "boss@acme.com"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"   # base64 of 24 bytes


class World(EngineWorld):
    connection_id: int | None = None

    async def recorded(self, title: str, **event) -> dict:
        """A meeting on Ana's calendar that she chose to record, with its bot scheduled."""
        created = self.google.add_event(ANA, title, event.pop("start", None) or tomorrow_at(10),
                                        **{"conference": "meet", **event})
        await self.converge()
        decide_event(self.ctx, member_id=self.member(), event_id=self.event_id(title), action="record",
                     scope="occurrence", actor="U_ANA")
        await self.converge()
        assert len(self.recorder.active_bots()) == 1
        return created

    def member(self):
        return self.ctx.db.execute("SELECT id FROM members WHERE user_id = 'U_ANA'").fetchone()[0]

    def event_id(self, title):
        return self.ctx.db.execute("SELECT id FROM events WHERE title = ?", [title]).fetchone()[0]

    def meeting(self, title):
        return next(self.ctx.db.query("SELECT * FROM meetings WHERE title = ?", [title]))

    def bots(self):
        return list(self.ctx.db.query("SELECT * FROM bots ORDER BY id"))

    def deletes(self):
        """The recorder bot ids calbot sent DELETE for."""
        return [r.path.rsplit("/", 1)[1] for r in self.recorder.calls(r"^/v2/bots/scheduled/", "DELETE")]

    def dms(self):
        return [json.loads(r["payload"])["text"] for r in self.ctx.db.query(
            "SELECT payload FROM outbox WHERE kind = 'slack.dm' AND target = 'U_ANA' AND dedup_key LIKE 'notice:%' "
            "ORDER BY id")]

    def notices_text(self):
        return "\n".join(self.dms())

    def retry_now(self):
        """Make every bot due (the backoff is tested elsewhere; here we want the next attempt)."""
        self.ctx.db.execute("UPDATE bots SET next_attempt_at = NULL")


async def _world(tmp_path, google_fake, meetingbaas_fake, **overrides):
    google_fake.add_account(ANA)
    google_fake.add_account(BOSS)
    ctx = make_ctx(tmp_path, google_fake, meetingbaas_api_key=meetingbaas_fake.api_key,
                   calbot_meetingbaas_api_url=meetingbaas_fake.url, **overrides)
    connection, _ = await connect(ctx, google_fake, ANA, provider="google", user_id="U_ANA")
    world = World(ctx, google_fake, meetingbaas_fake)
    world.connection_id = connection["id"]
    return world


@pytest.fixture
async def world(tmp_path, google_fake, meetingbaas_fake):
    world = await _world(tmp_path, google_fake, meetingbaas_fake)
    yield world
    await close_ctx(world.ctx)


# -- the meeting is no longer wanted → DELETE ----------------------------------------------------

async def test_declining_the_meeting_deletes_its_bot(world):
    invite = await world.recorded("Vendor pitch", organizer=BOSS, response="accepted")
    [bot] = world.recorder.active_bots()

    world.google.respond(ANA, invite["id"], "declined")
    await world.converge()

    assert world.deletes() == [bot.bot_id]
    assert world.recorder.active_bots() == [] and world.recorder.bot(bot.bot_id).status == "cancelled"
    assert [b["state"] for b in world.bots()] == ["deleted"]
    assert ":x: Bot for *Vendor pitch*" in world.notices_text() and "declined" in world.notices_text()


async def test_removing_the_join_link_deletes_the_bot(world):
    event = await world.recorded("Planning")
    [bot] = world.recorder.active_bots()

    world.google.update_event(ANA, event["id"], conference=None)
    await world.converge()

    assert world.deletes() == [bot.bot_id]
    assert world.recorder.active_bots() == []
    assert "Bot for *Planning*" in world.notices_text() and "cancelled" in world.notices_text()


async def test_changing_a_recorded_meeting_to_skip_deletes_the_bot(world):
    await world.recorded("Retro")
    [bot] = world.recorder.active_bots()

    decide_event(world.ctx, member_id=world.member(), event_id=world.event_id("Retro"), action="skip",
                 scope="occurrence", actor="U_ANA")
    await world.converge()

    assert world.deletes() == [bot.bot_id]
    assert world.recorder.active_bots() == []
    assert world.meeting("Retro")["desired"] == "skip"
    assert "Bot for *Retro*" in world.notices_text() and "cancelled" in world.notices_text()


# -- the meeting changed → the bot follows ---------------------------------------------------------

async def test_a_new_join_link_recreates_the_bot_for_the_new_link(world):
    start = tomorrow_at(11)
    event = await world.recorded("Customer call", start=start, conference="https://zoom.us/j/1111111111")
    [old] = world.recorder.active_bots()
    [row] = world.bots()

    world.google.update_event(ANA, event["id"], conference="https://zoom.us/j/2222222222")
    await world.converge()

    [new] = world.recorder.active_bots()
    assert new.bot_id != old.bot_id and world.deletes() == [old.bot_id]
    assert "2222222222" in new.meeting_url and new.join_at == start
    assert world.recorder.bot(old.bot_id).status == "cancelled"
    # The same calbot bot (its public id does not change), now pointing at the new recorder bot.
    [after] = world.bots()
    assert (after["id"], after["idempotency_key"]) == (row["id"], row["idempotency_key"])
    assert after["state"] == "scheduled" and after["recorder_bot_id"] == new.bot_id
    assert "*Customer call* has a new meeting link — bot re-created" in world.notices_text()
    assert "cancelled" not in world.notices_text()


async def test_a_move_into_the_lock_window_deletes_and_recreates_the_bot_while_the_recorder_allows_it(world):
    """Meeting BaaS refuses to PATCH a bot to a join time less than 4 minutes away, but the old bot
    (still 10 minutes out) may be deleted: calbot replaces it with one at the new time."""
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=10)
    event = await world.recorded("Moved up", start=start)
    [old] = world.recorder.active_bots()

    new_start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=3)
    world.google.move_event(ANA, event["id"], new_start)
    await world.converge()

    patches = world.recorder.calls(rf"^/v2/bots/scheduled/{old.bot_id}$", "PATCH")
    assert patches, "the reconciler tries to move the bot first"
    assert world.deletes() == [old.bot_id]
    [new] = world.recorder.active_bots()
    assert new.bot_id != old.bot_id and new.join_at == new_start
    [row] = world.bots()
    assert row["state"] == "scheduled" and row["recorder_bot_id"] == new.bot_id
    assert "*Moved up* moved to" in world.notices_text() and "bot rescheduled" in world.notices_text()
    assert "new meeting link" not in world.notices_text()


# -- permanent errors → the member is told, once ---------------------------------------------------

async def test_a_refused_move_tells_the_member_once_and_is_applied_once_the_recorder_accepts_it(world):
    start = tomorrow_at(12)
    event = await world.recorded("Budget", start=start)
    [bot] = world.recorder.active_bots()
    world.recorder.fail_next(r"^/v2/bots/scheduled/", 400, method="PATCH", times=3)

    world.google.move_event(ANA, event["id"], start + timedelta(hours=1))
    for _ in range(4):
        await world.converge()
        world.retry_now()

    assert len(world.recorder.calls(r"^/v2/bots/scheduled/", "PATCH")) == 4     # 3 refused, then accepted
    assert world.recorder.bot(bot.bot_id).join_at == start + timedelta(hours=1)
    warnings = [line for text in world.dms() for line in text.splitlines() if "Couldn't" in line]
    assert len(warnings) == 1 and "*Budget*" in warnings[0] and "Meeting BaaS" in warnings[0]
    assert "bot rescheduled" in world.notices_text()
    assert world.bots()[0]["last_error"] is None


async def test_a_refused_cancel_tells_the_member_once(world):
    event = await world.recorded("Offsite")
    [bot] = world.recorder.active_bots()
    world.recorder.fail_next(r"^/v2/bots/scheduled/", 401, method="DELETE", times=3)

    world.google.cancel_event(ANA, event["id"])
    await world.converge()
    await world.converge()              # no retry straight away: the next one is minutes later
    assert len(world.deletes()) == 1
    assert parse_iso(world.bots()[0]["next_attempt_at"]) - world.ctx.clock.now() >= timedelta(seconds=50)
    for _ in range(2):
        world.retry_now()
        await world.converge()
    world.retry_now()

    assert len(world.deletes()) == 3
    [row] = world.bots()
    assert "401" in row["last_error"]
    warnings = [line for text in world.dms() for line in text.splitlines() if "Couldn't" in line]
    assert len(warnings) == 1 and "*Offsite*" in warnings[0] and "may still join" in warnings[0]

    await world.converge()              # the key works again: the bot goes after all
    assert world.recorder.bot(bot.bot_id).status == "cancelled"
    assert world.bots()[0]["state"] == "deleted"


async def test_a_refused_create_marks_the_bot_failed_and_tells_the_member_once(world):
    world.google.add_event(ANA, "Bad link", tomorrow_at(13), conference="meet")
    await world.converge()
    world.recorder.fail_next(r"^/v2/bots/scheduled$", 400, method="POST", times=5)
    decide_event(world.ctx, member_id=world.member(), event_id=world.event_id("Bad link"), action="record",
                 scope="occurrence", actor="U_ANA")
    for _ in range(3):
        await world.converge()
        world.retry_now()

    assert len(world.recorder.calls(r"^/v2/bots/scheduled$", "POST")) == 1
    assert [b["state"] for b in world.bots()] == ["failed"]
    assert world.notices_text().count("Bot for *Bad link* failed: Meeting BaaS refused it") == 1


# -- a recorder slower than our timeout ------------------------------------------------------------

@pytest.fixture
async def slow_world(tmp_path, google_fake, meetingbaas_fake):
    """Ana's world on a clock the test moves, with a recorder client that gives up after 0.5 s."""
    from bot.recorder.meetingbaas import MeetingBaasRecorder

    clock = FixedClock(datetime.now(timezone.utc))
    world = await _world(tmp_path, google_fake, meetingbaas_fake, clock=clock)
    world.ctx.recorder = MeetingBaasRecorder(world.ctx.settings, world.ctx.http, timeout=0.5)
    yield world, clock
    await close_ctx(world.ctx)


async def test_a_create_that_times_out_but_went_through_is_adopted_not_duplicated(slow_world):
    world, clock = slow_world
    world.google.add_event(ANA, "Slow", tomorrow_at(14), conference="meet")
    await world.converge()
    world.recorder.fail_next(r"^/v2/bots/scheduled$", None, method="POST", delay=1.5)   # answers after 1.5 s
    decide_event(world.ctx, member_id=world.member(), event_id=world.event_id("Slow"), action="record",
                 scope="occurrence", actor="U_ANA")
    await world.converge()

    [row] = world.bots()
    assert row["state"] == "creating" and "did not answer" in row["last_error"]
    # Meeting BaaS is still working on the request we gave up on: looking for the bot now would
    # find none and make a second one.
    clock.advance(seconds=20)
    await world.converge()
    world.recorder.wait_for(lambda: len(world.recorder.active_bots()) >= 1, timeout=5)

    clock.advance(minutes=15)           # past the backoff
    await world.converge()
    [bot] = world.recorder.active_bots()
    assert len(world.recorder.calls(r"^/v2/bots/scheduled$", "POST")) == 1
    [row] = world.bots()
    assert row["state"] == "scheduled" and row["recorder_bot_id"] == bot.bot_id
    assert world.notices_text().count("Bot scheduled for *Slow*") == 1

    clock.advance(minutes=15)
    await world.converge()
    assert len(world.recorder.active_bots()) == 1 and len(world.recorder.bots) == 1


async def test_a_relink_whose_delete_times_out_still_ends_with_one_bot_at_the_new_link(slow_world):
    world, clock = slow_world
    event = await world.recorded("Relink", start=tomorrow_at(15), conference="https://zoom.us/j/3333333333")
    [old] = world.recorder.active_bots()
    world.recorder.fail_next(r"^/v2/bots/scheduled/", None, method="DELETE", delay=1.5)

    world.google.update_event(ANA, event["id"], conference="https://zoom.us/j/4444444444")
    await world.converge()
    world.recorder.wait_for(lambda: world.recorder.bot(old.bot_id).status == "cancelled", timeout=5)
    clock.advance(minutes=15)
    await world.converge()

    [new] = world.recorder.active_bots()
    assert "4444444444" in new.meeting_url
    [row] = world.bots()
    assert row["state"] == "scheduled" and row["recorder_bot_id"] == new.bot_id
    assert "has a new meeting link" in world.notices_text()
    assert "cancelled" not in world.notices_text()


# -- disconnecting the calendar --------------------------------------------------------------------

async def test_disconnect_deletes_the_scheduled_bot_at_the_recorder(world):
    from bot.slash import parse_slash
    from handlers.slack.commands import CommandRequest
    from handlers.slack.connections import disconnect_command

    await world.recorded("Weekly 1:1")
    [bot] = world.recorder.active_bots()

    member = next(world.ctx.db.query("SELECT * FROM members WHERE user_id = 'U_ANA'"))
    request = CommandRequest(ctx=world.ctx, command=parse_slash(f"disconnect {ANA}"), team_id="T1", user_id="U_ANA",
                             channel_id=None, trigger_id=None, member=member, client=None, body={})
    reply = await disconnect_command(request)
    assert ANA in json.dumps(reply)
    await world.converge()

    assert world.deletes() == [bot.bot_id]
    assert world.recorder.active_bots() == []
    assert [b["state"] for b in world.bots()] == ["deleted"]
    assert "Bot for *Weekly 1:1*" in world.notices_text() and "cancelled" in world.notices_text()


# -- what the recorder says about the bot → what the member reads ---------------------------------

@pytest.fixture
async def wired_world(tmp_path, google_fake, meetingbaas_fake):
    """Ana's world whose /webhooks/meetingbaas route receives the fake's callbacks and SVIX webhooks."""
    from handlers.webhooks.meetingbaas import router

    clock = FixedClock(datetime.now(timezone.utc))
    world = await _world(tmp_path, google_fake, meetingbaas_fake, clock=clock,
                         meetingbaas_webhook_secret=WEBHOOK_SECRET)
    meetingbaas_fake.configure_account_webhook(f"{world.ctx.settings.public_url}/webhooks/meetingbaas",
                                               WEBHOOK_SECRET)
    app = FastAPI()
    app.include_router(router)
    app.state.ctx = world.ctx
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://calbot.test")

    async def deliver(deliveries):
        """Send what the fake held back to calbot's route; the answers, in order."""
        answers = []
        for d in deliveries:
            response = await client.request(d.method, urlsplit(d.url).path, content=d.body, headers=d.headers)
            answers.append(response.status_code)
        return answers

    world.clock = clock
    yield world, deliver
    await client.aclose()
    await close_ctx(world.ctx)


async def test_joining_and_recording_status_reach_the_member(wired_world):
    world, deliver = wired_world
    await world.recorded("Kickoff")
    [bot] = world.recorder.active_bots()

    assert await deliver(world.recorder.send_status(bot.bot_id, "joining_call", deliver=False)) == [200]
    assert await deliver(world.recorder.send_status(bot.bot_id, "in_call_recording", deliver=False)) == [200]

    assert ":door: Bot is joining *Kickoff*" in world.notices_text()
    assert ":red_circle: Bot is in *Kickoff* and recording" in world.notices_text()
    assert world.bots()[0]["state"] == "in_call"


async def test_a_refused_bot_tells_the_member_why_once(wired_world):
    world, deliver = wired_world
    await world.recorded("Board")
    [bot] = world.recorder.active_bots()

    await deliver(world.recorder.send_status(bot.bot_id, "bot_rejected", deliver=False, copies=2))
    await deliver(world.recorder.fail(bot.bot_id, error_code="BOT_NOT_ACCEPTED", deliver=False))

    text = world.notices_text()
    assert text.count("Bot was refused entry by the host of *Board* (the host refused to let the bot in)") == 1
    assert "failed" not in text          # the failure that follows is the same news
    assert world.bots()[0]["state"] == "failed"


async def test_a_removed_bot_tells_the_member_once(wired_world):
    world, deliver = wired_world
    await world.recorded("Interview")
    [bot] = world.recorder.active_bots()

    await deliver(world.recorder.send_status(bot.bot_id, "in_call_recording", deliver=False))
    held = world.recorder.send_status(bot.bot_id, "bot_removed", deliver=False)
    await deliver(held)
    world.clock.advance(hours=2)
    await deliver(held)                 # a redelivery, long after
    await deliver(world.recorder.fail(bot.bot_id, error_code="BOT_REMOVED", deliver=False))

    text = world.notices_text()
    # Not again for the redelivery, nor for the failure it caused (same news, same words).
    assert text.count("someone removed the bot") == 1
    assert "Bot was removed from *Interview* (someone removed the bot from the meeting)" in text
    assert world.bots()[0]["state"] == "failed"


async def test_a_failed_bot_tells_the_member_the_reason_in_words(wired_world):
    world, deliver = wired_world
    await world.recorded("All hands")
    [bot] = world.recorder.active_bots()

    answers = await deliver(world.recorder.fail(bot.bot_id, error_code="TIMEOUT_WAITING_TO_START", deliver=False))
    assert answers == [200, 200]        # the per-bot callback and the account webhook: one fact

    text = world.notices_text()
    assert text.count("Bot for *All hands* failed: the bot waited, but nobody let it in or started the meeting "
                      "in time") == 1
    [row] = world.bots()
    assert row["state"] == "failed" and "nobody let it in" in row["last_error"]
