"""detect_meeting against the labelled corpus in tests/corpus/links/*.jsonl.

A case is correct when the platform matches and the URL equals the expected
one exactly (the canonical link), or both are None. Every miss is printed so a
failure explains itself; run with -s to see them when passing too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.calendars.links import PLATFORMS, detect_meeting, normalize_join_url

CORPUS_DIR = Path(__file__).resolve().parents[1] / "corpus" / "links"
REQUIRED_ACCURACY = 0.99
MINIMUM_SIZE = 150


def load_corpus() -> list[dict]:
    cases = []
    for path in sorted(CORPUS_DIR.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                case = json.loads(line)
                case["source"] = f"{path.name}:{number}"
                cases.append(case)
    return cases


def outcome(case: dict) -> dict | None:
    meeting = detect_meeting(case["provider"], case["event"])
    return None if meeting is None else {"url": meeting.url, "platform": meeting.platform}


def test_corpus_is_large_and_well_formed():
    cases = load_corpus()
    assert len(cases) >= MINIMUM_SIZE
    providers = {case["provider"] for case in cases}
    assert providers == {"google", "microsoft"}
    for case in cases:
        assert set(case) >= {"name", "provider", "event", "expected"}, case["source"]
        if case["expected"] is not None:
            assert case["expected"]["platform"] in PLATFORMS, case["source"]
            assert case["expected"]["url"].startswith("https://"), case["source"]
    platforms = {case["expected"]["platform"] for case in cases if case["expected"]}
    assert platforms == set(PLATFORMS), f"platforms without examples: {set(PLATFORMS) - platforms}"
    assert sum(case["expected"] is None for case in cases) >= 40, "too few near-misses"


def test_corpus_accuracy():
    cases = load_corpus()
    misses = []
    for case in cases:
        got = outcome(case)
        if got != case["expected"]:
            misses.append((case, got))
    for case, got in misses:
        print(f"MISS {case['source']} {case['name']!r}\n  expected: {case['expected']}\n  got:      {got}")
    accuracy = 1 - len(misses) / len(cases)
    print(f"link corpus: {len(cases) - len(misses)}/{len(cases)} correct ({accuracy:.2%})")
    assert accuracy >= REQUIRED_ACCURACY, f"{len(misses)} misses, accuracy {accuracy:.2%}"


@pytest.mark.parametrize("case", load_corpus(), ids=lambda case: case["source"])
def test_corpus_case_never_raises(case):
    # detect_meeting swallows exceptions as a last resort; make sure the corpus
    # does not rely on that by calling the internals directly.
    from bot.calendars import links

    links._detect(case["event"])


@pytest.mark.parametrize("case", load_corpus(), ids=lambda case: case["source"])
def test_detected_key_is_the_links_normal_form(case):
    # The adapters store Meeting.key as the event's meeting key instead of classifying the
    # link a second time; it must be exactly what normalize_join_url says of the link.
    for provider in ("google", "microsoft"):
        meeting = detect_meeting(provider, case["event"])
        if meeting is not None:
            assert meeting.key == normalize_join_url(meeting.url)
