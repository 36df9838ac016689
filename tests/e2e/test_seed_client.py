"""End to end: the Meeting BaaS Calendars API example client (tests/e2e/seed_calendars_api.py,
the seed document's code with only `api_key` and `base_url` changed) runs unmodified as a
subprocess against `calbot serve`, whose calendars were synced from the Google fake.

Ana organises "Weekly Team Meeting" with Bob (both connected, so it is on both calendars) and
"Team Meeting: planning"; "Lunch" does not match the query and another Team Meeting is beyond the
week. The client must list the three matching events and get a bot for each — the same bot for
the meeting both calendars show — and the recorder must end up with exactly one bot per meeting.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.server import build_context
from storage.api_keys import create_api_key
from tests.e2e.harness import CalbotProcess
from tests.integration.calendar_rig import close_ctx, connect
from tests.reference import reference_path

SEED_CLIENT = Path(__file__).with_name("seed_calendars_api.py")
TEAM = "T_SEED"
ANA, BOB = "ana@acme.com", "bob@acme.com"


def test_seed_client_file_is_the_documents_code_with_only_key_and_base_url_changed():
    document = reference_path("seed-calendars-api.txt").read_text()
    start = document.index("import json from datetime")
    end = document.index("print(json.dumps(result, indent=2))") + len("print(json.dumps(result, indent=2))")
    ours = SEED_CLIENT.read_text()
    changed = [line for line in ours.splitlines() if "__import__" in line]
    assert changed == ['api_key = __import__("os").environ["CALBOT_API_KEY"]',
                       'base_url = __import__("os").environ["CALBOT_API_BASE_URL"]']
    original = ours.replace(changed[0], 'api_key = "your-meetingbaas-api-key"').replace(
        changed[1], 'base_url = "https://api.meetingbaas.com"')
    assert re.sub(r"\s+", "", original) == re.sub(r"\s+", "", document[start:end])


def soon(hours: float) -> datetime:
    return datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(hours=hours)


@pytest.fixture
def calbot(tmp_path, google_fake, meetingbaas_fake):
    google_fake.add_account(ANA)
    google_fake.add_account(BOB)
    google_fake.add_event(ANA, "Weekly Team Meeting", soon(26), conference="meet", attendees=[BOB])
    google_fake.add_event(ANA, "Team Meeting: planning", soon(50), conference="zoom")
    google_fake.add_event(ANA, "Lunch", soon(27), conference="meet")
    google_fake.add_event(ANA, "Team Meeting (later)", soon(24 * 10), conference="meet")

    proc = CalbotProcess(tmp_path, {
        **google_fake.env(),
        "CALBOT_MEETINGBAAS_API_URL": meetingbaas_fake.url,
        "MEETINGBAAS_API_KEY": meetingbaas_fake.api_key,
        "CALBOT_PUSH": "off",
    })
    key = asyncio.run(_connect_members(proc, google_fake))
    with proc:
        yield proc, key


async def _connect_members(proc: CalbotProcess, google_fake) -> str:
    """Connect Ana and Bob as the OAuth callback would, before the server starts."""
    settings = load_settings(_env_file=None, calbot_database=proc.env["CALBOT_DATABASE"],
                             calbot_secret_key=proc.env["CALBOT_SECRET_KEY"], calbot_push="off",
                             **google_fake.settings_overrides())
    ctx = build_context(settings)
    try:
        await connect(ctx, google_fake, ANA, provider="google", team_id=TEAM, user_id="U_ANA")
        await connect(ctx, google_fake, BOB, provider="google", team_id=TEAM, user_id="U_BOB")
        return create_api_key(ctx.db, team_id=TEAM, member_id=None, name="seed", clock=ctx.clock)[1]
    finally:
        await close_ctx(ctx)


def _wait_for_sync(url: str, key: str, expected: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        events = httpx.get(f"{url}/api/calendars/events", headers={"x-spoke-api-key": key}).json()["events"]
        if len(events) >= expected or time.time() > deadline:
            return events
        time.sleep(0.1)


def run_seed_client(proc: CalbotProcess, key: str) -> tuple[list[dict], dict]:
    """Run the example client; return (the providers it printed, its JSON result)."""
    run = subprocess.run(
        [sys.executable, str(SEED_CLIENT)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "CALBOT_API_KEY": key, "CALBOT_API_BASE_URL": f"{proc.url}/api"},
    )
    assert run.returncode == 0, run.stderr
    first_line, _, rest = run.stdout.partition("\n")
    assert first_line.startswith("Connected calendar providers: ")
    providers = ast.literal_eval(first_line.removeprefix("Connected calendar providers: "))["providers"]
    return providers, json.loads(rest)


def test_seed_client_lists_providers_and_this_weeks_team_meetings(calbot):
    proc, key = calbot
    synced = _wait_for_sync(proc.url, key, expected=5)
    assert sorted(e["title"] for e in synced) == ["Lunch", "Team Meeting (later)", "Team Meeting: planning",
                                                  "Weekly Team Meeting", "Weekly Team Meeting"], proc.logs()
    providers, result = run_seed_client(proc, key)
    assert sorted((p["provider"], p["account"], p["status"]) for p in providers) == [
        ("google", ANA, "active"), ("google", BOB, "active")]
    assert all(p["calendars"][0]["selected"] for p in providers)
    assert result["total_events"] == 3


@pytest.mark.skipif(importlib.util.find_spec("bot.engine.requests") is None,
                    reason="POST /api/bots needs bot/engine/requests.py (decide/schedule engine), not landed yet")
def test_seed_client_schedules_one_bot_per_meeting(calbot, meetingbaas_fake):
    proc, key = calbot
    synced = _wait_for_sync(proc.url, key, expected=5)
    providers, result = run_seed_client(proc, key)
    assert result["total_events"] == 3
    scheduled = result["scheduled_bots"]
    assert sorted(b["event_title"] for b in scheduled) == ["Team Meeting: planning", "Weekly Team Meeting",
                                                           "Weekly Team Meeting"]
    weekly = {b["bot_id"] for b in scheduled if b["event_title"] == "Weekly Team Meeting"}
    planning = {b["bot_id"] for b in scheduled if b["event_title"] == "Team Meeting: planning"}
    assert len(weekly) == 1 and len(planning) == 1 and weekly != planning and None not in weekly | planning

    # Run again: the same meetings and times get the same bots.
    _, again = run_seed_client(proc, key)
    assert {b["bot_id"] for b in again["scheduled_bots"]} == weekly | planning

    # The recorder ends up with exactly one bot per meeting.
    urls = {e["meeting_url"] for e in synced if "Team Meeting" in e["title"] and "later" not in e["title"]}
    meetingbaas_fake.wait_for(lambda: all(len(meetingbaas_fake.active_bots(u)) == 1 for u in urls), timeout=20)
    time.sleep(1)
    assert sorted(len(meetingbaas_fake.active_bots(u)) for u in urls) == [1, 1]
    assert len(meetingbaas_fake.active_bots()) == 2

    # ... and the API says so too.
    events = httpx.get(f"{proc.url}/api/calendars/events", headers={"x-spoke-api-key": key},
                       params={"query": "Team Meeting", "recording": "scheduled"}).json()["events"]
    assert len(events) == 3
