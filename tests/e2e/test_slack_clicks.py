"""End to end: the meeting buttons calbot puts on what it posts — Skip on an `/calbot upcoming`
list, "Bot options" and its modal, Record/Skip inside a digest DM and on the App Home tab, and the
Home's Rules button.

`calbot serve` runs as a process against the Slack fake and the Meeting BaaS fake, at a fixed
time (Monday 2 March 2026, 09:00 in Paris; the recorder's clock is set to the same moment). Every
click is on a button calbot actually posted, found in what the Slack fake recorded; the tests
check what the member would notice: the message or view redrawn, the choice remembered, and the
bot at the recorder (or its absence).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus

import pytest

from bot.rules import Rule, TitleContains
from bot.timeutil import Clock
from storage.rules import add_rule
from tests.e2e.slack_rig import rig_with_recorder

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)       # Monday, 09:00 in Paris
ANA = "U_ANA"


# How a meeting reads once Ana chose (who chose is checked in
# test_who_chose_shows_as_a_mention_on_the_redrawn_list).
APPROVED_BY = ":red_circle: *Will be recorded* — approved by "
SKIPPED_BY = ":white_circle: Not recorded — skipped by "


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


@pytest.fixture
def slack(tmp_path, slack_fake, meetingbaas_fake):
    """calbot serve with Slack and a recorder; Ana (Paris) has a connected calendar."""
    with rig_with_recorder(tmp_path, slack_fake, meetingbaas_fake, NOW, {ANA: "Ana Lopez"}) as rig:
        yield rig


# -- helpers ------------------------------------------------------------------------------------------

def meeting_url(slack, title: str) -> str:
    return slack.db.execute("SELECT meeting_url FROM events WHERE title = ?", [title]).fetchone()[0]


def bots_for(slack, title: str) -> list:
    return slack.recorder.active_bots(meeting_url(slack, title))


def choices(slack) -> list[tuple]:
    """The stored decisions: (action, source, actor, bot_config)."""
    return [(a, s, who, json.loads(cfg or "{}")) for a, s, who, cfg in slack.db.execute(
        "SELECT action, source, actor, bot_config FROM decisions ORDER BY id").fetchall()]


def meeting_block(source: dict, title: str) -> str:
    """The text of the one section about `title` in a message or view."""
    found = [b["text"]["text"] for b in source.get("blocks") or []
             if b.get("type") == "section" and title in b.get("text", {}).get("text", "")]
    assert len(found) == 1, f"{title!r} in {len(found)} sections: {found}"
    return found[0]


def button_labels(slack, source: dict, event_block: str) -> list[str]:
    return [b["text"]["text"] for b in slack.fake.buttons(source) if b["block_id"] == event_block]


def event_block(slack, title: str) -> str:
    event_id = slack.db.execute("SELECT id FROM events WHERE title = ?", [title]).fetchone()[0]
    return f"meeting:{event_id}"


def redrawn_ephemeral(slack, listing: dict, needle: str, what: str) -> dict:
    """The ephemeral list as the member sees it, once it shows `needle`."""
    def shown():
        current = slack.fake.ephemeral(ANA, listing["message_ts"])
        return current if current and needle in slack.fake.text_of(current) else None
    return slack.wait(shown, 10, what)


def home_publishes(slack) -> list[str]:
    """What calbot sent to `views.publish`, in order (the raw request bodies, decoded)."""
    return [unquote_plus(r.body.decode()) for r in slack.fake.requests if r.path == "/api/views.publish"]


def recorded_as_ana_asked(slack, title: str, start: datetime):
    """A meeting Ana asked for earlier (`/calbot record`): its bot is at the recorder."""
    slack.world.event(ANA, title, start, desired="ask")
    assert "will be recorded" in slack.reply_to(ANA, f"record {title}")["text"]
    [bot] = slack.wait(lambda: bots_for(slack, title), 20, f"the bot for {title} at the recorder")
    return bot


def digest_dm(slack) -> dict:
    """The one digest in Ana's DM with calbot."""
    def find():
        found = [m for m in slack.fake.dms(ANA) if "today, Monday 2 March" in slack.fake.text_of(m)]
        assert len(found) <= 1, "a second digest"
        return found[0] if found else None
    return slack.wait(find, 10, "the digest DM")


