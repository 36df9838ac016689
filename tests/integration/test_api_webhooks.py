"""Outbound webhooks: subscriptions over the API, signed deliveries a receiver can verify with
`standardwebhooks`, retries under the same webhook-id, and an endpoint disabled (and its owner
told in Slack) after failing for a day."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from bot.engine.webhooks_out import WebhookDeliverer, WebhookProducer
from storage import webhooks as store
from tests.integration.api_seed import (
    add_bot, add_calendar, add_change, add_event, add_meeting, add_member, api_key, set_bot_state,
)
from tests.integration.webhook_receiver import WebhookReceiver

TEAM = "T_HOOKS"


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


async def run_engine(env, rounds: int = 3) -> None:
    producer, deliverer = WebhookProducer(env.ctx), WebhookDeliverer(env.ctx)
    for _ in range(rounds):
        await producer.step()
        await deliverer.step()


def seed_calendar(env, user="U_ANA", *, is_admin=False):
    member = add_member(env.db, TEAM, user, env.clock, is_admin=is_admin)
    calendar = add_calendar(env.db, member, env.clock, account=f"{user.lower()}@example.com")
    return member, calendar


def subscribe(env, key, url, events=None):
    response = env.post("/api/webhooks", key, json={"url": url, **({"events": events} if events else {})})
    assert response.status_code == 201, response.text
    return response.json()


async def test_sync_changes_arrive_signed_and_verifiable(env, receiver):
    member, calendar = seed_calendar(env)
    key = api_key(env.db, TEAM, env.clock)
    hook = subscribe(env, key, receiver.url, ["calendar.sync_events"])
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in env.get(f"/api/webhooks/{hook['id']}", key).json()

    first = add_event(env.db, calendar, env.clock, title="Acme demo", start=env.clock.now() + timedelta(days=1))
    second = add_event(env.db, calendar, env.clock, title="Standup", start=env.clock.now() + timedelta(days=2))
    add_change(env.db, first, calendar, TEAM, env.clock, "created")
    add_change(env.db, second, calendar, TEAM, env.clock, "created")
    add_change(env.db, first, calendar, TEAM, env.clock, "moved")
    await run_engine(env)

    assert len(receiver.received) == 1
    delivery = receiver.received[0]
    payload = Webhook(hook["secret"]).verify(delivery.body, delivery.headers)
    assert payload["type"] == "calendar.sync_events"
    assert payload["data"]["affected_event_ids"] == [str(first), str(second)]
    assert [c["kind"] for c in payload["data"]["changes"]] == ["created", "created", "moved"]
    assert delivery.headers["webhook-id"].startswith("msg_")
    with pytest.raises(Exception):
        Webhook(store.new_signing_secret()).verify(delivery.body, delivery.headers)

    await run_engine(env)  # nothing new: nothing sent again
    assert len(receiver.received) == 1


async def test_failed_delivery_is_retried_with_backoff_under_the_same_webhook_id(env, receiver):
    member, calendar = seed_calendar(env)
    key = api_key(env.db, TEAM, env.clock)
    hook = subscribe(env, key, receiver.url)
    event = add_event(env.db, calendar, env.clock, title="Acme demo", start=env.clock.now() + timedelta(days=1))
    add_change(env.db, event, calendar, TEAM, env.clock)
    receiver.fail_times = 2

    await run_engine(env)
    assert len(receiver.received) == 1           # failed once; the retry is not due yet
    env.clock.advance(seconds=6)
    await run_engine(env)
    assert len(receiver.received) == 2           # second failure; next wait is longer
    env.clock.advance(seconds=6)
    await run_engine(env)
    assert len(receiver.received) == 2
    env.clock.advance(seconds=31)
    await run_engine(env)
    assert len(receiver.received) == 3

    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(ids) == 1
    payload = Webhook(hook["secret"]).verify(receiver.received[-1].body, receiver.received[-1].headers)
    assert payload["data"]["affected_event_ids"] == [str(event)]
    [row] = store.deliveries(env.db, int(hook["id"]))
    assert row["status"] == "sent" and row["attempts"] == 3
    [shown] = env.get(f"/api/webhooks/{hook['id']}/deliveries", key).json()["deliveries"]
    assert shown["webhook_id"] == receiver.received[0].headers["webhook-id"]
    assert shown["status"] == "sent" and shown["attempts"] == 3 and shown["type"] == "calendar.sync_events"
    assert env.get(f"/api/webhooks/{hook['id']}", key).json()["failing_since"] is None


async def test_endpoint_failing_for_a_day_is_disabled_and_its_creator_told(env, receiver):
    member, calendar = seed_calendar(env, "U_ANA")
    key = api_key(env.db, TEAM, env.clock, member_id=member)
    hook = subscribe(env, key, receiver.url)
    event = add_event(env.db, calendar, env.clock, title="Acme demo", start=env.clock.now() + timedelta(days=3))
    add_change(env.db, event, calendar, TEAM, env.clock)
    receiver.fail_with = 503

    await run_engine(env, rounds=1)
    started = env.clock.now()
    while env.clock.now() - started < timedelta(hours=30):
        env.clock.advance(minutes=20)
        await run_engine(env, rounds=1)
        if env.get(f"/api/webhooks/{hook['id']}", key).json()["status"] == "disabled":
            break
    state = env.get(f"/api/webhooks/{hook['id']}", key).json()
    assert state["status"] == "disabled"
    assert timedelta(days=1) <= env.clock.now() - started <= timedelta(hours=26)
    assert "HTTP 503" in state["last_error"]
    attempts = len(receiver.received)
    assert 5 <= attempts <= 15                    # backed off, not hammering every 20 minutes

    [dm] = list(env.db.query("SELECT * FROM outbox WHERE kind = 'slack.dm'"))
    assert dm["target"] == "U_ANA" and dm["team_id"] == TEAM
    text = json.loads(dm["payload"])["text"]
    assert receiver.url in text and f"PATCH /api/webhooks/{hook['id']}" in text

    # disabled: nothing more is sent, even for new changes
    add_change(env.db, event, calendar, TEAM, env.clock, "moved")
    env.clock.advance(hours=10)
    await run_engine(env)
    assert len(receiver.received) == attempts
    assert {r["status"] for r in store.deliveries(env.db, int(hook["id"]))} == {"cancelled"}

    # fixed and re-enabled: new events flow again
    receiver.fail_with = None
    assert env.patch(f"/api/webhooks/{hook['id']}", key, json={"status": "active"}).json()["status"] == "active"
    add_change(env.db, event, calendar, TEAM, env.clock, "moved")
    await run_engine(env)
    assert len(receiver.received) == attempts + 1


async def test_workspace_endpoint_disabled_tells_the_admins(env, receiver):
    seed_calendar(env, "U_ADMIN", is_admin=True)
    member, calendar = seed_calendar(env, "U_BOB")
    key = api_key(env.db, TEAM, env.clock)
    subscribe(env, key, receiver.url)
    event = add_event(env.db, calendar, env.clock, title="Acme demo", start=env.clock.now() + timedelta(days=3))
    add_change(env.db, event, calendar, TEAM, env.clock)
    receiver.fail_with = 500
    await run_engine(env, rounds=1)
    for _ in range(40):
        env.clock.advance(hours=1)
        await run_engine(env, rounds=1)
    assert [row["target"] for row in env.db.query("SELECT target FROM outbox WHERE kind = 'slack.dm'")] == ["U_ADMIN"]


async def test_member_subscription_only_gets_that_members_events(env, receiver):
    ana, ana_calendar = seed_calendar(env, "U_ANA")
    bob, bob_calendar = seed_calendar(env, "U_BOB")
    hook = subscribe(env, api_key(env.db, TEAM, env.clock, member_id=ana), receiver.url)
    for calendar in (ana_calendar, bob_calendar):
        event = add_event(env.db, calendar, env.clock, title="1:1", start=env.clock.now() + timedelta(days=1))
        add_change(env.db, event, calendar, TEAM, env.clock)
    await run_engine(env)
    [delivery] = receiver.received
    payload = Webhook(hook["secret"]).verify(delivery.body, delivery.headers)
    assert payload["data"]["calendar_id"] == str(ana_calendar)
    assert payload["data"]["member"] == "U_ANA"


async def test_other_workspaces_changes_are_not_sent(env, receiver):
    member, calendar = seed_calendar(env)
    subscribe(env, api_key(env.db, TEAM, env.clock), receiver.url)
    other = add_member(env.db, "T_OTHER", "U_EVE", env.clock)
    other_calendar = add_calendar(env.db, other, env.clock)
    event = add_event(env.db, other_calendar, env.clock, title="Secret", start=env.clock.now() + timedelta(days=1))
    add_change(env.db, event, other_calendar, "T_OTHER", env.clock)
    await run_engine(env)
    assert receiver.received == []


async def test_bot_lifecycle_events_each_sent_once(env, receiver):
    member, calendar = seed_calendar(env)
    key = api_key(env.db, TEAM, env.clock)
    hook = subscribe(env, key, receiver.url, ["bot.scheduled", "bot.status_change", "bot.completed", "bot.failed"])
    start = env.clock.now() + timedelta(hours=2)
    meeting = add_meeting(env.db, TEAM, env.clock, title="Acme demo", start=start)
    event = add_event(env.db, calendar, env.clock, title="Acme demo", start=start, meeting_id=meeting)
    bot = add_bot(env.db, TEAM, meeting, env.clock, state="scheduled", join_at=start)
    await run_engine(env)
    env.clock.advance(seconds=1)
    set_bot_state(env.db, bot["id"], "in_call", env.clock)
    await run_engine(env)
    env.clock.advance(seconds=1)
    set_bot_state(env.db, bot["id"], "completed", env.clock,
                  recording=json.dumps({"video_url": "https://cdn.example/v.mp4"}))
    await run_engine(env)
    await run_engine(env)  # re-reading the same states sends nothing new

    payloads = [Webhook(hook["secret"]).verify(r.body, r.headers) for r in receiver.received]
    assert [p["type"] for p in payloads] == ["bot.scheduled", "bot.status_change", "bot.completed"]
    assert all(p["data"]["bot_id"] == bot["idempotency_key"] for p in payloads)
    assert payloads[0]["data"]["event_ids"] == [str(event)]
    assert payloads[1]["data"]["status"] == "in_call"
    assert payloads[2]["data"]["recording"]["video_url"] == "https://cdn.example/v.mp4"


async def test_failed_bot_sends_bot_failed_with_reason(env, receiver):
    seed_calendar(env)
    hook = subscribe(env, api_key(env.db, TEAM, env.clock), receiver.url, ["bot.failed"])
    bot = add_bot(env.db, TEAM, None, env.clock, state="scheduled")
    await run_engine(env)
    env.clock.advance(seconds=1)
    set_bot_state(env.db, bot["id"], "failed", env.clock, last_error="The host refused entry")
    await run_engine(env)
    [delivery] = receiver.received
    payload = Webhook(hook["secret"]).verify(delivery.body, delivery.headers)
    assert payload["type"] == "bot.failed" and payload["data"]["error"] == "The host refused entry"


async def test_producer_is_idempotent_and_crash_safe(env, receiver):
    member, calendar = seed_calendar(env)
    hook = subscribe(env, api_key(env.db, TEAM, env.clock), receiver.url)
    event = add_event(env.db, calendar, env.clock, title="Acme", start=env.clock.now() + timedelta(days=1))
    add_change(env.db, event, calendar, TEAM, env.clock)
    producer = WebhookProducer(env.ctx)
    await producer.step()
    store.set_cursor(env.db, "webhooks:changes", "0")   # as if the cursor write were lost
    await producer.step()
    assert len(store.deliveries(env.db, int(hook["id"]))) == 1


def test_webhook_crud_and_validation(env):
    seed_calendar(env)
    key = api_key(env.db, TEAM, env.clock)
    for bad in ({"url": "ftp://example.com/x"}, {"url": "not a url"}, {"url": "http://user:pw@example.com/"},
                {"url": "https://example.com/", "events": ["bot.exploded"]}, {"url": "https://example.com/", "events": []},
                {"url": "https://example.com:99999/"}, {}):
        response = env.post("/api/webhooks", key, json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert set(response.json()["error"]) == {"code", "message"}
    hook = subscribe(env, key, "https://example.com/hook", ["bot.completed"])
    assert [h["id"] for h in env.get("/api/webhooks", key).json()["webhooks"]] == [hook["id"]]
    changed = env.patch(f"/api/webhooks/{hook['id']}", key, json={"events": ["bot.failed", "bot.completed"]}).json()
    assert changed["events"] == ["bot.failed", "bot.completed"]
    assert env.delete(f"/api/webhooks/{hook['id']}", key).json() == {"id": hook["id"], "deleted": True}
    assert env.get(f"/api/webhooks/{hook['id']}", key).status_code == 404
    assert env.delete(f"/api/webhooks/{hook['id']}", key).status_code == 404


async def test_a_burst_of_bot_changes_larger_than_a_page_is_all_sent(env, receiver, monkeypatch):
    import bot.engine.webhooks_out as webhooks_out

    monkeypatch.setattr(webhooks_out, "BOTS_BATCH", 3)
    seed_calendar(env)
    subscribe(env, api_key(env.db, TEAM, env.clock), receiver.url, ["bot.completed"])
    bots = [add_bot(env.db, TEAM, None, env.clock, state="completed") for _ in range(10)]
    await run_engine(env, rounds=6)
    ids = {json.loads(r.body)["data"]["bot_id"] for r in receiver.received}
    assert ids == {b["idempotency_key"] for b in bots} and len(receiver.received) == 10


def test_deliveries_page_newest_first_with_a_cursor(env):
    member, calendar = seed_calendar(env)
    key = api_key(env.db, TEAM, env.clock)
    hook = subscribe(env, key, "https://example.com/hook")
    subscription = store.get_subscription(env.db, int(hook["id"]))
    for n in range(5):
        store.enqueue_delivery(env.db, subscription=subscription, message_id=f"msg_{n}",
                               body={"type": "calendar.sync_events", "n": n}, clock=env.clock)
        if n % 2:
            env.clock.advance(seconds=1)   # some share a created_at: ties are broken by id
    pages, cursor = [], None
    while True:
        response = env.get(f"/api/webhooks/{hook['id']}/deliveries", key,
                           params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        pages.append([d["webhook_id"] for d in response.json()["deliveries"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == [["msg_4", "msg_3"], ["msg_2", "msg_1"], ["msg_0"]]
    everything = env.get(f"/api/webhooks/{hook['id']}/deliveries", key).json()
    assert len(everything["deliveries"]) == 5 and everything["next_cursor"] is None
    bad = env.get(f"/api/webhooks/{hook['id']}/deliveries", key, params={"cursor": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
