"""What `<meeting>` in `/calbot record <meeting>` / `skip <meeting>` refers to. Pure.

A reference is one of:
  * a number from the member's last `/calbot upcoming` list ("3"),
  * `next` — the next meeting that has not started and could be recorded,
  * words from the title ("acme demo"), case- and accent-insensitive, every word must appear.

Words that match several meetings of the *same* title (a daily stand-up) mean the soonest one;
words that match meetings with different titles are ambiguous, and the error names them so the
person can pick a number instead. Every failure is a `MeetingRefError` whose message is ready
to show.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Sequence

MAX_NAMED = 3


@dataclass(frozen=True)
class Candidate:
    event_id: int
    title: str
    start_at: datetime
    recordable: bool = True


@dataclass(frozen=True)
class Resolved:
    candidate: Candidate
    how: str          # "number", "next", "title", "soonest" (several of the same title)


class MeetingRefError(Exception):
    """The reference does not name exactly one meeting; the message says why, specifically."""

    def __init__(self, message: str, matches: Sequence[Candidate] = ()):
        super().__init__(message)
        self.matches = list(matches)


def normalize(text: str) -> str:
    """Casefolded, accents removed, punctuation as spaces, single-spaced."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", plain).split())


def resolve(ref: str, candidates: Sequence[Candidate], listing: Sequence[int], now: datetime,
            *, describe: Callable[[Candidate], str] | None = None) -> Resolved:
    """The one meeting `ref` names among `candidates` (the member's meetings that have not ended,
    in start order). `listing` is the event ids of the last `upcoming` list, numbered from 1."""
    describe = describe or (lambda c: f"{c.title} ({c.start_at:%a %H:%M})")
    text = ref.strip().strip("\"'“”‘’").strip()
    if not text:
        raise MeetingRefError("Say which meeting: a number from `/calbot upcoming`, `next`, or words from its title.")
    by_id = {c.event_id: c for c in candidates}

    number = text.lstrip("#")
    if re.fullmatch(r"[0-9]{1,6}", number):
        n = int(number)
        if not listing:
            raise MeetingRefError("There is no numbered list yet — run `/calbot upcoming` and use a number from it.")
        if not 1 <= n <= len(listing):
            raise MeetingRefError(f"Your last list has meetings 1–{len(listing)}; there is no {n}.")
        found = by_id.get(listing[n - 1])
        if found is None:
            raise MeetingRefError(f"Meeting {n} of your last list has ended or is gone — "
                                  "run `/calbot upcoming` for a fresh list.")
        return Resolved(found, "number")

    words = normalize(text).split()
    if words == ["next"]:
        upcoming = [c for c in candidates if c.start_at >= now and c.recordable]
        if not upcoming:
            raise MeetingRefError("You have no upcoming meeting that could be recorded.")
        return Resolved(min(upcoming, key=lambda c: (c.start_at, c.event_id)), "next")

    if not words:
        raise MeetingRefError(f"`{_clip(text)}` doesn't name a meeting — use a number from `/calbot upcoming`.")
    titles = {c.event_id: normalize(c.title) for c in candidates}
    matches = [c for c in candidates if all(w in titles[c.event_id] for w in words)]
    if not matches:
        raise MeetingRefError(f"No upcoming meeting matches '{_clip(text)}'.")
    wanted = " ".join(words)
    exact = [c for c in matches if titles[c.event_id] == wanted]
    pool = exact or matches
    if len({titles[c.event_id] for c in pool}) == 1:
        soonest = min(pool, key=lambda c: (c.start_at, c.event_id))
        return Resolved(soonest, "title" if len(pool) == 1 else "soonest")
    named = "; ".join(describe(c) for c in matches[:MAX_NAMED])
    more = f" and {len(matches) - MAX_NAMED} more" if len(matches) > MAX_NAMED else ""
    raise MeetingRefError(f"{len(matches)} meetings match '{_clip(text)}': {named}{more} — "
                          "use a number from `/calbot upcoming`.", matches)


def _clip(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
