"""A member's meetings in a time range, with whether each will be recorded and why — in batches.

The Slack side (upcoming, App Home, digests) shows many members' days at once: the daily digest
composes 5,000 members' mornings in one pass. So this module reads everything it needs with a
few set-based queries (events of the members' selected calendars, their planned meetings and
latest bots), never one query per member or per event.

The recording state shown here is read from what the planner decided (`meetings.desired`,
`meetings.reason`) and what the reconciler did (`bots.state`): the storage model, not a second
opinion. Before the planner has looked at an event it says so ("not decided yet").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable

import sqlite_utils

from bot.timeutil import parse_iso, to_iso

_CHUNK = 900
# Events are found by start time (indexed); anything that started this long before the window
# and still runs into it is shown too. Longer (multi-day) events are all-day ones, never recorded.
LOOKBACK = timedelta(hours=24)

ACTIVE_BOT_STATES = ("pending", "creating", "scheduled", "updating", "joining", "in_call")


@dataclass(frozen=True)
class AgendaItem:
    event_id: int
    member_id: int
    title: str
    start_at: datetime
    end_at: datetime
    all_day: bool = False
    status: str = "confirmed"
    my_response: str | None = None
    platform: str | None = None
    meeting_url: str | None = None
    series_id: str | None = None
    organizer_self: bool = False
    has_external: bool = False
    attendee_count: int = 0
    meeting_id: int | None = None
    desired: str | None = None          # the planner's record / ask / skip
    reason: str = ""
    bot_state: str | None = None
    bot_error: str | None = None
    recording: dict = field(default_factory=dict, compare=False)
    bot_config: dict = field(default_factory=dict, compare=False)

    # -- what a person needs to know --------------------------------------------------------

    @property
    def recordable(self) -> bool:
        """Could a bot be sent at all? (link, not all-day, not cancelled, not declined)."""
        return self.blocker is None

    @property
    def blocker(self) -> str | None:
        if self.status == "cancelled":
            return "cancelled"
        if self.all_day:
            return "all-day event"
        if self.my_response == "declined":
            return "you declined"
        if not self.meeting_url:
            return "no meeting link"
        return None

    @property
    def state(self) -> str:
        """record / ask / skip / never / undecided / failed / done."""
        if self.blocker is not None:
            return "never"
        if self.bot_state == "failed":
            return "failed"
        if self.bot_state == "completed":
            return "done"
        if self.desired in ("record", "ask", "skip"):
            return self.desired
        if self.bot_state in ACTIVE_BOT_STATES:
            return "record"
        return "undecided"

    @property
    def will_record(self) -> bool:
        return self.state == "record"

    @property
    def why(self) -> str:
        state = self.state
        if state == "never":
            return self.blocker or ""
        if state == "failed":
            return f"the bot failed: {self.bot_error}" if self.bot_error else "the bot failed"
        if state == "undecided":
            return "not decided yet"
        return self.reason or {"record": "will be recorded", "ask": "waiting for your answer",
                               "skip": "not recorded", "done": "recorded"}.get(state, "")


def _chunks(values: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


_SELECT = """
SELECT e.id, cn.member_id, e.title, e.start_at, e.end_at, e.all_day, e.status, e.my_response,
       e.platform, e.meeting_url, e.series_id, e.organizer_self, e.has_external, e.attendee_count,
       e.meeting_id, mt.desired, mt.reason, mt.bot_config,
       e.ical_uid, e.meeting_key, e.provider_event_id
FROM events e
JOIN calendars c ON c.id = e.calendar_id
JOIN connections cn ON cn.id = c.connection_id
LEFT JOIN meetings mt ON mt.id = e.meeting_id
WHERE c.selected = 1 AND cn.status != 'disconnected'
  AND e.start_at >= :lookback AND e.start_at < :end AND e.end_at > :start
