"""End to end: the approval DM's buttons other than Record — Skip, "Always for this series",
"Never for this series" — a second click on a button already answered, and what the other
attendee's DM says when someone else's answer settles their question.

`calbot serve` runs as a process against the Slack fake and the Meeting BaaS fake at a fixed
time (Monday 2 March 2026, 09:00 in Paris; the recorder's clock set to match). Meetings are put
on the members' calendars as sync would (events plus a change-feed row); the planner asks — the
default for meetings you organise — and the DMs and buttons clicked are the ones calbot posted.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.timeutil import to_iso
from tests.e2e.slack_rig import TEAM, rig_with_recorder
from tests.fakes.slack import find_button

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)       # Monday, 09:00 in Paris
ANA, BO = "U_ANA", "U_BO"
ZOOM = "https://zoom.us/j/5550001"


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


@pytest.fixture
def slack(tmp_path, slack_fake, meetingbaas_fake):
    """calbot serve with Slack and a recorder; Ana and Bo (Paris) have connected calendars."""
    with rig_with_recorder(tmp_path, slack_fake, meetingbaas_fake, NOW, {ANA: "Ana Lopez", BO: "Bo Berg"}) as rig:
        yield rig


# -- helpers ------------------------------------------------------------------------------------------

def on_calendar(slack, user: str, title: str, start: datetime, **fields) -> int:
    """A meeting `user` organises appears on their calendar, as sync would store it."""
    event_id = slack.world.event(user, title, start, organizer_self=True, **fields)
    slack.db.execute("INSERT INTO changes (event_id, calendar_id, team_id, kind, created_at) VALUES (?, ?, ?, ?, ?)",
                     [event_id, slack.world.calendars[user], TEAM, "created", to_iso(NOW)])
    return event_id


def question(slack, user: str, title: str, after: int = 0) -> dict:
    """The approval DM about `title` (skipping the first `after` of them)."""
    def find():
        found = [m for m in slack.fake.dms(user) if (m.get("text") or "").startswith(f"Record {title}?")]
        return found[after] if len(found) > after else None
    return slack.wait(find, 15, f"the approval DM to {user} about {title}")


def now_reads(slack, dm: dict, needle: str) -> dict:
    """The DM as it is in Slack now, once edited to contain `needle`."""
    def edited():
        current = slack.fake.message(dm["channel"], dm["ts"])
        return current if current and needle in current.get("text", "") else None
    return slack.wait(edited, 15, f"the DM edited to say {needle!r}")


def labels(slack, message: dict) -> list[str]:
    return [b["text"]["text"] for b in slack.fake.buttons(message)]


def choices(slack) -> list[tuple]:
    return slack.db.execute("SELECT m.user_id, d.scope, d.action, d.actor FROM decisions d "
                            "JOIN members m ON m.id = d.member_id ORDER BY d.id").fetchall()


def click_again(slack, user: str, stale: dict, action_id: str):
    """A click on the DM as it looked *before* calbot edited it: a double click, or a second
    device that had not refreshed yet. (The driver's `click` only clicks what Slack shows now.)"""
    button = find_button(stale, action_id=action_id)
    action = {"action_id": button["action_id"], "block_id": button["block_id"], "text": button["text"],
              "type": "button", "value": button["value"], "action_ts": f"{time.time():.6f}"}
    container = {"type": "message", "message_ts": stale["ts"], "channel_id": stale["channel"], "is_ephemeral": False}
    return slack.driver._send_action(user, stale, container, action)


def settle(seconds: float = 2.5) -> None:
    """Give calbot time to do what it must not do (a second bot, a second DM)."""
    time.sleep(seconds)


# -- Skip ---------------------------------------------------------------------------------------------------

def test_skip_settles_the_dm_and_no_bot_is_sent(slack):
    on_calendar(slack, ANA, "Design review", at(2))
    dm = question(slack, ANA, "Design review")
    assert dm["text"] == "Record Design review? Mon 02 Mar, 11:00–11:30 · Zoom · 2 attendees"
    assert "Asking because default: you organise it." in slack.fake.text_of(dm)
    assert labels(slack, dm) == ["Record", "Skip"]                 # not recurring: no series buttons

    slack.driver.click(ANA, dm, action_id="approval_skip")

    settled = now_reads(slack, dm, ":white_circle: Not recording — chosen by <@U_ANA>")
    assert labels(slack, settled) == []                            # nothing left to click
    assert "Design review*\nMon 02 Mar, 11:00–11:30 · Zoom · 2 attendees" in slack.fake.text_of(settled)
    assert choices(slack) == [(ANA, "occurrence", "skip", ANA)]
    slack.wait(lambda: slack.db.execute("SELECT desired, reason FROM meetings WHERE title = 'Design review'")
               .fetchone() == ("skip", "skipped by <@U_ANA>"), 10, "the meeting planned as skipped")
    settle()
    assert slack.recorder.bots == {}                               # no bot was ever asked for
    assert len(slack.fake.dms(ANA)) == 1                           # no notice, no second question


# -- series ------------------------------------------------------------------------------------------------

def test_always_for_this_series_records_every_meeting_of_it(slack):
    on_calendar(slack, ANA, "Weekly sync", at(2), series_id="wk1")
    on_calendar(slack, ANA, "Weekly sync", at(2 + 24 * 7), series_id="wk1")
    dm = question(slack, ANA, "Weekly sync")
    later = question(slack, ANA, "Weekly sync", after=1)
    assert labels(slack, dm) == ["Record", "Skip", "Always for this series", "Never for this series"]

    slack.driver.click(ANA, dm, action_id="approval_series_always")

    settled = now_reads(slack, dm, ":repeat: Recording every meeting of this series — chosen by <@U_ANA>")
    assert labels(slack, settled) == []
    # the other meeting's question is answered by the same choice, and says so
    other = now_reads(slack, later, "Answered: series: always (chosen by <@U_ANA>)")
    assert labels(slack, other) == []
    assert choices(slack)[0] == (ANA, "series", "record", ANA)
    # a bot for each meeting of the series, at its start
    bots = slack.wait(lambda: (lambda b: b if len(b) == 2 else None)(slack.recorder.active_bots()), 20,
                      "a bot for each meeting of the series")
    assert [b.join_at for b in bots] == [at(2), at(2 + 24 * 7)]
    # a later meeting of the series, never asked about, is recorded too
    on_calendar(slack, ANA, "Weekly sync", at(2 + 24 * 14), series_id="wk1")
    slack.wait(lambda: len(slack.recorder.active_bots()) == 3, 20, "the new meeting of the series recorded")
    settle()
    # ...without asking: no new question, nothing left to click in Ana's DMs
    assert all(labels(slack, m) == [] for m in slack.fake.dms(ANA))
    assert len([m for m in slack.fake.dms(ANA) if "Weekly sync?" in m["text"] or "Weekly sync:" in m["text"]]) == 2


def test_never_for_this_series_settles_every_question_and_sends_no_bot(slack):
    on_calendar(slack, ANA, "Weekly sync", at(2), series_id="wk1")
    on_calendar(slack, ANA, "Weekly sync", at(2 + 24 * 7), series_id="wk1")
    dm = question(slack, ANA, "Weekly sync")
    later = question(slack, ANA, "Weekly sync", after=1)

    slack.driver.click(ANA, dm, action_id="approval_series_never")

    settled = now_reads(slack, dm, ":no_entry_sign: Not recording this series — chosen by <@U_ANA>")
    assert labels(slack, settled) == []
    other = now_reads(slack, later, "Answered: series: never (chosen by <@U_ANA>)")
    assert labels(slack, other) == []
    assert choices(slack)[0] == (ANA, "series", "skip", ANA)
    on_calendar(slack, ANA, "Weekly sync", at(2 + 24 * 14), series_id="wk1")
    slack.wait(lambda: slack.db.execute(
        "SELECT COUNT(*) FROM meetings WHERE title = 'Weekly sync' AND desired = 'skip' "
        "AND reason = 'series: never (chosen by <@U_ANA>)'").fetchone()[0] == 3, 10, "all three planned as skipped")
    settle()
    assert slack.recorder.bots == {}                               # no bot was ever asked for
    assert len(slack.fake.dms(ANA)) == 2                           # the two questions, edited; nothing else


# -- a second click ------------------------------------------------------------------------------------------

def test_a_second_click_on_record_makes_no_second_bot(slack):
    on_calendar(slack, ANA, "Design review", at(2))
    dm = question(slack, ANA, "Design review")
    slack.driver.click(ANA, dm, action_id="approval_record")
    [bot] = slack.wait(lambda: slack.recorder.active_bots(), 20, "the bot")
    now_reads(slack, dm, ":red_circle: Recording — chosen by <@U_ANA>")
    slack.wait(lambda: any("Bot scheduled" in m["text"] for m in slack.fake.dms(ANA)), 15, "the notice")
    notices = len(slack.fake.dms(ANA))

    response = click_again(slack, ANA, dm, "approval_record")
    assert response.status_code == 200
    settle()
    assert [b.bot_id for b in slack.recorder.active_bots()] == [bot.bot_id]
    assert choices(slack) == [(ANA, "occurrence", "record", ANA)]
    current = slack.fake.message(dm["channel"], dm["ts"])
    assert ":red_circle: Recording — chosen by <@U_ANA>" in current["text"] and labels(slack, current) == []
    assert len(slack.fake.dms(ANA)) == notices                      # no second "bot scheduled" notice
    # the member is told it was already done, rather than nothing happening
    said = [e["text"] for e in slack.fake.ephemerals(ANA)]
    assert said == ["You already answered: :red_circle: Recording — chosen by <@U_ANA>."]


def test_a_second_click_on_always_makes_no_second_bots(slack):
    on_calendar(slack, ANA, "Weekly sync", at(2), series_id="wk1")
    on_calendar(slack, ANA, "Weekly sync", at(2 + 24 * 7), series_id="wk1")
    dm = question(slack, ANA, "Weekly sync")
    slack.driver.click(ANA, dm, action_id="approval_series_always")
    bots = slack.wait(lambda: (lambda b: b if len(b) == 2 else None)(slack.recorder.active_bots()), 20, "two bots")
    now_reads(slack, dm, "Recording every meeting of this series")

    click_again(slack, ANA, dm, "approval_series_always")
    settle()
    assert [b.bot_id for b in slack.recorder.active_bots()] == [b.bot_id for b in bots]
    # one choice, kept under the series' two handles (its id and its iCalUID)
    assert [c for c in choices(slack) if c[1] == "series"] == [(ANA, "series", "record", ANA)] * 2
    assert [e["text"] for e in slack.fake.ephemerals(ANA)] == \
        ["You already answered: :repeat: Recording every meeting of this series — chosen by <@U_ANA>."]


def test_changing_ones_mind_from_a_stale_dm_follows_the_new_answer(slack):
    on_calendar(slack, ANA, "Design review", at(2))
    dm = question(slack, ANA, "Design review")
    slack.driver.click(ANA, dm, action_id="approval_record")
    [bot] = slack.wait(lambda: slack.recorder.active_bots(), 20, "the bot")

    click_again(slack, ANA, dm, "approval_skip")            # Skip, on the copy that still showed it
    now_reads(slack, dm, ":white_circle: Not recording — chosen by <@U_ANA>")
    slack.wait(lambda: slack.recorder.bot(bot.bot_id).status == "cancelled", 20, "the bot called off")
    assert choices(slack) == [(ANA, "occurrence", "skip", ANA)]


# -- someone else's meeting ----------------------------------------------------------------------------------

def test_record_by_one_attendee_settles_the_others_question_naming_who_asked(slack):
    on_calendar(slack, ANA, "Board review", at(3), url=ZOOM)
    on_calendar(slack, BO, "Board review", at(3), url=ZOOM)       # the same meeting on Bo's calendar
    ana_dm = question(slack, ANA, "Board review")
    bo_dm = question(slack, BO, "Board review")

    slack.driver.click(ANA, ana_dm, action_id="approval_record")

    now_reads(slack, ana_dm, ":red_circle: Recording — chosen by <@U_ANA>")
    # Bo's question is settled, and says who asked for the bot
    bo_now = now_reads(slack, bo_dm, ":red_circle: Will be recorded — <@U_ANA> asked for it")
    assert labels(slack, bo_now) == []
    # one bot for the one meeting, and Ana is told it is scheduled
    [bot] = slack.wait(lambda: slack.recorder.active_bots(), 20, "the bot")
    assert bot.meeting_url == ZOOM and bot.join_at == at(3)
    notice = slack.wait(lambda: next((m for m in slack.fake.dms(ANA) if "Bot scheduled" in m["text"]), None), 15,
                        "Ana's notice")
    assert notice["text"] == ":calendar: Bot scheduled for *Board review* Mon 02 Mar 12:00 (approved by <@U_ANA>)"
    settle()
    assert len(slack.recorder.active_bots()) == 1
    assert choices(slack) == [(ANA, "occurrence", "record", ANA)]  # Bo chose nothing


def test_skip_by_one_attendee_leaves_the_others_question_open(slack):
    on_calendar(slack, ANA, "Board review", at(3), url=ZOOM)
    on_calendar(slack, BO, "Board review", at(3), url=ZOOM)
    ana_dm = question(slack, ANA, "Board review")
    bo_dm = question(slack, BO, "Board review")

    slack.driver.click(ANA, ana_dm, action_id="approval_skip")
    now_reads(slack, ana_dm, ":white_circle: Not recording — chosen by <@U_ANA>")
    settle()
    # Bo's question still stands, with its buttons; Bo's Record then wins
    assert labels(slack, slack.fake.message(bo_dm["channel"], bo_dm["ts"])) == ["Record", "Skip"]
    slack.driver.click(BO, bo_dm, action_id="approval_record")
    now_reads(slack, bo_dm, ":red_circle: Recording — chosen by <@U_BO>")
    [bot] = slack.wait(lambda: slack.recorder.active_bots(), 20, "Bo's bot")
    assert bot.meeting_url == ZOOM
