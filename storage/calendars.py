"""Calendars of a connection: which ones a member selected, and each one's sync state.

Sync state lives on the calendar row:
  sync_token                   what the next incremental listing starts from (None: full sync due)
  page_token                   resume point inside a listing that has not reached its last page
  window_start / window_end    the window the current token (or the running full sync) covers
  sync_generation              bumped when a full sync starts; events it saw carry the number
  dirty_at                     a push said "may have changed" (cleared when a sync starts)
  next_sync_at                 poll / sweep schedule
  failures / backoff_until     transient provider errors back off here, per calendar
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from bot.calendars.base import RemoteCalendar
from bot.timeutil import to_iso


def upsert_remote_calendars(db: sqlite_utils.Database, connection_id: int, remotes: list[RemoteCalendar]) -> list[int]:
    """Record the account's calendars. New ones start selected only if primary; an existing
    row keeps the member's choice. Returns the ids of calendars that are no longer listed."""
    listed = set()
    for remote in remotes:
        listed.add(remote.id)
        db.execute(
            "INSERT INTO calendars (connection_id, provider_calendar_id, name, timezone, is_primary, selected) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (connection_id, provider_calendar_id) DO UPDATE SET "
            "name = excluded.name, timezone = excluded.timezone, is_primary = excluded.is_primary",
            [connection_id, remote.id, remote.name, remote.timezone, int(remote.is_primary), int(remote.is_primary)],
        )
    return [row[0] for row in db.execute(
        "SELECT id, provider_calendar_id FROM calendars WHERE connection_id = ?", [connection_id])
        if row[1] not in listed]


def get_calendar(db: sqlite_utils.Database, calendar_id: int) -> dict | None:
    rows = list(db.query(
        "SELECT cal.*, c.provider, c.account, c.status AS connection_status, c.member_id, m.team_id, m.user_id "
        "FROM calendars cal JOIN connections c ON c.id = cal.connection_id JOIN members m ON m.id = c.member_id "
        "WHERE cal.id = ?", [calendar_id]))
    return rows[0] if rows else None


def connection_calendars(db: sqlite_utils.Database, connection_id: int) -> list[dict]:
    return list(db.query(
        "SELECT * FROM calendars WHERE connection_id = ? ORDER BY is_primary DESC, name COLLATE NOCASE, id",
        [connection_id]))


def set_selected(db: sqlite_utils.Database, calendar_ids: list[int], selected: bool, *, now: str) -> list[int]:
    """Select or deselect calendars; returns those whose choice changed. Newly selected ones are
    marked dirty so they sync at once."""
    changed = []
    for calendar_id in calendar_ids:
        cursor = db.execute(
            "UPDATE calendars SET selected = ?, dirty_at = CASE WHEN ? THEN ? ELSE dirty_at END, "
            "next_sync_at = CASE WHEN ? THEN NULL ELSE next_sync_at END WHERE id = ? AND selected != ?",
            [int(selected), int(selected), now, int(selected), calendar_id, int(selected)],
        )
        if cursor.rowcount:
            changed.append(calendar_id)
    return changed


def mark_dirty(db: sqlite_utils.Database, calendar_id: int, *, now: str) -> bool:
    """A push said this calendar may have changed: the syncer picks it up at once."""
    return db.execute("UPDATE calendars SET dirty_at = COALESCE(dirty_at, ?) WHERE id = ?",
                      [now, calendar_id]).rowcount == 1


def mark_connection_dirty(db: sqlite_utils.Database, connection_id: int, *, now: str) -> None:
    db.execute("UPDATE calendars SET dirty_at = COALESCE(dirty_at, ?) WHERE connection_id = ? AND selected = 1",
               [now, connection_id])