def open_home(slack) -> dict:
    before = len(home_publishes(slack))
    assert slack.driver.home_opened(ANA).status_code == 200
    slack.wait(lambda: len(home_publishes(slack)) > before, what="the Home published")
    return slack.fake.home_view(ANA)


# -- 1. Skip on an upcoming list --------------------------------------------------------------------------

def test_skip_on_the_upcoming_list_calls_off_the_bot_and_redraws_the_list(slack):
    bot = recorded_as_ana_asked(slack, "Acme demo", at(1))
    slack.world.event(ANA, "Design sync", at(2), desired="ask")

    listing = slack.reply_to(ANA, "upcoming today")
    assert APPROVED_BY in meeting_block(listing, "Acme demo")
    assert button_labels(slack, listing, event_block(slack, "Acme demo")) == ["Skip", "Bot options"]
    shown = len(slack.fake.ephemerals(ANA))
    slack.driver.click(ANA, listing, action_id="meeting_skip", block_id=event_block(slack, "Acme demo"))

    # the list the member clicked in is redrawn in place with the meeting no longer recorded
    redrawn = redrawn_ephemeral(slack, listing, SKIPPED_BY, "the list redrawn with the skip")
    assert SKIPPED_BY in meeting_block(redrawn, "Acme demo")
    assert "Your meetings today* · 2 meetings, 0 will be recorded, 1 waiting for a decision" in \
        slack.fake.text_of(redrawn)
    # ...now offering Record instead of Skip; the other meeting is untouched
    assert button_labels(slack, redrawn, event_block(slack, "Acme demo")) == ["Record", "Bot options"]
    assert ":grey_question: *Waiting for your answer*" in meeting_block(redrawn, "Design sync")
    assert len(slack.fake.ephemerals(ANA)) == shown               # redrawn, not a second list

    # the choice is Ana's, remembered; the recorder's bot is called off, no other one appears
    assert choices(slack) == [("skip", "slack", ANA, {})]
    slack.wait(lambda: slack.recorder.bot(bot.bot_id).status == "cancelled", 20, "the bot cancelled")
    assert bots_for(slack, "Acme demo") == [] and slack.recorder.active_bots() == []


def test_who_chose_shows_as_a_mention_on_the_redrawn_list(slack):
    slack.world.event(ANA, "Design sync", at(2), desired="ask")
    listing = slack.reply_to(ANA, "upcoming today")
    slack.driver.click(ANA, listing, action_id="meeting_record", block_id=event_block(slack, "Design sync"))
    redrawn = redrawn_ephemeral(slack, listing, APPROVED_BY, "the list redrawn with the recording")
    assert meeting_block(redrawn, "Design sync").endswith(APPROVED_BY + "<@U_ANA>")


# -- 2. Bot options -----------------------------------------------------------------------------------------

def test_bot_options_modal_records_with_the_name_and_message_given(slack):
    slack.world.event(ANA, "Design sync", at(2), desired="ask")
    listing = slack.reply_to(ANA, "upcoming today")
    slack.driver.click(ANA, listing, action_id="meeting_options", block_id=event_block(slack, "Design sync"))

    modal = slack.wait(lambda: slack.fake.top_view(ANA), what="the bot options modal")
    text = slack.fake.text_of(modal)
    assert modal["callback_id"] == "meeting_options"
    assert "*Design sync* — today 11:00" in text and "These apply to this meeting only" in text
    assert [b["label"]["text"] for b in modal["blocks"] if b["type"] == "input"] == ["Bot name", "Entry message"]

    response = slack.driver.submit_view(ANA, modal, values={
        "bot_name": {"value": "Ana's notetaker"},
        "entry_message": {"value": "Hi all, Ana's notetaker is recording for the minutes."},
    })
    assert response.status_code == 200
    assert slack.fake.open_views(ANA) == []                        # the modal closed

    # the list behind the modal now says it will be recorded, by Ana's choice
    redrawn = redrawn_ephemeral(slack, listing, "Will be recorded", "the list redrawn after the modal")
    assert APPROVED_BY in meeting_block(redrawn, "Design sync")
    # the options are stored with the choice...
    assert choices(slack) == [("record", "slack", ANA, {
        "bot_name": "Ana's notetaker", "entry_message": "Hi all, Ana's notetaker is recording for the minutes."})]
    # ...and the bot that joins uses them
    [bot] = slack.wait(lambda: bots_for(slack, "Design sync"), 20, "a bot at the recorder")
    assert bot.join_at == at(2)
    assert bot.body["bot_name"] == "Ana's notetaker"
    assert bot.body["entry_message"] == "Hi all, Ana's notetaker is recording for the minutes."


