"""Benchmark meeting link detection on one core.

    python tests/bench/bench_links.py

Measures
- events/s for events whose link is in a conference field (Google
  conferenceData / hangoutLink, Graph onlineMeeting), target >= 50,000/s;
- events/s for 10 KB HTML descriptions / bodies with no conference field
  (the link has to be found in the text), target >= 5,000/s;
- the worst time for adversarial 50 KB bodies, target < 5 ms each.

Events come from the labelled corpus (tests/corpus/links), so they have the
shapes real invitations have. Plain script: pytest does not collect it.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.calendars.links import detect_meeting  # noqa: E402

CORPUS_DIR = ROOT / "tests" / "corpus" / "links"
TEN_KB = 10 * 1024


def load_corpus() -> list[dict]:
    cases = []
    for path in sorted(CORPUS_DIR.glob("*.jsonl")):
        cases += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return cases


def has_conference_field(event: dict) -> bool:
    conference = event.get("conferenceData")
    return bool(
        (isinstance(conference, dict) and conference.get("entryPoints"))
        or event.get("hangoutLink")
        or (isinstance(event.get("onlineMeeting"), dict) and event["onlineMeeting"].get("joinUrl"))
        or event.get("onlineMeetingUrl")
    )


def conference_events(cases: list[dict]) -> list[tuple[str, dict]]:
    events = [
        (case["provider"], case["event"]) for case in cases if case["expected"] and has_conference_field(case["event"])
    ]
    assert all(detect_meeting(provider, event) for provider, event in events)
    return events


def html_description_events(cases: list[dict]) -> list[tuple[str, dict]]:
    """Real invitation HTML, padded with agenda markup to ~10 KB, conference fields removed."""
    agenda = (
        '<p style="margin:0;font-family:Calibri,sans-serif;font-size:11pt">Agenda item: review the '
        '<a href="https://contoso.sharepoint.com/sites/team/Shared%20Documents/plan.docx?d=w1234&amp;csf=1&amp;web=1">plan</a>'
        " and the open questions from last week&#39;s notes.</p>\r\n"
    )
    events = []
    for case in cases:
        if not case["expected"]:
            continue
        event = copy.deepcopy(case["event"])
        for field in ("conferenceData", "hangoutLink", "onlineMeeting", "onlineMeetingUrl", "location", "locations"):
            event.pop(field, None)
        if isinstance(event.get("body"), dict) and event["body"].get("contentType") == "html":
            content, set_text = event["body"]["content"], lambda e, t: e["body"].__setitem__("content", t)
        elif isinstance(event.get("description"), str) and "<a " in event["description"]:
            content, set_text = event["description"], lambda e, t: e.__setitem__("description", t)
        else:
            continue
        if len(content) > TEN_KB:
            continue
        padding = agenda * ((TEN_KB - len(content)) // len(agenda) + 1)
        set_text(event, (padding + content)[-TEN_KB:] if len(content) < TEN_KB else content)
        if detect_meeting(case["provider"], event):
            events.append((case["provider"], event))
    return events


def adversarial_bodies() -> dict[str, str]:
    size = 50 * 1024

    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return {
        "no delimiters": "a" * size,
        "scheme repeated": fill("https://"),
        "scheme + host repeated": fill("https://zoom.us/j/1"),
        "many short urls": fill("http://a "),
        "bare host markers": fill("zoom.us/"),
        "long host then marker": fill("a" * 63 + "zoom.us/ "),
        "open brackets": fill("<"),
        "angle-bracketed wraps": fill("<https://zoom.us/j/123456789\n"),
        "entities": fill("&amp;"),
        "url of entities": "https://zoom.us/j/123456789?pwd=" + fill("&amp;amp;")[:4000] + " " + fill("&amp;"),
        "braces": fill("https://teams.microsoft.com/l/meetup-join/x?context={"),
        "percent": fill("%"),
        "safelinks nest": fill("https://x.safelinks.protection.outlook.com/?url=https%3A%2F%2F"),
        "wrapped lines": fill("https://zoom.us/j/12345\n%6789\n"),
        "closing parens": "https://zoom.us/j/123456789" + ")" * (size - 30),
        "html tags": fill('<a href="https://meet.google.com/abc-defg-hij">x</a>'),
        "unicode expanding lower": fill("İhttps://zoom.us/j/123456789 "),
        "many dots host": "https://" + fill("a.") + "/j/1",
    }


def rate(events: list[tuple[str, dict]], seconds: float = 2.0) -> tuple[float, float]:
    """Events per second by wall clock and per second of CPU time, best of a few rounds.

    The CPU-time figure is what one core sustains even when the machine is busy
    with other work; the wall-clock one is what you see on an idle machine.
    """
    wall_rates, cpu_rates = [], []
    for _ in range(5):
        count = 0
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        deadline = wall_started + seconds / 5
        while time.perf_counter() < deadline:
            for provider, event in events:
                detect_meeting(provider, event)
            count += len(events)
        wall_rates.append(count / (time.perf_counter() - wall_started))
        cpu_rates.append(count / max(time.process_time() - cpu_started, 1e-9))
    return max(wall_rates), max(cpu_rates)


def adversarial_times() -> dict[str, float]:
    results = {}
    for name, body in adversarial_bodies().items():
        samples = []
        for field_event in (
            {"description": body},
            {"body": {"contentType": "html", "content": body}},
            {"location": body},
        ):
            for _ in range(5):
                started = time.perf_counter()
                detect_meeting("google", field_event)
                samples.append(time.perf_counter() - started)
        results[name] = statistics.median(samples) * 1000
    return results


def main() -> None:
    cases = load_corpus()
    conference = conference_events(cases)
    html_events = html_description_events(cases)
    sizes = [len(e.get("description") or e["body"]["content"]) for _, e in html_events]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {platform.python_version()} on {platform.machine()}, one core; {os.cpu_count()} CPUs, load average {load:.2f}"
    )
    print(f"conference-field events: {len(conference)} distinct")
    wall, cpu = rate(conference)
    print(f"  {wall:,.0f} events/s wall clock, {cpu:,.0f} events per CPU-second (target >= 50,000)")
    print(f"10 KB HTML descriptions: {len(html_events)} distinct, {min(sizes)}-{max(sizes)} bytes")
    wall, cpu = rate(html_events)
    print(f"  {wall:,.0f} events/s wall clock, {cpu:,.0f} events per CPU-second (target >= 5,000)")
    print("adversarial 50 KB bodies (median ms over description/body/location):")
    times = adversarial_times()
    for name, ms in sorted(times.items(), key=lambda item: -item[1]):
        print(f"  {ms:7.3f} ms  {name}")
    worst = max(times.values())
    print(f"  worst {worst:.3f} ms (target < 5 ms)")


if __name__ == "__main__":
    main()