def due_calendars(db: sqlite_utils.Database, *, now: str, exclude: set[int] = frozenset(), limit: int = 50) -> list[dict]:
    """Selected calendars of active connections that should sync now: pushed (dirty), scheduled,
    never synced, or interrupted mid-listing — and not backing off. Dirty ones first."""
    rows = db.query(
        "SELECT cal.id FROM calendars cal JOIN connections c ON c.id = cal.connection_id "
        "WHERE cal.selected = 1 AND c.status = 'active' "
        "AND (cal.backoff_until IS NULL OR cal.backoff_until <= :now) "
        "AND (cal.dirty_at IS NOT NULL OR cal.next_sync_at IS NULL OR cal.next_sync_at <= :now "
        "     OR cal.page_token IS NOT NULL) "
        "ORDER BY cal.dirty_at IS NULL, cal.next_sync_at LIMIT :limit",
        {"now": now, "limit": limit + len(exclude)},
    )
    ids = [row["id"] for row in rows if row["id"] not in exclude][:limit]
    return [cal for cal in (get_calendar(db, i) for i in ids) if cal is not None]


def next_due_at(db: sqlite_utils.Database) -> str | None:
    """When the earliest scheduled sync or backoff ends (for the loop's sleep)."""
    row = db.execute(
        "SELECT MIN(MAX(COALESCE(cal.next_sync_at, ''), COALESCE(cal.backoff_until, ''))) FROM calendars cal "
        "JOIN connections c ON c.id = cal.connection_id WHERE cal.selected = 1 AND c.status = 'active'").fetchone()
    return row[0] if row and row[0] else None


def begin_sync(db: sqlite_utils.Database, calendar_id: int) -> None:
    """A sync starts: notifications arriving from now on make the calendar dirty again."""
    db.execute("UPDATE calendars SET dirty_at = NULL WHERE id = ?", [calendar_id])


def begin_full_sync(db: sqlite_utils.Database, calendar_id: int, *, window_start: datetime,
                    window_end: datetime) -> int:
    """Drop the incremental state and start a full listing of the window. Returns its generation."""
    db.execute(
        "UPDATE calendars SET sync_token = NULL, page_token = NULL, window_start = ?, window_end = ?, "
        "sync_generation = sync_generation + 1 WHERE id = ?",
        [to_iso(window_start), to_iso(window_end), calendar_id],
    )
    return db.execute("SELECT sync_generation FROM calendars WHERE id = ?", [calendar_id]).fetchone()[0]


def save_page_token(db: sqlite_utils.Database, calendar_id: int, page_token: str | None) -> None:
    db.execute("UPDATE calendars SET page_token = ? WHERE id = ?", [page_token, calendar_id])


def finish_listing(db: sqlite_utils.Database, calendar_id: int, *, sync_token: str | None, now: str,
                   next_sync_at: str) -> None:
    """The last page is stored: the new sync token replaces the old one, the failure count resets."""
    db.execute(
        "UPDATE calendars SET sync_token = ?, page_token = NULL, last_synced_at = ?, next_sync_at = ?, "
        "failures = 0, backoff_until = NULL, last_error = NULL WHERE id = ?",
        [sync_token, now, next_sync_at, calendar_id],
    )


def record_failure(db: sqlite_utils.Database, calendar_id: int, *, error: str, backoff_until: str,
                   now: str) -> int:
    """A transient failure: back off this calendar only, and keep it dirty so it syncs after."""
    db.execute(
        "UPDATE calendars SET failures = failures + 1, backoff_until = ?, last_error = ?, "
        "dirty_at = COALESCE(dirty_at, ?) WHERE id = ?",
        [backoff_until, error[:500], now, calendar_id],
    )
    return db.execute("SELECT failures FROM calendars WHERE id = ?", [calendar_id]).fetchone()[0]


def schedule(db: sqlite_utils.Database, calendar_id: int, next_sync_at: str) -> None:
    db.execute("UPDATE calendars SET next_sync_at = ? WHERE id = ?", [next_sync_at, calendar_id])


def sync_now(db: sqlite_utils.Database, calendar_ids: list[int] | None = None) -> None:
    """Make calendars due at once (all selected ones when `calendar_ids` is None)."""
    if calendar_ids is None:
        db.execute("UPDATE calendars SET next_sync_at = NULL, backoff_until = NULL WHERE selected = 1")
    else:
        db.conn.executemany("UPDATE calendars SET next_sync_at = NULL, backoff_until = NULL WHERE id = ?",
                       [(i,) for i in calendar_ids])