def test_changing_bot_options_later_updates_the_same_bot(slack):
    slack.world.event(ANA, "Design sync", at(2), desired="ask")
    listing = slack.reply_to(ANA, "upcoming today")
    slack.driver.click(ANA, listing, action_id="meeting_options", block_id=event_block(slack, "Design sync"))
    modal = slack.wait(lambda: slack.fake.top_view(ANA), what="the bot options modal")
    slack.driver.submit_view(ANA, modal, values={"bot_name": {"value": "Notetaker One"}})
    [bot] = slack.wait(lambda: bots_for(slack, "Design sync"), 20, "a bot at the recorder")
    assert bot.body["bot_name"] == "Notetaker One"

    # a fresh list, the options again: the modal remembers what Ana chose
    listing = slack.reply_to(ANA, "upcoming today")
    slack.driver.click(ANA, listing, action_id="meeting_options", block_id=event_block(slack, "Design sync"))
    modal = slack.wait(lambda: slack.fake.top_view(ANA), what="the bot options modal again")
    assert slack.fake.find_element(modal, block_id="bot_name")[1]["initial_value"] == "Notetaker One"
    slack.driver.submit_view(ANA, modal, values={"bot_name": {"value": "Notetaker Two"}})

    slack.wait(lambda: slack.recorder.bot(bot.bot_id).body["bot_name"] == "Notetaker Two", 20,
               "the scheduled bot renamed")
    assert [b.bot_id for b in bots_for(slack, "Design sync")] == [bot.bot_id]    # the same bot, no second
    assert [c[3].get("bot_name") for c in choices(slack)] == ["Notetaker Two"]


def test_bot_options_refuses_a_name_without_letters(slack):
    slack.world.event(ANA, "Design sync", at(2), desired="ask")
    listing = slack.reply_to(ANA, "upcoming today")
    slack.driver.click(ANA, listing, action_id="meeting_options", block_id=event_block(slack, "Design sync"))
    modal = slack.wait(lambda: slack.fake.top_view(ANA), what="the bot options modal")
    response = slack.driver.submit_view(ANA, modal, values={"bot_name": {"value": "!!!"}})
    assert response.json()["response_action"] == "errors"
    assert slack.fake.view_errors(modal["id"]) == {"bot_name": "Use at least one letter or digit."}
    assert slack.fake.top_view(ANA)["id"] == modal["id"]          # still open, to fix
    assert choices(slack) == [] and slack.recorder.active_bots() == []


# -- 3. Record / Skip in the digest DM and on the Home tab --------------------------------------------------

def test_record_in_the_digest_dm_redraws_the_digest(slack):
    slack.world.event(ANA, "Acme demo", at(1), desired="record", reason="rule 1: title contains 'demo'")
    slack.world.event(ANA, "Design sync", at(2), desired="ask")
    assert slack.reply_to(ANA, "digest")["text"] == "Sent today's digest to your DM with calbot."
    digest = digest_dm(slack)
    assert "today, Monday 2 March: 2 meetings, 1 will be recorded, 1 waiting for a decision" in \
        slack.fake.text_of(digest)

    slack.driver.click(ANA, digest, action_id="meeting_record", block_id=event_block(slack, "Design sync"))

    def redrawn():
        current = slack.fake.message(digest["channel"], digest["ts"])
        return current if APPROVED_BY in slack.fake.text_of(current) else None
    current = slack.wait(redrawn, 10, "the digest redrawn in place")
    assert APPROVED_BY in meeting_block(current, "Design sync")
    assert "2 meetings, 2 will be recorded." in slack.fake.text_of(current)
    assert button_labels(slack, current, event_block(slack, "Design sync")) == ["Skip", "Bot options"]
    assert digest_dm(slack)["ts"] == digest["ts"]                 # the same message, edited
    assert choices(slack) == [("record", "slack", ANA, {})]
    [bot] = slack.wait(lambda: bots_for(slack, "Design sync"), 20, "the bot at the recorder")
    assert bot.join_at == at(2)


