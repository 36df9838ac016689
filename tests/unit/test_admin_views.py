"""The admins' modals as pure functions: the team digest part of the policy modal and API keys."""

from __future__ import annotations

from bot.rules import Policy
from bot.views.admin import api_keys_modal, parse_new_key, parse_team_digest, policy_modal
from storage.settings import TeamDigest
from tests.fakes.slack import view_problems
from tests.fakes.slack_driver import build_state


def submitted(view: dict, values: dict) -> dict:
    """The view as Slack sends it back when submitted with these simple values, by block id."""
    return {**view, "state": {"values": build_state(view, {block: {"value": value} for block, value in values.items()})}}


def test_a_new_team_digest_is_in_the_admins_zone_and_an_unchanged_one_keeps_its_own():
    modal = policy_modal(Policy(), tz="Asia/Tokyo")
    assert not view_problems(modal)
    new = submitted(modal, {"bot_name": "x", "team_digest_channel": "C1", "team_digest_time": "09:30",
                            "team_digest_days": ["0", "2"]})
    channel, schedule, errors = parse_team_digest(new, current=TeamDigest(), current_channel=None, tz="Asia/Tokyo")
    assert (channel, errors) == ("C1", {})
    assert (schedule.digest_time, schedule.digest_days, schedule.digest_tz) == ("09:30", [0, 2], "Asia/Tokyo")

    # another admin, elsewhere, saves the policy without touching the digest: its zone stays
    kept = policy_modal(Policy(), digest_channel="C1", digest=schedule, tz="America/New_York")
    _, again, _ = parse_team_digest(submitted(kept, {"bot_name": "x", "team_digest_channel": "C1"}),
                                    current=schedule, current_channel="C1", tz="America/New_York")
    assert again.digest_tz == "Asia/Tokyo" and again.digest_time == "09:30"


def test_a_team_digest_channel_needs_a_day():
    modal = policy_modal(Policy(), tz="UTC")
    _, _, errors = parse_team_digest(submitted(modal, {"bot_name": "x", "team_digest_channel": "C1",
                                                       "team_digest_days": []}),
                                     current=TeamDigest(), current_channel=None, tz="UTC")
    assert "team_digest_days" in errors


def test_api_keys_modal_shows_a_new_key_once_and_hides_revoked_ones():
    keys = [{"id": 1, "name": "old", "prefix": "cbk_abcdef", "user_id": None, "created_at": "2026-11-01T00:00:00Z",
             "last_used_at": None, "revoked_at": "2026-11-02T00:00:00Z"},
            {"id": 2, "name": "ci <bot>", "prefix": "cbk_123456", "user_id": "U1", "created_at": "2026-11-03T00:00:00Z",
             "last_used_at": "2026-11-04T10:00:00Z", "revoked_at": None}]
    fresh = api_keys_modal(keys, created=("ci <bot>", "cbk_secret"))
    text = str(fresh["blocks"])
    assert "cbk_secret" in text and "ci &lt;bot&gt;" in text and "<@U1>'s calendars" in text
    assert "old" not in text.replace("older", "") and "1 revoked key(s)" in text
    assert "cbk_secret" not in str(api_keys_modal(keys)["blocks"])
    assert not view_problems(fresh)
    assert parse_new_key(submitted(fresh, {"key_name": "  ", "key_scope": "me"}))[2] == {
        "key_name": "Give the key a name with at least one letter or digit."}
    assert parse_new_key(submitted(fresh, {"key_name": "crm", "key_scope": "me"}))[:2] == ("crm", "me")
