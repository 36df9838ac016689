"""Rules and policy: which meetings get a bot, and the reason a person reads."""

from datetime import datetime, time, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.rules import (AttendeeCount, HasExternalGuests, MeetingFacts, MyResponse, OrganizerDomain, OrganizerIsMe,
                       PlatformIs, Policy, Recurring, Rule, TextMatches, TimeWindow, TitleContains, evaluate,
                       parse_rules)

DEMO = MeetingFacts(title="Acme demo", description="agenda", meeting_url="https://zoom.us/j/1", platform="zoom",
                    organizer_email="ana@acme.com", organizer_self=True, attendee_count=3, has_external=True,
                    my_response="accepted", local_start=datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc))


def test_first_matching_rule_wins_and_says_which():
    rules = parse_rules([
        {"action": "skip", "conditions": [{"type": "title_contains", "text": "standup"}]},
        {"action": "record", "conditions": [{"type": "title_contains", "text": "demo"}]},
        {"action": "ask", "conditions": []},
    ])
    verdict = evaluate(DEMO, rules)
    assert (verdict.action, verdict.reason, verdict.rule_index) == ("record", "rule 2: title contains 'demo'", 2)


def test_defaults_ask_when_i_organise_and_skip_otherwise():
    assert evaluate(DEMO, []).reason == "default: you organise it"
    assert evaluate(DEMO, []).action == "ask"
    other = MeetingFacts(title="x", meeting_url="https://meet.google.com/abc-defg-hij", organizer_self=False)
    assert (evaluate(other, []).action, evaluate(other, []).reason) == ("skip", "default: you don't organise it")
    assert evaluate(other, [], Policy(default_action="record")).action == "record"


@pytest.mark.parametrize("facts,reason", [
    (MeetingFacts(title="Offsite", meeting_url="https://zoom.us/j/1", all_day=True), "all-day events are never recorded"),
    (MeetingFacts(title="x", meeting_url="https://zoom.us/j/1", my_response="declined"), "you declined it"),
    (MeetingFacts(title="x", meeting_url="https://zoom.us/j/1", status="cancelled"), "the meeting is cancelled"),
    (MeetingFacts(title="Lunch", meeting_url=None), "no meeting link to join"),
])
def test_hard_rules_beat_any_rule(facts, reason):
    verdict = evaluate(facts, [Rule(action="record")], Policy(default_action="record"))
    assert (verdict.action, verdict.reason, verdict.hard) == ("skip", reason, True)


def test_policy_external_meetings_need_approval_and_never_titles():
    policy = Policy(external_needs_approval=True, never_record_titles=["1:1"])
    verdict = evaluate(DEMO, [Rule(action="record")], policy)
    assert (verdict.action, verdict.reason) == ("ask", "policy: external meetings need approval")
    one_on_one = MeetingFacts(title="Ana / Ben 1:1", meeting_url="https://zoom.us/j/2")
    assert evaluate(one_on_one, [Rule(action="record")], policy).reason == "policy: never record meetings titled '1:1'"


def test_every_condition_matches_and_describes_itself():
    cases = [
        (TitleContains(text="DEMO"), True, "title contains 'DEMO'"),
        (TitleContains(text="agenda", include_description=True), True, "title or description contains 'agenda'"),
        (TextMatches(pattern=r"^acme\b"), True, "title matches /^acme\\b/"),
        (OrganizerIsMe(), True, "you organise it"),
        (OrganizerDomain(domains=["@ACME.com"]), True, "organiser is from acme.com"),
        (HasExternalGuests(value=False), False, "has no external guests"),
        (AttendeeCount(min=2, max=5), True, "2–5 attendees"),
        (PlatformIs(platforms=["teams"]), False, "on Microsoft Teams"),
        (Recurring(value=True), False, "is recurring"),
        (MyResponse(responses=["accepted", "tentative"]), True, "you answered yes or maybe"),
        (TimeWindow(start=time(9), end=time(12)), True, "weekdays 09:00–12:00"),
        (TimeWindow(weekdays=[5, 6]), False, "Sat, Sun 00:00–midnight"),
    ]
    for condition, matches, description in cases:
        assert condition.matches(DEMO) is matches, condition
        assert condition.describe() == description


