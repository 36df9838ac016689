"""Property-based checks of the REST API against its own OpenAPI document (/api/openapi.json):
for generated requests, with a valid key, no 5xx and every response matches the schema.

Bounded (few examples per operation) so CI stays fast; the app runs in-process over ASGI on a
throwaway database seeded with a member, a calendar, events, a meeting, a bot and a rule. (The
schema is loaded eagerly: schemathesis's lazy `from_fixture` loader does not work with pytest 9.)
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.applications import Starlette

from bot.api.app import ApiMount
from bot.rules import Rule
from storage.rules import add_rule
from tests.integration.api_seed import (
    ApiEnv, add_bot, add_calendar, add_event, add_meeting, add_member, api_key,
)

TEAM = "T_FUZZ"


def _seeded_env() -> ApiEnv:
    directory = Path(tempfile.mkdtemp(prefix="calbot-schemathesis-"))
    env = ApiEnv(directory)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    atexit.register(env.close)
    clock, db = env.clock, env.db
    member = add_member(db, TEAM, "U_FUZZ", clock)
    calendar = add_calendar(db, member, clock)
    start = clock.now() + timedelta(days=1)
    meeting = add_meeting(db, TEAM, clock, title="Team Meeting", start=start)
    add_event(db, calendar, clock, title="Team Meeting", start=start, meeting_id=meeting, series_id="s1",
              attendees=[{"email": "bob@client.com", "name": "Bob"}])
    add_event(db, calendar, clock, title="Zoom sync", start=start + timedelta(hours=3),
              meeting_url="https://zoom.us/j/123456789", platform="zoom")
    add_bot(db, TEAM, meeting, clock, join_at=start)
    add_rule(db, member, Rule(action="record", conditions=[{"type": "title_contains", "text": "demo"}]), clock=clock)
    env.key = api_key(db, TEAM, clock, member_id=member, name="fuzz")
    return env


def _api_only(app) -> Starlette:
    """The /api mount of calbot's app without the app's lifespan (which would start the engine and
    close the database after every request the ASGI transport makes)."""
    [api] = [route for route in app.routes if isinstance(route, ApiMount)]
    return Starlette(routes=[ApiMount("/api", api.app)])


ENV = _seeded_env()
schema = schemathesis.openapi.from_asgi("/api/openapi.json", _api_only(ENV.app))


# Skipped on purpose: `positive_data_acceptance` expects every schema-valid request to succeed, but
# an opaque cursor, a date string or a meeting link is a plain string to JSON Schema and still
# rightly rejected with a 4xx when it is not one. Everything else (no 5xx, status codes, content
# types, response bodies and headers against the schema, 401 without a valid key, negative data
# rejected, 405 with a correct Allow) is checked.
EXCLUDED_CHECKS = [positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(headers={"x-spoke-api-key": ENV.key}, excluded_checks=EXCLUDED_CHECKS)
