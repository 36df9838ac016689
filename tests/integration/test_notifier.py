"""The notifier against the Slack fake: each outbox key reaches Slack once, edits coalesce into one
chat.update, one message per second per channel, 429 Retry-After honoured, permanent errors stop
retries, and a crash between Slack's answer and our write does not post the message again."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest

from bot.engine.notifier import METADATA_EVENT, Notifier
from bot.timeutil import FixedClock
from storage import outbox
from tests.integration.slack_world import close_ctx, make_slack_ctx

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
async def rig(tmp_path, slack_fake):
    slack_fake.add_user("U_ANA", tz="Europe/Paris", name="Ana")
    slack_fake.add_channel("C_SALES", "sales-calls", bot_member=True)
    slack_fake.add_channel("C_OPS", "ops", bot_member=True)
    ctx = make_slack_ctx(tmp_path, slack_fake, clock=FixedClock(T0))
    ctx.db.execute("INSERT INTO workspaces (team_id, installed_at) VALUES ('T0001', '2026-01-01T00:00:00Z')")
    ctx.db.execute("INSERT INTO members (team_id, user_id, created_at) VALUES ('T0001', 'U_ANA', '2026-01-01T00:00:00Z')")
    yield ctx, Notifier(ctx), slack_fake
    await close_ctx(ctx)


def post(ctx, key, target="C_SALES", text="hello", kind="slack.post"):
    return outbox.post_message(ctx.db, key=key, team_id="T0001", kind=kind, target=target,
                               payload={"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]},
                               clock=ctx.clock)


async def drain(notifier, ctx, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while outbox.pending_count(ctx.db):
        assert time.monotonic() < deadline, "outbox did not drain"
        if not await notifier.step():
            await asyncio.sleep(0.05)


def calls(fake, method):
    return [r for r in fake.requests if r.path == f"/api/{method}"]


async def test_a_key_is_posted_once(rig):
    ctx, notifier, fake = rig
    assert post(ctx, "notice:C_SALES:1", text="Bot scheduled for Acme demo")
    assert not post(ctx, "notice:C_SALES:1", text="Bot scheduled for Acme demo")
    await drain(notifier, ctx)
    await notifier.step()
    assert [m["text"] for m in fake.messages("C_SALES")] == ["Bot scheduled for Acme demo"]
    item = outbox.find_message(ctx.db, "notice:C_SALES:1")
    assert item["status"] == "sent" and item["message_ts"] == fake.messages("C_SALES")[0]["ts"]
    # the key travels with the message, for finding it after a crash
    assert fake.messages("C_SALES")[0]["metadata"] == {"event_type": METADATA_EVENT,
                                                       "event_payload": {"key": "notice:C_SALES:1"}}


async def test_edits_after_posting_coalesce_into_one_update_with_the_latest_content(rig):
    ctx, notifier, fake = rig
    post(ctx, "notice:C_SALES:7", text="Bot scheduled for Acme demo Thu 10:00")
    await drain(notifier, ctx)
    for text in ("moved to 10:30", "moved to 11:00", "Acme demo moved to 11:00 — bot rescheduled"):
        outbox.edit_message(ctx.db, key="notice:C_SALES:7", payload={"text": text}, clock=ctx.clock)
    await drain(notifier, ctx)
    assert len(calls(fake, "chat.postMessage")) == 1
    assert len(calls(fake, "chat.update")) == 1
    (message,) = fake.messages("C_SALES")
    assert message["text"] == "Acme demo moved to 11:00 — bot rescheduled"
    assert len(fake.message_versions("C_SALES", message["ts"])) == 2


async def test_edits_before_posting_post_the_latest_content_only(rig):
    ctx, notifier, fake = rig
    post(ctx, "approval:3", text="first")
    outbox.edit_message(ctx.db, key="approval:3", payload={"text": "second"}, clock=ctx.clock)
    await drain(notifier, ctx)
    assert [m["text"] for m in fake.messages("C_SALES")] == ["second"]
    assert calls(fake, "chat.update") == []


async def test_dms_open_the_conversation_once(rig):
    ctx, notifier, fake = rig
    post(ctx, "digest:1:2026-03-02", target="U_ANA", kind="slack.dm", text="Good morning")
    post(ctx, "approval:9", target="U_ANA", kind="slack.dm", text="Record Acme demo?")
    await drain(notifier, ctx)
    assert [m["text"] for m in fake.dms("U_ANA")] == ["Good morning", "Record Acme demo?"]
    assert len(calls(fake, "conversations.open")) == 1


async def test_one_message_per_second_per_channel(rig):
    ctx, notifier, fake = rig
    for n in range(4):
        post(ctx, f"notice:C_SALES:{n}", text=f"sales {n}")
    for n in range(2):
        post(ctx, f"notice:C_OPS:{n}", target="C_OPS", text=f"ops {n}")
    started = time.time()
    await drain(notifier, ctx)
    sales = fake.post_times("C_SALES")
    assert len(sales) == 4
    gaps = [b - a for a, b in zip(sales, sales[1:])]
    assert min(gaps) >= 0.95, gaps
    # another channel is not held back by the first one
    assert fake.post_times("C_OPS")[0] - started < 0.5
    assert [m["text"] for m in fake.messages("C_SALES")] == [f"sales {n}" for n in range(4)]


async def test_429_retry_after_is_honoured(rig):
    ctx, notifier, fake = rig
    fake.rate_limit_next("chat.postMessage", retry_after=1, times=1)
    post(ctx, "notice:C_SALES:1", text="hi")
    started = time.time()
    await drain(notifier, ctx)
    assert [m["text"] for m in fake.messages("C_SALES")] == ["hi"]
    # slack-sdk's retry handler waited as told before the second attempt
    attempts = calls(fake, "chat.postMessage")
    assert len(attempts) == 2 and attempts[1].at - attempts[0].at >= 0.95
    assert time.time() - started >= 0.95


async def test_persistent_429_backs_off_by_retry_after_then_delivers(rig):
    ctx, notifier, fake = rig
    fake.rate_limit_next("chat.postMessage", retry_after=1, times=4)  # more than the client retries
    post(ctx, "notice:C_SALES:1", text="hi")
    await notifier.step()
    item = outbox.find_message(ctx.db, "notice:C_SALES:1")
    assert item["status"] == "pending" and item["last_error"] == "rate limited by Slack"
    assert item["next_attempt_at"] == "2026-03-02T08:00:01Z"   # now + Retry-After, by our clock
    await notifier.step()
    assert fake.messages("C_SALES") == []                       # not due yet
    ctx.clock.advance(seconds=1)
    await drain(notifier, ctx)
    assert [m["text"] for m in fake.messages("C_SALES")] == ["hi"]


async def test_a_permanent_error_gives_up_without_retrying(rig):
    ctx, notifier, fake = rig
    fake.fail_method("chat.postMessage", "is_archived", times=1)
    post(ctx, "notice:C_SALES:1", text="hi")
    await notifier.step()
    item = outbox.find_message(ctx.db, "notice:C_SALES:1")
    assert (item["status"], item["last_error"]) == ("failed", "is_archived")
    ctx.clock.advance(hours=1)
    assert await notifier.step() is False
    assert len(calls(fake, "chat.postMessage")) == 1


async def test_transient_errors_retry_with_backoff(rig):
    ctx, notifier, fake = rig
    fake.fail_method("chat.postMessage", "internal_error", times=2)
    post(ctx, "notice:C_SALES:1", text="hi")
    deadline = time.monotonic() + 10
    while not fake.messages("C_SALES"):
        assert time.monotonic() < deadline
        await notifier.step()
        ctx.clock.advance(minutes=10)
        await asyncio.sleep(0.05)
    assert outbox.find_message(ctx.db, "notice:C_SALES:1")["status"] == "sent"
    assert [m["text"] for m in fake.messages("C_SALES")] == ["hi"]
    assert len(calls(fake, "chat.postMessage")) == 3


async def test_crash_after_slack_posted_finds_the_message_and_does_not_post_again(rig):
    ctx, notifier, fake = rig
    post(ctx, "digest:1:2026-03-02", target="U_ANA", kind="slack.dm", text="Good morning")
    item = outbox.find_message(ctx.db, "digest:1:2026-03-02")
    # the crash: we marked it 'sending', Slack posted it, and we died before writing the ts
    outbox.mark_sending(ctx.db, item["id"])
    dm = fake.dm_channel("U_ANA")
    posted = fake.post_as_app(dm, text="Good morning")
    with fake.lock:
        fake._messages[dm][-1]["metadata"] = {"event_type": METADATA_EVENT,
                                              "event_payload": {"key": "digest:1:2026-03-02"}}
    fake.reset_requests()
    await drain(notifier, ctx)
    assert [m["text"] for m in fake.dms("U_ANA")] == ["Good morning"]
    assert calls(fake, "chat.postMessage") == []
    history = calls(fake, "conversations.history")
    assert len(history) == 1 and (history[0].param("include_all_metadata") or history[0].form().get("include_all_metadata")) in ("1", "true")
    item = outbox.find_message(ctx.db, "digest:1:2026-03-02")
    assert (item["status"], item["message_ts"]) == ("sent", posted["ts"])


async def test_crash_before_slack_posted_posts_once(rig):
    ctx, notifier, fake = rig
    post(ctx, "digest:1:2026-03-02", target="U_ANA", kind="slack.dm", text="Good morning")
    outbox.mark_sending(ctx.db, outbox.find_message(ctx.db, "digest:1:2026-03-02")["id"])
    await drain(notifier, ctx)
    await notifier.step()
    assert [m["text"] for m in fake.dms("U_ANA")] == ["Good morning"]
    assert len(calls(fake, "chat.postMessage")) == 1


async def test_a_real_crash_mid_post_does_not_post_twice(rig):
    """Cancel the notifier while chat.postMessage is in flight (a kill at that await), then start
    a fresh notifier: exactly one message in Slack."""
    ctx, notifier, fake = rig
    fake.fail_next(r"^/api/chat\.postMessage$", None, delay=0.5)   # Slack is slow to answer
    post(ctx, "notice:C_SALES:42", text="Recording ready")
    task = asyncio.create_task(notifier.step())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)                   # Slack finishes posting anyway
    assert outbox.find_message(ctx.db, "notice:C_SALES:42")["status"] == "sending"
    await drain(Notifier(ctx), ctx)
    assert [m["text"] for m in fake.messages("C_SALES")] == ["Recording ready"]


async def test_uninstalled_workspace_gives_up(rig):
    ctx, notifier, fake = rig
    post(ctx, "notice:C_SALES:1", text="hi")
    ctx.db.execute("UPDATE workspaces SET uninstalled_at = '2026-03-01T00:00:00Z' WHERE team_id = 'T0001'")
    await notifier.step()
    assert outbox.find_message(ctx.db, "notice:C_SALES:1")["status"] == "failed"
    assert fake.messages("C_SALES") == []
