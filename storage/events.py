"""Events as the providers say they are, and the change feed the syncer derives from them.

`apply_page` is the one place events are written during sync. It upserts by
(calendar_id, provider_event_id) — so a surviving event keeps its row id (and `meeting_id`)
across a full resync — skips events whose `content_hash` is unchanged, and writes one `changes`
row per aspect that really changed:

  created            a new event in the window
  moved              start or end (or all-day) changed          detail.before = old start/end
  cancelled          the event's status turned `cancelled` (it stays, e.g. Outlook keeps it)
  link_changed       the join URL / platform changed              detail.before = old url
  response_changed   my response changed (accepted/declined/...)  detail.before = old response
  attendees_changed  the guest list or a guest's response changed
  updated            anything else we store (title, description, un-cancelled, ...)
  deleted            the event is gone (provider removed it, or it left the window);
                     the row is deleted, so detail carries what a consumer needs to undo its work
                     (provider ids, series, start, meeting_key, meeting_id)

A duplicate notification or a re-listing of an unchanged event writes nothing. Callers run
`apply_page` inside `transaction(db)` together with their paging progress, so a crash between
pages leaves either the whole page (and its resume point) or none of it.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator

import sqlite_utils

from bot.models import NormalizedEvent

CHANGE_KINDS = ("created", "moved", "cancelled", "link_changed", "response_changed", "attendees_changed",
                "updated", "deleted")

_CHUNK = 900  # SQL variables per IN (...) list

EVENT_COLUMNS = (
    "id", "calendar_id", "provider_event_id", "ical_uid", "series_id", "original_start", "title", "description",
    "location", "start_at", "end_at", "timezone", "all_day", "status", "my_response", "organizer_email",
    "organizer_self", "attendees", "attendee_count", "has_external", "meeting_url", "platform", "meeting_key",
    "content_hash", "provider_updated", "synced_at", "sync_generation",
)
_INSERT_SQL = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
               f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})")
_UPDATE_SQL = ("UPDATE events SET " + ", ".join(f"{c} = ?" for c in EVENT_COLUMNS[2:]) + " WHERE id = ?")
_CHANGE_SQL = ("INSERT INTO changes (event_id, calendar_id, team_id, kind, detail, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?)")
# What a consumer needs to know about an event that no longer has a row.
_GONE_COLUMNS = ("id", "provider_event_id", "ical_uid", "series_id", "original_start", "title", "start_at",
                 "end_at", "meeting_url", "meeting_key", "meeting_id", "content_hash", "sync_generation",
                 "status", "my_response", "attendees", "location", "description", "organizer_email",
                 "organizer_self", "platform", "all_day", "timezone")


@dataclass
class PageOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    changes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def add(self, other: "PageOutcome") -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.changes += other.changes
        for kind, n in other.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + n

    @property
    def written(self) -> int:
        return self.created + self.updated + self.deleted


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error). Never put an `await` inside."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _iso(moment: datetime) -> str:
    """`bot.timeutil.to_iso`, faster for the common case (already UTC): this runs 4x per event."""
    if moment.tzinfo is not timezone.utc:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="seconds")[:19] + "Z"


_HASHED = slice(2, 23)   # provider_event_id .. meeting_key: everything we store about the event itself


def event_row(event: NormalizedEvent, *, calendar_id: int, synced_at: str, generation: int) -> list:
    """The events-table values for a normalized event (in EVENT_COLUMNS order, id first), with its
    content hash: a digest of everything calbot stores about the event (not `provider_updated`,
    which providers bump for changes we ignore), so an unchanged event is recognised and skipped."""
    attendees = event.attendees
    row = [
        None, calendar_id, event.provider_event_id, event.ical_uid, event.series_id,
        _iso(event.original_start) if event.original_start else None,
        event.title, event.description, event.location, _iso(event.start_at), _iso(event.end_at),
        event.timezone, int(event.all_day), event.status, event.my_response, event.organizer_email,
        int(event.organizer_self),
        json.dumps([a.model_dump() for a in attendees], separators=(",", ":")) if attendees else "[]",
        sum(1 for a in attendees if not a.resource),
        int(any(a.external and not a.resource for a in attendees)),
        event.meeting_url, event.platform, event.meeting_key, None,
        _iso(event.provider_updated) if event.provider_updated else None, synced_at, generation,
    ]
    row[_CONTENT_HASH] = hashlib.blake2b(repr(row[_HASHED]).encode(), digest_size=16).hexdigest()
    return row


def event_hash(event: NormalizedEvent) -> str:
    """The content hash `apply_page` stores for this event."""
    return event_row(event, calendar_id=0, synced_at="", generation=0)[_CONTENT_HASH]


_I = {name: i for i, name in enumerate(EVENT_COLUMNS)}
_CONTENT_HASH = _I["content_hash"]
_START, _END = _I["start_at"], _I["end_at"]


def _aspects(old: dict, new: list) -> list[tuple[str, dict]]:
    """The change kinds between a stored row and new row values, each with its detail."""
    kinds: list[tuple[str, dict]] = []
    other = False
    if old["start_at"] != new[_I["start_at"]] or old["end_at"] != new[_I["end_at"]] \
            or old["all_day"] != new[_I["all_day"]]:
        kinds.append(("moved", {"before": {"start_at": old["start_at"], "end_at": old["end_at"]},
                                "after": {"start_at": new[_I["start_at"]], "end_at": new[_I["end_at"]]}}))
    if old["status"] != new[_I["status"]]:
        if new[_I["status"]] == "cancelled":
            kinds.append(("cancelled", {"before": {"status": old["status"]}}))
        else:
            other = True  # un-cancelled, or confirmed <-> tentative
    if old["meeting_url"] != new[_I["meeting_url"]] or old["meeting_key"] != new[_I["meeting_key"]] \
            or old["platform"] != new[_I["platform"]]:
        kinds.append(("link_changed", {"before": {"meeting_url": old["meeting_url"], "platform": old["platform"]},
                                       "after": {"meeting_url": new[_I["meeting_url"]],
                                                 "platform": new[_I["platform"]]}}))
    if old["my_response"] != new[_I["my_response"]]:
        kinds.append(("response_changed", {"before": {"my_response": old["my_response"]},
                                           "after": {"my_response": new[_I["my_response"]]}}))
    if old["attendees"] != new[_I["attendees"]]:
        if _guests(old["attendees"]) != _guests(new[_I["attendees"]]):
            kinds.append(("attendees_changed", {}))
        elif old["my_response"] == new[_I["my_response"]]:
            other = True  # only our own attendee entry changed shape
    for name in ("title", "description", "location", "timezone", "organizer_email", "organizer_self",
                 "series_id", "original_start", "ical_uid"):
        if old[name] != new[_I[name]]:
            other = True
            break
    if other or not kinds:
        # `not kinds`: the hash changed in a field we don't classify; still one real change.
        kinds.append(("updated", {}))
    return kinds


def _guests(attendees_json: str) -> list:
    return [a for a in json.loads(attendees_json or "[]") if not a.get("self")]


def _existing(db: sqlite_utils.Database, calendar_id: int, provider_ids: list[str]) -> dict[str, dict]:
    """provider id -> (id, content_hash, sync_generation) of the stored events among `provider_ids`."""
    found: dict[str, dict] = {}
    for start in range(0, len(provider_ids), _CHUNK):
        chunk = provider_ids[start:start + _CHUNK]
        cursor = db.conn.execute(
            "SELECT provider_event_id, id, content_hash, sync_generation FROM events WHERE calendar_id = ? "
            f"AND provider_event_id IN ({', '.join('?' for _ in chunk)})",
            [calendar_id, *chunk],
        )
        for provider_id, row_id, content_hash, generation in cursor:
            found[provider_id] = {"id": row_id, "content_hash": content_hash, "sync_generation": generation}
    return found


def _full_rows(db: sqlite_utils.Database, row_ids: list[int]) -> dict[int, dict]:
    found: dict[int, dict] = {}
    columns = ", ".join(_GONE_COLUMNS)
    for start in range(0, len(row_ids), _CHUNK):
        chunk = row_ids[start:start + _CHUNK]
        for values in db.conn.execute(
                f"SELECT {columns} FROM events WHERE id IN ({', '.join('?' for _ in chunk)})", chunk):
            row = dict(zip(_GONE_COLUMNS, values))
            found[row["id"]] = row
    return found


def _gone_detail(row: dict, reason: str) -> str:
    detail = {k: row[k] for k in ("provider_event_id", "ical_uid", "series_id", "original_start", "title",
                                  "start_at", "end_at", "meeting_url", "meeting_key", "meeting_id")}
    detail["reason"] = reason
    return json.dumps(detail, separators=(",", ":"))


def apply_page(
    db: sqlite_utils.Database,
    *,
    calendar_id: int,
    team_id: str | None,
    events: Iterable[NormalizedEvent],
    removed: Iterable[str] = (),
    window_start: str,
    window_end: str,
    now: str,
    generation: int | None = None,
) -> PageOutcome:
    """Write one page of provider truth. Call inside `transaction(db)`.

    `events` are the page's live events (cancelled occurrences included, as the provider reports
    them); `removed` the provider ids it says are gone. Events outside [window_start, window_end)
    are treated as gone. `generation` is set during a full sync: every event seen is stamped with
    it, so `finish_full_sync` can delete the ones the listing no longer has.
    """
    outcome = PageOutcome()
    latest: dict[str, NormalizedEvent | None] = {}
    for event in events:
        latest[event.provider_event_id] = event
    for provider_id in removed:
        latest[provider_id] = None
    if not latest:
        return outcome
    stored = _existing(db, calendar_id, list(latest))
    stamp = generation if generation is not None else 0

    inserts: list[list] = []
    updates: list[list] = []
    changed: list[tuple[int, list]] = []
    gone: list[tuple[int, str]] = []
    touches: list[tuple[int, int]] = []
    deletes: list[tuple[int]] = []
    changes: list[tuple] = []
    next_id = None

    for provider_id, event in latest.items():
        old = stored.get(provider_id)
        row = None
        if event is not None:
            row = event_row(event, calendar_id=calendar_id, synced_at=now,
                            generation=stamp if generation is not None else (old["sync_generation"] if old else 0))
            start, end = row[_START], row[_END]
            if not (start < window_end and (end > window_start or start >= window_start)):
                row = None   # outside the window: as good as gone
                reason = "out_of_window"
            else:
                reason = ""
        else:
            reason = "removed"
        if row is None:
            if old is not None:
                deletes.append((old["id"],))
                gone.append((old["id"], reason))
            continue
        if old is not None and old["content_hash"] == row[_CONTENT_HASH]:
            outcome.unchanged += 1
            if generation is not None and old["sync_generation"] != generation:
                touches.append((generation, old["id"]))
            continue
        if old is None:
            if next_id is None:
                next_id = (db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]) + 1
            row[0] = next_id
            next_id += 1
            inserts.append(row)
            changes.append((row[0], calendar_id, team_id, "created", "{}", now))
            outcome.created += 1
        else:
            changed.append((old["id"], row))
            updates.append(row[2:] + [old["id"]])
            outcome.updated += 1
    if outcome.created:
        outcome.kinds["created"] = outcome.created

    # Changed and gone events are few: only for them read everything the feed needs to say.
    full = _full_rows(db, [i for i, _ in changed] + [i for i, _ in gone])
    for row_id, row in changed:
        for kind, detail in _aspects(full[row_id], row):
            changes.append((row_id, calendar_id, team_id, kind,
                            json.dumps(detail, separators=(",", ":")) if detail else "{}", now))
            outcome.kinds[kind] = outcome.kinds.get(kind, 0) + 1
    for row_id, reason in gone:
        changes.append((row_id, calendar_id, team_id, "deleted", _gone_detail(full[row_id], reason), now))
        outcome.deleted += 1
        outcome.kinds["deleted"] = outcome.kinds.get("deleted", 0) + 1

    conn = db.conn
    if deletes:
        conn.executemany("DELETE FROM events WHERE id = ?", deletes)
    if inserts:
        conn.executemany(_INSERT_SQL, inserts)
    if updates:
        conn.executemany(_UPDATE_SQL, updates)
    if touches:
        conn.executemany("UPDATE events SET sync_generation = ? WHERE id = ?", touches)
    if changes:
        conn.executemany(_CHANGE_SQL, changes)
    outcome.changes = len(changes)
    return outcome


def finish_full_sync(db: sqlite_utils.Database, *, calendar_id: int, team_id: str | None, generation: int,
                     window_start: str, now: str) -> PageOutcome:
    """After the last page of a full sync: events the listing no longer has are gone.

    Events that simply aged out of the window (ended before its start) are dropped without a
    change — nothing happened to them. Call inside `transaction(db)`.
    """
    outcome = PageOutcome()
    columns = ", ".join(_GONE_COLUMNS)
    rows = [dict(zip(_GONE_COLUMNS, values)) for values in db.conn.execute(
        f"SELECT {columns} FROM events WHERE calendar_id = ? AND sync_generation < ?", [calendar_id, generation])]
    changes = []
    for row in rows:
        if row["end_at"] <= window_start:
            continue
        changes.append((row["id"], calendar_id, team_id, "deleted", _gone_detail(row, "removed"), now))
    db.conn.executemany("DELETE FROM events WHERE id = ?", [(row["id"],) for row in rows])
    db.conn.executemany(_CHANGE_SQL, changes)
    outcome.deleted = len(rows)
    outcome.changes = len(changes)
    if changes:
        outcome.kinds["deleted"] = len(changes)
    return outcome


def delete_calendar_events(db: sqlite_utils.Database, *, calendar_id: int, team_id: str | None, now: str,
                           reason: str) -> int:
    """Remove every event of a calendar (deselected, disconnected), each with a `deleted` change so
    the planner withdraws their bots. Call inside `transaction(db)`."""
    columns = ", ".join(_GONE_COLUMNS)
    rows = [dict(zip(_GONE_COLUMNS, values)) for values in db.conn.execute(
        f"SELECT {columns} FROM events WHERE calendar_id = ?", [calendar_id])]
    db.conn.executemany(_CHANGE_SQL, [(r["id"], calendar_id, team_id, "deleted", _gone_detail(r, reason), now)
                                      for r in rows])
    db.conn.execute("DELETE FROM events WHERE calendar_id = ?", [calendar_id])
    return len(rows)


def calendar_events(db: sqlite_utils.Database, calendar_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM events WHERE calendar_id = ? ORDER BY start_at, provider_event_id",
                         [calendar_id]))


def changes_since(db: sqlite_utils.Database, after_id: int = 0, *, limit: int = 1000) -> list[dict]:
    rows = list(db.query("SELECT * FROM changes WHERE id > ? ORDER BY id LIMIT ?", [after_id, limit]))
    for row in rows:
        row["detail"] = json.loads(row["detail"] or "{}")
    return rows
