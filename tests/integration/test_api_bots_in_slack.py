"""A bot asked for through the REST API shows up in Slack like any other: the member the request is
for (a member key's, a workspace key's `member`, or the calendar's owner) becomes the meeting's
requester, gets the "Bot scheduled" DM, and their member-key webhooks get the `bot.*` events.

The engine's real planner and reconciler run step by step against the Meeting BaaS fake.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.calendars.links import normalize_join_url
from bot.engine.planner import Planner
from bot.engine.reconciler import Reconciler
from bot.engine.webhooks_out import WebhookProducer
from storage import webhooks as webhook_store
from tests.integration.api_seed import ApiEnv, add_calendar, add_event, add_member, api_key

TEAM = "T_SLACKBOTS"
ZOOM = "https://zoom.us/j/5550001111"


@pytest.fixture
def env(tmp_path, meetingbaas_fake):
    api = ApiEnv(tmp_path, meetingbaas_api_key=meetingbaas_fake.api_key,
                 calbot_meetingbaas_api_url=meetingbaas_fake.url)
    yield api
    api.close()


@pytest.fixture
def people(env):
    ana = add_member(env.db, TEAM, "U_ANA", env.clock)
    bob = add_member(env.db, TEAM, "U_BOB", env.clock)
    return {"ana": ana, "bob": bob, "ana_key": api_key(env.db, TEAM, env.clock, member_id=ana),
            "workspace_key": api_key(env.db, TEAM, env.clock)}


async def converge(env) -> None:
    planner, reconciler = Planner(env.ctx), Reconciler(env.ctx)
    for _ in range(10):
        busy = await planner.step()
        busy = await reconciler.step() or busy
        if not busy:
            return


def dms_to(env, user_id: str) -> list[str]:
    return [json.loads(row[0])["text"] for row in env.db.execute(
        "SELECT payload FROM outbox WHERE kind = 'slack.dm' AND target = ? AND dedup_key LIKE 'notice:%'",
        [user_id])]


def meeting_of_bot(env, bot_id: str) -> dict:
    return next(env.db.query("SELECT m.* FROM meetings m JOIN bots b ON b.meeting_id = m.id "
                             "WHERE b.idempotency_key = ?", [bot_id]))


def tomorrow(env):
    return (env.clock.now() + timedelta(days=1)).replace(second=0)


async def test_a_member_keys_bot_is_that_members_and_they_are_told(env, people):
    response = env.post("/api/bots", people["ana_key"],
                        json={"meeting_url": ZOOM, "scheduled_time": tomorrow(env).isoformat()})
    assert response.status_code == 200, response.text
    await converge(env)
    meeting = meeting_of_bot(env, response.json()["bot_id"])
    assert meeting["requested_by"] == people["ana"]
    [notice] = dms_to(env, "U_ANA")
    assert "Zoom meeting" in notice


async def test_a_workspace_keys_bot_for_a_named_member_is_theirs(env, people):
    response = env.post("/api/bots", people["workspace_key"],
                        json={"meeting_url": ZOOM, "scheduled_time": tomorrow(env).isoformat(), "member": "U_BOB"})
    await converge(env)
    assert meeting_of_bot(env, response.json()["bot_id"])["requested_by"] == people["bob"]
    assert len(dms_to(env, "U_BOB")) == 1


async def test_a_workspace_keys_link_only_bot_has_nobody_to_tell(env, people):
    response = env.post("/api/bots", people["workspace_key"],
                        json={"meeting_url": ZOOM, "scheduled_time": tomorrow(env).isoformat()})
    await converge(env)
    assert meeting_of_bot(env, response.json()["bot_id"])["requested_by"] is None
    assert env.db.execute("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE 'notice:%'").fetchone()[0] == 0


async def test_a_workspace_keys_bot_for_a_meeting_on_a_calendar_is_the_calendar_owners(env, people):
    calendar = add_calendar(env.db, people["bob"], env.clock)
    start = tomorrow(env)
    event = add_event(env.db, calendar, env.clock, title="Vendor call", start=start, meeting_url=ZOOM, platform="zoom")
    # as the syncer stores it: the normalized link is what finds the same meeting again
    env.db.execute("UPDATE events SET meeting_key = ? WHERE id = ?", [normalize_join_url(ZOOM), event])
    env.db.execute("INSERT INTO changes (event_id, calendar_id, team_id, kind, created_at) VALUES (?, ?, ?, ?, ?)",
                   [event, calendar, TEAM, "created", env.clock.now_iso()])
    await converge(env)  # Bob's rules say nothing: not recorded yet

    response = env.post("/api/bots", people["workspace_key"],
                        json={"meeting_url": ZOOM, "scheduled_time": start.isoformat()})
    await converge(env)
    meeting = meeting_of_bot(env, response.json()["bot_id"])
    assert meeting["title"] == "Vendor call" and meeting["requested_by"] == people["bob"]
    [notice] = dms_to(env, "U_BOB")
    assert "Vendor call" in notice


async def test_an_event_bot_asked_with_a_member_key_is_theirs(env, people):
    calendar = add_calendar(env.db, people["ana"], env.clock)
    event = add_event(env.db, calendar, env.clock, title="Pitch", start=tomorrow(env))
    assert env.post(f"/api/calendars/events/{event}/bot", people["ana_key"]).status_code == 200
    await converge(env)
    meeting = next(env.db.query("SELECT m.* FROM meetings m JOIN events e ON e.meeting_id = m.id WHERE e.id = ?",
                                [event]))
    assert meeting["desired"] == "record" and meeting["requested_by"] == people["ana"]
    [notice] = dms_to(env, "U_ANA")
    assert "Pitch" in notice


async def test_a_member_keys_webhook_gets_the_bot_events_of_its_api_bots(env, people):
    hook = env.post("/api/webhooks", people["ana_key"], json={"url": "https://example.com/hook",
                                                              "events": ["bot.scheduled"]})
    assert hook.status_code == 201, hook.text
    env.post("/api/bots", people["ana_key"], json={"meeting_url": ZOOM, "scheduled_time": tomorrow(env).isoformat()})
    await converge(env)
    await WebhookProducer(env.ctx).step()
    sent = webhook_store.deliveries(env.db, int(hook.json()["id"]))
    assert [json.loads(d["payload"])["type"] for d in sent] == ["bot.scheduled"]


async def test_the_seed_clients_request_for_a_meeting_under_way_gets_a_bot_joining_now(env, people,
                                                                                       meetingbaas_fake):
    """The seed client posts each listed event's start time; for a meeting already under way that
    time has passed, and the bot should still go in (as soon as the recorder allows)."""
    calendar = add_calendar(env.db, people["ana"], env.clock)
    start = (env.clock.now() - timedelta(minutes=10)).replace(second=0, microsecond=0)
    event = add_event(env.db, calendar, env.clock, title="Standup", start=start, meeting_url=ZOOM, platform="zoom")
    env.db.execute("UPDATE events SET meeting_key = ? WHERE id = ?", [normalize_join_url(ZOOM), event])
    env.db.execute("INSERT INTO changes (event_id, calendar_id, team_id, kind, created_at) VALUES (?, ?, ?, ?, ?)",
                   [event, calendar, TEAM, "created", env.clock.now_iso()])
    await converge(env)

    response = env.post("/api/bots", people["ana_key"], json={"meeting_url": ZOOM, "scheduled_time": start.isoformat()})
    assert response.status_code == 200, response.text
    await converge(env)
    [bot] = meetingbaas_fake.active_bots(ZOOM)
    assert env.clock.now() < bot.join_at <= env.clock.now() + timedelta(minutes=2)

    # a past time for a link calbot knows nothing about is still refused: nothing left to join
    unknown = env.post("/api/bots", people["ana_key"],
                       json={"meeting_url": "https://zoom.us/j/5550002222", "scheduled_time": start.isoformat()})
    assert unknown.status_code == 422 and "already passed" in unknown.json()["error"]["message"]
