"""`<meeting>` references: numbers from the last list, `next`, words from the title."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.meeting_ref import Candidate, MeetingRefError, normalize, resolve

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def c(event_id, title, hours, recordable=True):
    return Candidate(event_id, title, NOW + timedelta(hours=hours), recordable)


MEETINGS = [
    c(1, "Daily standup", 0.5), c(2, "Acme demo", 1), c(3, "Design sync", 2), c(4, "Sales sync", 3),
    c(5, "Daily standup", 24.5), c(6, "Lunch", 4, recordable=False), c(7, "Infra sync", 26),
    c(8, "Café with Zoë", 5),
]


def test_number_from_last_list():
    assert resolve("2", MEETINGS, [3, 2, 1], NOW).candidate.event_id == 2
    assert resolve("#3", MEETINGS, [3, 2, 1], NOW).how == "number"


def test_number_out_of_range_or_no_list_is_specific():
    with pytest.raises(MeetingRefError, match="meetings 1–3; there is no 7"):
        resolve("7", MEETINGS, [3, 2, 1], NOW)
    with pytest.raises(MeetingRefError, match="run `/calbot upcoming`"):
        resolve("1", MEETINGS, [], NOW)
    with pytest.raises(MeetingRefError, match="has ended or is gone"):
        resolve("1", MEETINGS, [999], NOW)


def test_next_is_the_soonest_recordable_meeting_not_started():
    started = [c(10, "Running", -0.25)] + MEETINGS
    assert resolve("next", started, [], NOW).candidate.event_id == 1
    assert resolve(" NEXT ", [c(6, "Lunch", 1, recordable=False), c(2, "Demo", 2)], [], NOW).candidate.event_id == 2
    with pytest.raises(MeetingRefError, match="no upcoming meeting"):
        resolve("next", [c(6, "Lunch", 1, recordable=False)], [], NOW)


def test_words_match_case_and_accent_insensitively():
    assert resolve("acme", MEETINGS, [], NOW).candidate.event_id == 2
    assert resolve("cafe zoe", MEETINGS, [], NOW).candidate.event_id == 8
    assert resolve('"Acme Demo"', MEETINGS, [], NOW).how == "title"


def test_several_of_the_same_title_mean_the_soonest():
    resolved = resolve("standup", MEETINGS, [], NOW)
    assert (resolved.candidate.event_id, resolved.how) == (1, "soonest")


def test_ambiguous_words_name_the_meetings_and_point_to_numbers():
    with pytest.raises(MeetingRefError) as info:
        resolve("sync", MEETINGS, [], NOW)
    message = str(info.value)
    assert message.startswith("3 meetings match 'sync': Design sync")
    assert "Sales sync" in message and "Infra sync" in message
    assert message.endswith("use a number from `/calbot upcoming`.")
    assert [m.event_id for m in info.value.matches] == [3, 4, 7]


def test_an_exact_title_beats_a_longer_one():
    meetings = [c(1, "Sync", 1), c(2, "Sync with design", 2)]
    assert resolve("sync", meetings, [], NOW).candidate.event_id == 1


def test_unknown_words():
    with pytest.raises(MeetingRefError, match="No upcoming meeting matches 'board meeting'"):
        resolve("board meeting", MEETINGS, [], NOW)
    with pytest.raises(MeetingRefError, match="Say which meeting"):
        resolve("  ", MEETINGS, [], NOW)
    with pytest.raises(MeetingRefError, match="doesn't name a meeting"):
        resolve("!!!", MEETINGS, [], NOW)


# -- properties ---------------------------------------------------------------------------------

titles = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), max_size=30)
candidates = st.lists(
    st.builds(lambda i, t, h, r: Candidate(i, t, NOW + timedelta(minutes=h), r),
              st.integers(1, 10_000), titles, st.integers(-60, 60 * 24 * 7), st.booleans()),
    max_size=25, unique_by=lambda x: x.event_id,
).map(lambda cs: sorted(cs, key=lambda x: (x.start_at, x.event_id)))


@settings(max_examples=300, deadline=None)
@given(candidates, st.text(max_size=40), st.lists(st.integers(1, 10_000), max_size=30))
def test_never_raises_anything_but_a_ref_error_and_always_picks_a_candidate(cands, ref, listing):
    try:
        resolved = resolve(ref, cands, listing, NOW)
    except MeetingRefError as exc:
        assert str(exc)
        assert len(str(exc)) < 600
        assert all(m in cands for m in exc.matches)
        return
    assert resolved.candidate in cands


@settings(max_examples=200, deadline=None)
@given(candidates, st.data())
def test_a_number_names_exactly_that_entry_of_the_list(cands, data):
    assume(cands)
    listing = data.draw(st.permutations([x.event_id for x in cands]))
    n = data.draw(st.integers(1, len(listing)))
    assert resolve(str(n), cands, listing, NOW).candidate.event_id == listing[n - 1]


@settings(max_examples=200, deadline=None)
@given(candidates, st.data())
def test_a_full_title_resolves_to_a_meeting_with_that_title(cands, data):
    assume(cands)
    target = data.draw(st.sampled_from(cands))
    assume(normalize(target.title) and not normalize(target.title).isdigit()
           and normalize(target.title) != "next")
    resolved = resolve(target.title, cands, [], NOW)  # the exact title always wins over longer ones
    assert normalize(resolved.candidate.title) == normalize(target.title)
    same = [x for x in cands if normalize(x.title) == normalize(target.title)]
    assert resolved.candidate == min(same, key=lambda x: (x.start_at, x.event_id))


@settings(max_examples=200, deadline=None)
@given(candidates)
def test_next_is_never_started_nor_unrecordable_and_is_the_soonest(cands):
    try:
        resolved = resolve("next", cands, [], NOW)
    except MeetingRefError:
        assert not [x for x in cands if x.start_at >= NOW and x.recordable]
        return
    chosen = resolved.candidate
    assert chosen.start_at >= NOW and chosen.recordable
    assert all(x.start_at >= chosen.start_at for x in cands if x.start_at >= NOW and x.recordable)
