"""Block Kit builders: whatever the meetings (hundreds, huge titles, odd characters, every state),
what they build is valid Block Kit within Slack's limits, and nothing is lost between pages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.views.agenda import meeting_buttons, parse_button_value, state_line
from bot.views.digest import digest_message, team_digest_message
from bot.views.home import home_view
from bot.views.meeting_options import meeting_options_modal, parse_options_submission
from bot.views.settings import parse_settings_submission, settings_modal
from bot.views.upcoming import page_starts, parse_more_value, range_window, upcoming_message
from storage.agenda import AgendaItem
from storage.settings import MemberSettings
from tests.fakes.slack import block_problems, view_problems
from tests.slack_payloads import limit_problems

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
TZS = ["Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham", "UTC"]

titles = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=400)
items = st.builds(
    lambda i, title, minutes, length, url, desired, bot, status, response, all_day, reason: AgendaItem(
        event_id=i, member_id=1, title=title or "(no title)", start_at=NOW + timedelta(minutes=minutes),
        end_at=NOW + timedelta(minutes=minutes + length), all_day=all_day, status=status, my_response=response,
        platform="zoom" if url else None, meeting_url=url, desired=desired, reason=reason, bot_state=bot,
        recording={"video": "https://example.com/v.mp4"} if bot == "completed" else {}),
    st.integers(1, 10**6), titles, st.integers(-120, 60 * 24 * 7), st.integers(0, 600),
    st.sampled_from([None, "https://zoom.us/j/1", "https://meet.google.com/abc-defg-hij"]),
    st.sampled_from([None, "record", "ask", "skip"]),
    st.sampled_from([None, "scheduled", "failed", "completed", "in_call"]),
    st.sampled_from(["confirmed", "cancelled", "tentative"]),
    st.sampled_from([None, "accepted", "declined"]), st.booleans(), titles,
)
agendas = st.lists(items, max_size=120, unique_by=lambda i: i.event_id).map(
    lambda xs: sorted(xs, key=lambda i: (i.start_at, i.event_id)))


def valid_message(message: dict) -> None:
    assert message["text"] and len(message["text"]) <= 3000
    assert block_problems(message["blocks"]) == []
    assert limit_problems(message["blocks"], max_blocks=50) == []


def valid_view(view: dict) -> None:
    assert view_problems(view) == []
    assert limit_problems(view["blocks"], max_blocks=100) == []


@settings(max_examples=60, deadline=None)
@given(agendas, st.sampled_from(TZS), st.sampled_from(["", "today", "tomorrow", "week"]))
def test_every_page_of_upcoming_is_valid_and_lists_each_meeting_once(agenda, tz, range_name):
    starts = page_starts(agenda, tz, now=NOW)
    numbers: list[int] = []
    for page in range(len(starts)):
        message = upcoming_message(agenda, tz=tz, now=NOW, range_name=range_name, page=page)
        valid_message(message)
        numbers += [int(n) for n in re.findall(r"^`(\d+)` ", "\n".join(
            b["text"]["text"] for b in message["blocks"] if b["type"] == "section"), re.M)]
        has_more = any(e.get("action_id") == "upcoming_more" for b in message["blocks"] for e in b.get("elements", []))
        assert has_more == (page + 1 < len(starts))
    assert numbers == list(range(1, len(agenda) + 1))


@settings(max_examples=60, deadline=None)
@given(agendas, st.sampled_from(TZS), st.text(max_size=120))
def test_digest_and_home_are_valid(agenda, tz, name):
    valid_message(digest_message(agenda, tz=tz, now=NOW, day=NOW.date(), name=name, settings=MemberSettings()))
    member = {"id": 1, "user_id": "U1", "team_id": "T1", "tz": tz, "name": name, "settings": "{}"}
    connections = [({"id": n, "account": f"{name[:40]}{n}@x.y", "provider": "google",
                     "status": ["active", "needs_reauth", "error"][n % 3]},
                    [{"id": n, "selected": 1, "failures": n % 2, "name": name[:50], "last_synced_at": None}])
                   for n in range(12)]
    view = home_view(member=member, settings=MemberSettings(notice_channel="C123", bot_name=name[:100] or None),
                     connections=connections, items=agenda, rules=[name * 3] * 9, now=NOW, is_admin=True)
    valid_view(view)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(titles, st.integers(0, 600), st.text(max_size=200)), max_size=300))
def test_team_digest_is_valid(rows):
    valid_message(team_digest_message([{"title": t or "x", "start_at": NOW + timedelta(minutes=m), "platform": "zoom",
                                        "who": who} for t, m, who in rows], tz="Europe/Paris", day=NOW.date()))


def test_buttons_follow_the_state():
    base = dict(event_id=7, member_id=1, title="Demo", start_at=NOW + timedelta(hours=1),
                end_at=NOW + timedelta(hours=2), meeting_url="https://zoom.us/j/1", platform="zoom")
    labels = lambda item: [b["text"]["text"] for b in meeting_buttons(item, "home", now=NOW)]  # noqa: E731
    assert labels(AgendaItem(**base, desired="record")) == ["Skip", "Bot options"]
    assert labels(AgendaItem(**base, desired="skip")) == ["Record", "Bot options"]
    assert labels(AgendaItem(**base, desired="ask")) == ["Record", "Skip", "Bot options"]
    assert labels(AgendaItem(**base)) == ["Record", "Skip", "Bot options"]
    assert labels(AgendaItem(**{**base, "meeting_url": None})) == []
    assert labels(AgendaItem(**base, my_response="declined")) == []
    assert labels(AgendaItem(**{**base, "end_at": NOW - timedelta(minutes=1), "start_at": NOW - timedelta(hours=1)},
                             desired="record")) == []
    assert parse_button_value(meeting_buttons(AgendaItem(**base), "up:week:2", now=NOW)[0]["value"]) == (7, "up:week:2")
    assert parse_button_value("nonsense") is None


def test_state_lines_say_why():
    base = dict(event_id=7, member_id=1, title="Demo", start_at=NOW, end_at=NOW + timedelta(hours=1),
                meeting_url="https://zoom.us/j/1")
    assert state_line(AgendaItem(**base, desired="record", reason="rule 2: title contains 'demo'")) == \
        ":red_circle: *Will be recorded* — rule 2: title contains 'demo'"
    assert state_line(AgendaItem(**base, desired="record", bot_state="failed", bot_error="refused entry")) == \
        ":warning: *Bot failed* — the bot failed: refused entry"
    assert state_line(AgendaItem(**base, status="cancelled", desired="record")) == \
        ":heavy_minus_sign: Can't be recorded — cancelled"
    assert state_line(AgendaItem(**base, desired="skip", reason="approved by <@U1> & co")) == \
        ":white_circle: Not recorded — approved by &lt;@U1&gt; &amp; co"
    done = AgendaItem(**base, desired="record", bot_state="completed", recording={"video": "https://v.example/1"})
    assert state_line(done) == ":white_check_mark: Recorded — <https://v.example/1|video>"


def test_range_windows_are_local_days_even_on_dst_days():
    sunday = datetime(2026, 3, 29, 10, 0, tzinfo=timezone.utc)         # Paris moves to summer time today
    start, end = range_window("today", sunday, "Europe/Paris")
    assert (start, end) == (sunday, datetime(2026, 3, 29, 22, 0, tzinfo=timezone.utc))
    start, end = range_window("tomorrow", datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc), "Europe/Paris")
    assert end.astimezone(timezone.utc) - start.astimezone(timezone.utc) == timedelta(hours=23)
    assert parse_more_value("week:3") == ("week", 3) and parse_more_value("junk") == ("", 0)


def test_settings_modal_round_trip_and_errors():
    view = settings_modal(MemberSettings(notice_channel="C1", bot_name="Notes", default_action="skip"), tz="Europe/Paris",
                          workspace_default="ask")
    valid_view(view)
    state = {"values": {
        "digest_enabled": {"value": {"type": "checkboxes", "selected_options": [{"value": "on"}]}},
        "digest_time": {"value": {"type": "timepicker", "selected_time": "07:05"}},
        "digest_days": {"value": {"type": "checkboxes", "selected_options": [{"value": "6"}, {"value": "0"}]}},
        "notice_channel": {"value": {"type": "conversations_select", "selected_conversation": None}},
        "bot_name": {"value": {"type": "plain_text_input", "value": "  Ana's bot "}},
        "entry_message": {"value": {"type": "plain_text_input", "value": None}},
        "default_action": {"value": {"type": "static_select", "selected_option": {"value": "-"}}},
    }}
    changes, errors = parse_settings_submission({"state": state})
    assert errors == {}
    assert changes == {"digest_enabled": True, "digest_days": [0, 6], "notice_channel": None, "bot_name": "Ana's bot",
                       "entry_message": None, "default_action": None, "digest_time": "07:05"}
    state["values"]["digest_days"]["value"]["selected_options"] = []
    state["values"]["bot_name"]["value"]["value"] = "x" * 101
    _, errors = parse_settings_submission({"state": state})
    assert set(errors) == {"digest_days", "bot_name"}


def test_meeting_options_modal_round_trip():
    item = AgendaItem(event_id=3, member_id=1, title="Demo <&>", start_at=NOW, end_at=NOW + timedelta(hours=1),
                      meeting_url="https://zoom.us/j/1", bot_config={"bot_name": "Scribe"})
    view = meeting_options_modal(item, tz="UTC", now=NOW, defaults=MemberSettings(entry_message="Hello"), metadata="{}")
    valid_view(view)
    assert view["blocks"][1]["element"]["initial_value"] == "Scribe"
    assert view["blocks"][2]["element"]["initial_value"] == "Hello"
    state = {"values": {"bot_name": {"value": {"value": " Scribe 2 "}}, "entry_message": {"value": {"value": ""}}}}
    assert parse_options_submission({"state": state}) == ({"bot_name": "Scribe 2"}, {})


def test_hundreds_of_meetings_with_long_titles():
    agenda = [AgendaItem(event_id=n, member_id=1, title=("Quarterly planning & <review> " * 20)[:400],
                         start_at=NOW + timedelta(minutes=20 * n), end_at=NOW + timedelta(minutes=20 * n + 15),
                         meeting_url="https://zoom.us/j/1", platform="zoom", desired=["record", "ask", "skip"][n % 3],
                         reason="rule 1: " + "x" * 500) for n in range(250)]
    starts = page_starts(agenda, "Europe/Paris", now=NOW)
    assert len(starts) > 5
    for page in range(len(starts)):
        valid_message(upcoming_message(agenda, tz="Europe/Paris", now=NOW, range_name="week", page=page))
    valid_message(digest_message(agenda, tz="Europe/Paris", now=NOW, day=NOW.date(), name="Ana", settings=MemberSettings()))
    valid_view(home_view(member={"id": 1, "tz": "UTC", "name": "Ana"}, settings=MemberSettings(), connections=[],
                         items=agenda, rules=[], now=NOW))


def test_reasons_keep_calbots_mentions_but_escape_everything_else():
    from bot.views.common import escape_keeping_mentions

    assert escape_keeping_mentions("approved by <@U0ANA>") == "approved by <@U0ANA>"
    assert escape_keeping_mentions("title contains '<!channel> & <b>'") == \
        "title contains '&lt;!channel&gt; &amp; &lt;b&gt;'"
    assert escape_keeping_mentions("<@lower>") == "&lt;@lower&gt;"
