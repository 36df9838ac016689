"""End to end: the settings modal (open, validation errors, save), `/calbot notify #channel` with
its channel checks, and `/calbot digest`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.slack_rig import TEAM, running_rig

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)       # Monday, 09:00 in Paris


@pytest.fixture
def slack(tmp_path, slack_fake):
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez")
    slack_fake.add_channel("C0SALES", "sales-calls")                               # public, calbot not in it
    slack_fake.add_channel("G0SECRET", "deal-room", is_private=True)               # private, not invited
    slack_fake.add_channel("G0BOARD", "board", is_private=True, bot_member=True)
    slack_fake.add_channel("C0OLD", "old-project", is_archived=True)
    with running_rig(tmp_path, slack_fake, clock=NOW) as rig:
        rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
        yield rig


def open_settings(slack) -> dict:
    response = slack.driver.slash("U_ANA", "settings")
    assert response.status_code == 200
    return slack.wait(lambda: slack.fake.top_view("U_ANA"), what="the settings modal")


def test_settings_modal_shows_current_values_and_saves(slack):
    modal = open_settings(slack)
    assert modal["callback_id"] == "member_settings"
    text = slack.fake.text_of(modal)
    assert "Europe/Paris" in text
    time_picker = slack.fake.find_element(modal, type="timepicker")[1]
    assert time_picker["initial_time"] == "08:30"
    response = slack.driver.submit_view("U_ANA", modal, values={
        "digest_time": {"value": "07:45"}, "digest_days": {"value": ["0", "2", "4"]},
        "notice_channel": {"value": "C0SALES"}, "bot_name": {"value": "Ana's notetaker"},
        "entry_message": {"value": "Hi! I'm recording for Ana."}, "default_action": {"value": "record"},
    })
    assert response.status_code == 200 and slack.fake.open_views("U_ANA") == []
    settings = slack.wait(lambda: (lambda s: s if s.get("bot_name") else None)(slack.settings("U_ANA")))
    assert settings["digest_time"] == "07:45" and settings["digest_days"] == [0, 2, 4]
    assert settings["notice_channel"] == "C0SALES" and settings["default_action"] == "record"
    assert settings["entry_message"] == "Hi! I'm recording for Ana." and settings["digest_enabled"] is True
    # the channel is told, once, why calbot will post there
    intro = slack.wait(lambda: slack.fake.messages("C0SALES"), what="the intro line")
    assert "about <@U_ANA>'s recorded meetings" in intro[0]["text"]
    # reopening shows what was saved
    modal = open_settings(slack)
    assert slack.fake.find_element(modal, type="timepicker")[1]["initial_time"] == "07:45"
    assert slack.fake.find_element(modal, type="conversations_select")[1]["initial_conversation"] == "C0SALES"
    slack.driver.submit_view("U_ANA", modal, values={})
    assert len(slack.fake.messages("C0SALES")) == 1


def test_validation_errors_keep_the_modal_open_with_what_to_fix(slack):
    modal = open_settings(slack)
    response = slack.driver.submit_view("U_ANA", modal, values={
        "digest_days": {"value": []}, "bot_name": {"value": "!!!"}, "notice_channel": {"value": "G0SECRET"}})
    assert response.json()["response_action"] == "errors"
    errors = slack.fake.view_errors(modal["id"])
    assert errors["digest_days"] == "Pick at least one day, or turn the digest off."
    assert errors["bot_name"] == "Use at least one letter or digit."
    assert "invite calbot first" in errors["notice_channel"]
    assert slack.fake.top_view("U_ANA")["id"] == modal["id"]
    assert "bot_name" not in slack.settings("U_ANA")
    # fixing them saves; turning the digest off needs no days
    slack.driver.submit_view("U_ANA", modal, values={
        "digest_enabled": {"value": []}, "bot_name": {"value": "Notes"}, "notice_channel": {"value": "G0BOARD"}})
    assert slack.fake.open_views("U_ANA") == []
    settings = slack.settings("U_ANA")
    assert settings["digest_enabled"] is False and settings["bot_name"] == "Notes"
    assert settings["notice_channel"] == "G0BOARD"


def test_notify_a_public_channel_then_off(slack):
    reply = slack.reply_to("U_ANA", "notify #sales-calls")
    assert reply["text"] == ("Done — notices for your recorded meetings will go to <#C0SALES> (calbot posts there "
                             "without joining). `/calbot notify off` stops them.")
    assert slack.settings("U_ANA")["notice_channel"] == "C0SALES"
    slack.wait(lambda: slack.fake.messages("C0SALES"), what="the intro line")
    slack.reply_to("U_ANA", "notify #sales-calls")           # again: no second intro
    reply = slack.reply_to("U_ANA", "notify off")
    assert reply["text"] == "Done — notices for your meetings no longer go to <#C0SALES>."
    assert "notice_channel" not in slack.settings("U_ANA")
    assert len(slack.fake.messages("C0SALES")) == 1


@pytest.mark.parametrize("arg,expected", [
    ("#deal-room", "calbot can't see #deal-room."),
    ("#old-project", "#old-project is archived."),
    ("#no-such-channel", "calbot can't find #no-such-channel."),
    ("sales", "`sales` isn't a channel."),
])
def test_notify_explains_channels_it_cannot_use(slack, arg, expected):
    reply = slack.reply_to("U_ANA", f"notify {arg}")
    assert reply["text"].startswith(f":warning: {expected}") or reply["text"].startswith(expected), reply["text"]
    assert "/calbot connect" not in reply["text"] or arg == "sales"   # only a malformed input gets the help
    assert "notice_channel" not in slack.settings("U_ANA")


def test_notify_private_channel_needs_an_invite(slack):
    reply = slack.reply_to("U_ANA", "notify #deal-room")
    assert "type `/invite @calbot` there" in reply["text"]
    reply = slack.reply_to("U_ANA", "notify #board")
    assert reply["text"].startswith("Done — notices for your recorded meetings will go to <#G0BOARD>.")


def test_digest_now_arrives_in_the_dm_once(slack):
    slack.world.event("U_ANA", "Acme demo", NOW + timedelta(hours=1), desired="record", reason="rule 1")
    reply = slack.reply_to("U_ANA", "digest")
    assert reply["text"] == "Sent today's digest to your DM with calbot."
    (digest,) = slack.wait(lambda: slack.fake.dms("U_ANA"), what="the digest DM")
    text = slack.fake.text_of(digest)
    assert "Good morning, Ana" in text and "10:00–10:30*  Acme demo" in text
    assert slack.fake.find_button(digest, text="Skip")
