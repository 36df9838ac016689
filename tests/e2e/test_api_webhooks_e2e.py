"""End to end: `calbot serve` syncs a calendar from the Google fake and a subscriber receives the
signed `calendar.sync_events` webhook — verifiable with `standardwebhooks` and the secret the API
gave it — naming the events the sync created."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
from standardwebhooks import Webhook

from bot.config import load_settings
from bot.server import build_context
from storage.api_keys import create_api_key
from tests.e2e.harness import CalbotProcess
from tests.integration.calendar_rig import close_ctx, connect
from tests.integration.webhook_receiver import WebhookReceiver

TEAM = "T_HOOK_E2E"
ANA = "ana@acme.com"


async def _prepare(proc: CalbotProcess, google_fake) -> str:
    settings = load_settings(_env_file=None, calbot_database=proc.env["CALBOT_DATABASE"],
                             calbot_secret_key=proc.env["CALBOT_SECRET_KEY"], calbot_push="off",
                             **google_fake.settings_overrides())
    ctx = build_context(settings)
    try:
        await connect(ctx, google_fake, ANA, provider="google", team_id=TEAM, user_id="U_ANA")
        return create_api_key(ctx.db, team_id=TEAM, member_id=None, name="hooks", clock=ctx.clock)[1]
    finally:
        await close_ctx(ctx)


def test_a_sync_reaches_a_subscriber_signed(tmp_path, google_fake):
    google_fake.add_account(ANA)
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(days=1)
    google_fake.add_event(ANA, "Acme demo", start, conference="meet")
    google_fake.add_event(ANA, "Standup", start + timedelta(hours=2), conference="zoom")
    proc = CalbotProcess(tmp_path, {**google_fake.env(), "CALBOT_PUSH": "off"})
    key = asyncio.run(_prepare(proc, google_fake))
    # Hold the first sync back until the subscription exists: the calendar is synced at start-up.
    google_fake.fail_next(r"/calendar/v3/calendars/.*/events", status=None, delay=1.5)
    with WebhookReceiver() as receiver, proc:
        created = httpx.post(f"{proc.url}/api/webhooks", headers={"x-spoke-api-key": key},
                             json={"url": receiver.url, "events": ["calendar.sync_events"]})
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        deadline = time.time() + 20
        while not receiver.received and time.time() < deadline:
            time.sleep(0.1)
        assert receiver.received, proc.logs()
        delivery = receiver.received[0]
        payload = Webhook(secret).verify(delivery.body, delivery.headers)
        assert payload["type"] == "calendar.sync_events"
        events = httpx.get(f"{proc.url}/api/calendars/events", headers={"x-spoke-api-key": key}).json()["events"]
        assert sorted(payload["data"]["affected_event_ids"]) == sorted(e["id"] for e in events)
        assert {c["kind"] for c in payload["data"]["changes"]} == {"created"}
        assert json.loads(delivery.body)["data"]["member"] == "U_ANA"