"""


def agenda(db: sqlite_utils.Database, member_ids: list[int] | None, start: datetime, end: datetime,
           *, include_cancelled: bool = False, dedupe: bool = True) -> dict[int, list[AgendaItem]]:
    """Each member's meetings overlapping [start, end), in start order, one per meeting.

    `member_ids=None` means every member. The same meeting on two of a member's calendars (a
    shared calendar, say) is listed once.
    """
    params = {"lookback": to_iso(start - LOOKBACK), "start": to_iso(start), "end": to_iso(end)}
    rows: list[tuple] = []
    cancelled = "" if include_cancelled else " AND e.status != 'cancelled'"
    if member_ids is None:
        rows = db.execute(_SELECT + cancelled + " ORDER BY e.start_at, e.id", params).fetchall()
    else:
        ids = sorted(set(member_ids))
        for chunk in _chunks(ids):
            marks = ", ".join(f":m{i}" for i in range(len(chunk)))
            chunk_params = {**params, **{f"m{i}": v for i, v in enumerate(chunk)}}
            rows += db.execute(_SELECT + cancelled + f" AND cn.member_id IN ({marks}) ORDER BY e.start_at, e.id",
                               chunk_params).fetchall()
    bots = _latest_bots(db, [r[14] for r in rows if r[14] is not None])
    found: dict[int, list[AgendaItem]] = {}
    seen: set[tuple] = set()
    for row in rows:
        (event_id, member_id, title, start_at, end_at, all_day, status, my_response, platform, url, series_id,
         organizer_self, has_external, attendee_count, meeting_id, desired, reason, bot_config,
         ical_uid, meeting_key, provider_event_id) = row
        identity = (member_id, meeting_id) if meeting_id is not None else \
            (member_id, ical_uid or meeting_key or provider_event_id, start_at)
        if dedupe and identity in seen:
            continue
        seen.add(identity)
        bot = bots.get(meeting_id) if meeting_id is not None else None
        found.setdefault(member_id, []).append(AgendaItem(
            event_id=event_id, member_id=member_id, title=title or "(no title)", start_at=parse_iso(start_at),
            end_at=parse_iso(end_at), all_day=bool(all_day), status=status, my_response=my_response,
            platform=platform, meeting_url=url, series_id=series_id, organizer_self=bool(organizer_self),
            has_external=bool(has_external), attendee_count=attendee_count or 0, meeting_id=meeting_id,
            desired=desired, reason=reason or "", bot_state=bot[0] if bot else None,
            bot_error=bot[1] if bot else None, recording=bot[2] if bot else {},
            bot_config=json.loads(bot_config or "{}") if bot_config else {},
        ))
    if member_ids is not None:
        for member_id in member_ids:
            found.setdefault(member_id, [])
    for items in found.values():
        items.sort(key=lambda i: (i.start_at, i.title.lower(), i.event_id))
    return found


def member_agenda(db: sqlite_utils.Database, member_id: int, start: datetime, end: datetime) -> list[AgendaItem]:
    return agenda(db, [member_id], start, end)[member_id]


def _latest_bots(db: sqlite_utils.Database, meeting_ids: list[int]) -> dict[int, tuple]:
    """meeting id -> (state, last_error, recording) of its newest bot that is not deleted."""
    latest: dict[int, tuple] = {}
    ids = sorted(set(meeting_ids))
    for chunk in _chunks(ids):
        marks = ", ".join("?" for _ in chunk)
        for meeting_id, state, error, recording in db.execute(
                f"SELECT meeting_id, state, last_error, recording FROM bots WHERE meeting_id IN ({marks}) "
                f"AND state != 'deleted' ORDER BY id", chunk):
            latest[meeting_id] = (state, error, json.loads(recording or "{}"))
    return latest


def agenda_item(db: sqlite_utils.Database, member_id: int, event_id: int) -> AgendaItem | None:
    """One event as the member sees it (None when it is not on their selected calendars)."""
    row = db.execute(
        "SELECT e.start_at FROM events e JOIN calendars c ON c.id = e.calendar_id "
        "JOIN connections cn ON cn.id = c.connection_id WHERE e.id = ? AND cn.member_id = ?",
        [event_id, member_id]).fetchone()
    if row is None:
        return None
    start = parse_iso(row[0])
    items = agenda(db, [member_id], start, start + timedelta(seconds=1), include_cancelled=True,
                   dedupe=False)[member_id]
    return next((i for i in items if i.event_id == event_id), None)


def members_of_events(db: sqlite_utils.Database, event_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(sorted(set(event_ids))):
        marks = ", ".join("?" for _ in chunk)
        found |= {r[0] for r in db.execute(
            f"SELECT cn.member_id FROM events e JOIN calendars c ON c.id = e.calendar_id "
            f"JOIN connections cn ON cn.id = c.connection_id WHERE e.id IN ({marks})", chunk)}
    return found