def test_skip_in_the_digest_dm_redraws_the_digest(slack):
    bot = recorded_as_ana_asked(slack, "Acme demo", at(1))
    slack.reply_to(ANA, "digest")
    digest = digest_dm(slack)
    slack.driver.click(ANA, digest, action_id="meeting_skip", block_id=event_block(slack, "Acme demo"))

    def redrawn():
        current = slack.fake.message(digest["channel"], digest["ts"])
        return current if SKIPPED_BY in slack.fake.text_of(current) else None
    current = slack.wait(redrawn, 10, "the digest redrawn in place")
    assert SKIPPED_BY in meeting_block(current, "Acme demo")
    assert button_labels(slack, current, event_block(slack, "Acme demo")) == ["Record", "Bot options"]
    slack.wait(lambda: slack.recorder.bot(bot.bot_id).status == "cancelled", 20, "the bot cancelled")


def test_record_then_skip_on_the_home_tab(slack):
    slack.world.event(ANA, "Design sync", at(2), desired="ask")
    home = open_home(slack)
    assert ":grey_question: *Waiting for your answer*" in meeting_block(home, "Design sync")

    published = len(home_publishes(slack))
    slack.driver.click_home(ANA, action_id="meeting_record", block_id=event_block(slack, "Design sync"))

    def home_says(needle):
        return lambda: (lambda v: v if needle in slack.fake.text_of(v) else None)(slack.fake.home_view(ANA))
    # at once, as a reply to the click (not at the Home's next throttled republish, 5 s on)
    home = slack.wait(home_says(APPROVED_BY), 3, "the Home redrawn with the recording")
    assert APPROVED_BY in meeting_block(home, "Design sync")
    # redrawn with the choice at once: no flash of the old state first
    redraws = home_publishes(slack)[published:]
    assert "approved by" in redraws[0] and not any("Waiting for your answer" in p for p in redraws)
    assert "*Next 7 days* · 1 meeting, 1 will be recorded" in slack.fake.text_of(home)
    [bot] = slack.wait(lambda: bots_for(slack, "Design sync"), 20, "the bot at the recorder")

    # the Home now offers Skip for it
    assert button_labels(slack, home, event_block(slack, "Design sync")) == ["Skip", "Bot options"]
    slack.driver.click_home(ANA, action_id="meeting_skip", block_id=event_block(slack, "Design sync"))
    home = slack.wait(home_says(SKIPPED_BY), 3, "the Home redrawn with the skip")
    assert SKIPPED_BY in meeting_block(home, "Design sync")
    assert choices(slack) == [("skip", "slack", ANA, {})]           # the last choice stands
    slack.wait(lambda: slack.recorder.bot(bot.bot_id).status == "cancelled", 20, "the bot cancelled")
    assert slack.recorder.active_bots() == []


# -- 4. The Home's Rules button -----------------------------------------------------------------------------

def test_rules_button_on_the_home_opens_the_rules_modal(slack):
    add_rule(slack.db, slack.member_id(ANA), Rule(action="record", conditions=[TitleContains(text="demo")]),
             clock=Clock())
    home = open_home(slack)
    assert "1. title contains 'demo'" in slack.fake.text_of(home)

    slack.driver.click_home(ANA, action_id="home_rules")
    modal = slack.wait(lambda: slack.fake.top_view(ANA), what="the rules modal")
    assert modal["callback_id"] == "rules_list"
    assert [b["text"]["text"] for b in modal["blocks"] if b.get("block_id", "").startswith("rule:")] == \
        ["1. title contains 'demo' → record"]
    assert slack.fake.find_button(modal, action_id="rule_add")    # ready to add another