@pytest.mark.parametrize("raw", [
    {"action": "record", "conditions": [{"type": "matches", "pattern": "(unclosed"}]},
    {"action": "record", "conditions": [{"type": "attendee_count", "min": 5, "max": 2}]},
    {"action": "record", "conditions": [{"type": "time_window", "start": "12:00", "end": "09:00"}]},
    {"action": "record", "conditions": [{"type": "time_window", "start": "09:00", "end": "12:00+01:00"}]},
    {"action": "maybe"},
    {"action": "record", "conditions": [{"type": "no_such_condition"}]},
    {"action": "record", "surprise": True},
])
def test_invalid_rules_are_rejected_with_a_reason(raw):
    with pytest.raises(ValidationError):
        Rule.model_validate(raw)


def test_bot_config_layers_policy_rule_then_meeting():
    policy = Policy(bot_name="Acme Notetaker", entry_message="Hello")
    rule = Rule.model_validate({"action": "record", "bot": {"bot_name": "Sales recorder"}})
    config = policy.bot_config(rule.bot, None)
    assert config["bot_name"] == "Sales recorder" and config["entry_message"] == "Hello"


facts_strategy = st.builds(
    MeetingFacts, title=st.text(max_size=30), description=st.text(max_size=30),
    organizer_self=st.booleans(), attendee_count=st.integers(0, 50), has_external=st.booleans(),
    platform=st.sampled_from([None, "zoom", "meet", "teams"]),
    meeting_url=st.sampled_from([None, "https://zoom.us/j/1"]), is_recurring=st.booleans(),
    my_response=st.sampled_from([None, "accepted", "declined", "tentative", "needsAction"]),
    all_day=st.booleans(), status=st.sampled_from(["confirmed", "tentative", "cancelled"]))
rule_strategy = st.builds(Rule, action=st.sampled_from(["record", "ask", "skip"]),
                          conditions=st.lists(st.one_of(
                              st.builds(TitleContains, text=st.text(min_size=1, max_size=5)),
                              st.builds(HasExternalGuests, value=st.booleans()),
                              st.builds(OrganizerIsMe, value=st.booleans()),
                              st.builds(Recurring, value=st.booleans())), max_size=3))


@settings(max_examples=200, deadline=None)
@given(facts=facts_strategy, rules=st.lists(rule_strategy, max_size=5),
       default=st.sampled_from([None, "record", "ask", "skip"]))
def test_properties_of_evaluation(facts, rules, default):
    verdict = evaluate(facts, rules, Policy(default_action=default))
    unrecordable = facts.all_day or facts.status == "cancelled" or facts.my_response == "declined" or not facts.meeting_url
    if unrecordable:
        assert verdict.action == "skip" and verdict.hard
        return
    assert verdict.reason
    first = next((i for i, r in enumerate(rules, 1) if r.matches(facts)), None)
    assert verdict.rule_index == first
    if first is not None:
        assert verdict.action == rules[first - 1].action
        assert verdict.reason.startswith(f"rule {first}")


def test_title_patterns_run_in_linear_time():
    """A member's pattern is tried on every meeting title on the engine's event loop: the classic
    catastrophic-backtracking pattern must answer at once, and what needs backtracking is refused."""
    import time as clock

    rule = Rule.model_validate({"action": "record", "conditions": [{"type": "matches", "pattern": "(a+)+$"}]})
    from dataclasses import replace

    facts = replace(DEMO, title="a" * 5000 + "!")
    started = clock.thread_time()
    assert rule.matches(facts) is False
    assert clock.thread_time() - started < 0.05
    with pytest.raises(ValidationError, match="linear time"):
        Rule.model_validate({"action": "record", "conditions": [{"type": "matches", "pattern": r"(\w)\1"}]})
    assert Rule.model_validate({"action": "record", "conditions": [
        {"type": "matches", "pattern": r"^(Acme|Globex)\b"}]}).matches(MeetingFacts(title="ACME weekly"))
