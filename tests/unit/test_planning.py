"""Planning: one member's plan for an event, and one meeting's desired state from everyone's plans."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.planning import EventPlan, aggregate, plan_event
from bot.rules import MeetingFacts, Policy, Rule
from storage.decisions import occurrence_subject, series_root, series_subjects, uid_root

MEETING = MeetingFacts(title="Acme demo", meeting_url="https://zoom.us/j/1", organizer_self=True)


def choice(action, actor="U_ANA", source="slack", **config):
    return {"action": action, "actor": actor, "source": source, "bot_config": config}


def test_a_choice_beats_rules_and_says_who_chose():
    plan = plan_event(1, MEETING, [Rule(action="skip")], Policy(), occurrence_choice=choice("record"))
    assert (plan.action, plan.reason, plan.source) == ("record", "approved by <@U_ANA>", "decision")


def test_occurrence_choice_beats_series_choice():
    plan = plan_event(1, MEETING, [], Policy(), occurrence_choice=choice("skip"), series_choice=choice("record"))
    assert (plan.action, plan.reason) == ("skip", "skipped by <@U_ANA>")
    plan = plan_event(1, MEETING, [], Policy(), series_choice=choice("record"))
    assert plan.reason == "series: always (chosen by <@U_ANA>)"


def test_no_choice_overrides_a_hard_rule():
    declined = MeetingFacts(title="x", meeting_url="https://zoom.us/j/1", my_response="declined")
    plan = plan_event(1, declined, [], Policy(), occurrence_choice=choice("record"))
    assert (plan.action, plan.source) == ("skip", "hard")


def test_a_choice_carries_its_bot_settings_over_the_policy():
    plan = plan_event(1, MEETING, [], Policy(bot_name="Policy bot"), occurrence_choice=choice("record", bot_name="Mine"))
    assert plan.bot_config["bot_name"] == "Mine"


def test_anyones_record_wins_and_the_person_who_chose_is_named():
    plans = [EventPlan(1, "skip", "default: you don't organise it", "default"),
             EventPlan(2, "record", "rule 1: title contains 'demo'", "rule"),
             EventPlan(3, "record", "approved by <@U3>", "decision"),
             EventPlan(4, "ask", "default: you organise it", "default")]
    desire = aggregate(plans)
    assert (desire.desired, desire.requested_by, desire.reason) == ("record", 3, "approved by <@U3>")


def test_ask_when_nobody_records_and_cancelled_meetings_are_skipped():
    assert aggregate([EventPlan(1, "ask", "x", "default"), EventPlan(2, "skip", "y", "default")]).desired == "ask"
    cancelled = [EventPlan(1, "skip", "the meeting is cancelled", "hard")]
    assert aggregate(cancelled, {"action": "record", "actor": "ci", "source": "api"}).desired == "skip"
    assert aggregate([]).reason == "no longer on any calendar"
    assert aggregate([], {"action": "record", "actor": "key 'ci'", "source": "api"}).reason == \
        "approved by the API (key 'ci')"


def test_an_api_bot_is_for_the_member_it_was_asked_for_else_the_calendars_owner():
    asked = {"action": "record", "actor": "key 'ci'", "source": "api", "member_id": 7}
    assert aggregate([], asked).requested_by == 7
    assert aggregate([EventPlan(2, "skip", "default: you don't organise it", "default")], asked).requested_by == 7
    by_workspace = {**asked, "member_id": None}
    assert aggregate([], by_workspace).requested_by is None  # a link-only bot: nobody to tell
    on_calendars = [EventPlan(5, "skip", "x", "default"), EventPlan(2, "ask", "y", "default")]
    assert aggregate(on_calendars, by_workspace).requested_by == 2


plans_strategy = st.lists(st.builds(
    EventPlan, member_id=st.integers(1, 6), action=st.sampled_from(["record", "ask", "skip"]),
    reason=st.sampled_from(["r", "the meeting is cancelled", "you declined it"]),
    source=st.sampled_from(["hard", "decision", "series", "rule", "default"])), max_size=6)


@settings(max_examples=300, deadline=None)
@given(plans=plans_strategy, data=st.data())
def test_aggregate_is_the_same_whatever_order_the_calendars_come_in(plans, data):
    shuffled = data.draw(st.permutations(plans))
    a, b = aggregate(plans), aggregate(shuffled)
    assert (a.desired, a.requested_by, a.reason) == (b.desired, b.requested_by, b.reason)
    live = [p for p in plans if not (p.source == "hard" and p.reason == "the meeting is cancelled")]
    if any(p.action == "record" for p in live):
        assert a.desired == "record" and a.requested_by in {p.member_id for p in live if p.action == "record"}
    elif any(p.action == "ask" for p in live):
        assert a.desired == "ask"
    else:
        assert a.desired == "skip"


def test_choices_are_keyed_by_what_survives_resyncs_moves_and_series_splits():
    occurrence = {"series_id": "abc123_R20261201T100000", "original_start": "2026-12-08T10:00:00Z",
                  "start_at": "2026-12-08T11:00:00Z", "ical_uid": "abc123_R20261201T100000@google.com",
                  "provider_event_id": "abc123_R20261201T100000_20261208T100000Z"}
    assert occurrence_subject(occurrence) == "occ:abc123@2026-12-08T10:00:00Z"
    assert series_subjects(occurrence) == ["series:abc123", "seriesuid:abc123@google.com"]
    single = {"series_id": None, "ical_uid": "xyz@google.com", "provider_event_id": "xyz", "start_at": "any"}
    assert occurrence_subject(single) == "evt:xyz@google.com"
    assert series_root("master") == "master" and uid_root("m_R20260101@x.com") == "m@x.com"
