"""What the API reads: connections, calendars, events and webhook deliveries, always scoped to
the caller.

Every query joins up to `members.team_id` (and `connections.member_id` for a member key), so an
object of another workspace or member is simply not found — the handler answers 404, never 403,
and never reveals that it exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlite_utils

from bot.api.auth import Principal
from bot.api.errors import ApiError
from bot.api.pagination import encode_cursor
from bot.api.schemas import Attendee, Calendar, Event, Organizer, Provider, Recording
from bot.timeutil import parse_iso
from storage import webhooks as webhook_store

LIVE_BOT_STATES = ("pending", "creating", "scheduled", "updating")
IN_CALL_BOT_STATES = ("joining", "in_call")

# The recording status shown for an event, from the planner's desired state and the latest
# bot of its meeting (`deleted` bots are history, not state).
RECORDING_STATUS_SQL = f"""
    CASE
        WHEN b.state = 'completed' THEN 'completed'
        WHEN b.state = 'failed' THEN 'failed'
        WHEN b.state IN {IN_CALL_BOT_STATES} THEN 'in_call'
        WHEN b.state IN {LIVE_BOT_STATES} THEN 'scheduled'
        WHEN m.desired = 'record' THEN 'scheduled'
        WHEN m.desired = 'ask' THEN 'ask'
        WHEN m.desired = 'skip' THEN 'skip'
        ELSE 'none'
    END"""

EVENT_SELECT = f"""
SELECT e.*, mem.user_id AS member_user_id, conn.member_id AS owner_member_id,
       m.desired AS meeting_desired, m.reason AS meeting_reason,
       b.idempotency_key AS bot_public_id, b.state AS bot_state, b.join_at AS bot_join_at,
       b.recording AS bot_recording, b.last_error AS bot_error,
       {RECORDING_STATUS_SQL} AS recording_status
FROM events e
JOIN calendars c ON c.id = e.calendar_id
JOIN connections conn ON conn.id = c.connection_id
JOIN members mem ON mem.id = conn.member_id
LEFT JOIN meetings m ON m.id = e.meeting_id
LEFT JOIN bots b ON b.id = (
    SELECT bb.id FROM bots bb WHERE bb.meeting_id = e.meeting_id AND bb.state != 'deleted'
    ORDER BY bb.id DESC LIMIT 1)
"""


def _fold(value):
    """Unicode-aware case folding for SQL (SQLite's own lower() only knows ASCII)."""
    return value.casefold() if isinstance(value, str) else value


def _install_functions(db: sqlite_utils.Database) -> None:
    db.conn.create_function("api_fold", 1, _fold, deterministic=True)


def _scope(principal: Principal) -> tuple[str, list]:
    if principal.member_id is None:
        return "mem.team_id = ?", [principal.team_id]
    return "mem.team_id = ? AND conn.member_id = ?", [principal.team_id, principal.member_id]


def parse_public_id(value: str) -> int | None:
    """Our ids are decimal integers in strings; anything else names nothing."""
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


# -- connections and calendars --------------------------------------------------------------

CALENDAR_SELECT = """
SELECT c.*, conn.provider, conn.account, conn.status AS connection_status, conn.id AS conn_id,
       mem.user_id AS member_user_id
FROM calendars c
JOIN connections conn ON conn.id = c.connection_id
JOIN members mem ON mem.id = conn.member_id
"""


def _calendar(row: dict) -> Calendar:
    return Calendar(
        id=str(row["id"]), name=row["name"], provider=row["provider"], account=row["account"],
        member=row["member_user_id"], primary=bool(row["is_primary"]), selected=bool(row["selected"]),
        timezone=row["timezone"], last_synced_at=_time(row["last_synced_at"]), sync_error=row["last_error"],
    )


def list_calendars(db: sqlite_utils.Database, principal: Principal) -> list[Calendar]:
    where, params = _scope(principal)
    rows = db.query(f"{CALENDAR_SELECT} WHERE {where} AND conn.status != 'disconnected' "
                    "ORDER BY conn.id, c.is_primary DESC, c.name, c.id", params)
    return [_calendar(row) for row in rows]


def list_providers(db: sqlite_utils.Database, principal: Principal) -> list[Provider]:
    where, params = _scope(principal)
    connections = list(db.query(
        "SELECT conn.*, mem.user_id AS member_user_id FROM connections conn "
        f"JOIN members mem ON mem.id = conn.member_id WHERE {where} AND conn.status != 'disconnected' "
        "ORDER BY conn.id", params))
    calendars: dict[int, list[Calendar]] = {}
    for row in db.query(f"{CALENDAR_SELECT} WHERE {where} AND conn.status != 'disconnected' "
                        "ORDER BY c.is_primary DESC, c.name, c.id", params):
        calendars.setdefault(row["conn_id"], []).append(_calendar(row))
    return [
        Provider(id=str(conn["id"]), provider=conn["provider"], account=conn["account"], status=conn["status"],
                 member=conn["member_user_id"], calendars=calendars.get(conn["id"], []))
        for conn in connections
    ]


# -- events ---------------------------------------------------------------------------------

@dataclass
class EventFilters:
    start_time: str | None = None        # stored form; events ending after this
    end_time: str | None = None          # events starting before this
    query: str | None = None             # title contains, case-insensitive
    attendee: str | None = None          # an attendee's email, case-insensitive
    organizer: str | None = None         # the organizer's email, case-insensitive
    platform: str | None = None
    recording: str | None = None         # a RecordingStatus
    updated_since: str | None = None
    calendar_id: int | None = None
    series_id: str | None = None
    include_cancelled: bool = False


def _visible_events(principal: Principal) -> tuple[list[str], list]:
    """Events the caller may see: in its scope, on calendars calbot syncs, of accounts still
    connected. The list and the single-event routes share this, so an id the list hides is not
    found by id either."""
    where, params = _scope(principal)
    return [where, "c.selected = 1", "conn.status != 'disconnected'"], params


def _event_where(principal: Principal, filters: EventFilters) -> tuple[list[str], list]:
    clauses, params = _visible_events(principal)
    if not filters.include_cancelled:
        clauses.append("e.status != 'cancelled'")
    if filters.start_time:
        clauses.append("e.end_at > ?")
        params.append(filters.start_time)
    if filters.end_time:
        clauses.append("e.start_at < ?")
        params.append(filters.end_time)
    if filters.query:
        clauses.append("instr(api_fold(e.title), ?) > 0")
        params.append(filters.query.casefold())
    if filters.attendee:
        if filters.attendee.isascii():
            # Cheap text pre-filter before parsing each row's JSON (emails are almost always ASCII).
            clauses.append("instr(lower(e.attendees), ?) > 0")
            params.append(filters.attendee.lower())
        clauses.append(
            "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(e.attendees) THEN e.attendees ELSE '[]' END) a "
            "WHERE a.type = 'object' AND api_fold(json_extract(a.value, '$.email')) = ?)")
        params.append(filters.attendee.casefold())
    if filters.organizer:
        clauses.append("api_fold(e.organizer_email) = ?")
        params.append(filters.organizer.casefold())
    if filters.platform:
        clauses.append("e.platform = ?")
        params.append(filters.platform)
    if filters.updated_since:
        clauses.append("e.synced_at >= ?")
        params.append(filters.updated_since)
    if filters.calendar_id is not None:
        clauses.append("e.calendar_id = ?")
        params.append(filters.calendar_id)
    if filters.series_id:
        clauses.append("e.series_id = ?")
        params.append(filters.series_id)
    return clauses, params


def list_events(db: sqlite_utils.Database, principal: Principal, filters: EventFilters, *,
                after: tuple[str, int] | None, limit: int) -> tuple[list[Event], str | None]:
    """One page of events in start order, and the cursor of the next page (None at the end)."""
    _install_functions(db)
    clauses, params = _event_where(principal, filters)
    if after is not None:
        clauses.append("(e.start_at > ? OR (e.start_at = ? AND e.id > ?))")
        params += [after[0], after[0], after[1]]
    sql = f"{EVENT_SELECT} WHERE {' AND '.join(clauses)}"
    if filters.recording:
        sql = f"SELECT * FROM ({sql}) WHERE recording_status = ?"
        params.append(filters.recording)
    sql = f"SELECT * FROM ({sql}) ORDER BY start_at, id LIMIT ?"
    params.append(limit + 1)
    rows, cursor = _page(list(db.query(sql, params)), limit, "start_at")
    return [event_model(row) for row in rows], cursor


def _page(rows: list[dict], limit: int, sort_column: str) -> tuple[list[dict], str | None]:
    """The first `limit` of `rows` (queried with one extra row to learn whether there is more), and
    the cursor of the next page: the sort key of this page's last row, or None at the end."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1][sort_column], rows[-1]["id"])


def get_event(db: sqlite_utils.Database, principal: Principal, event_id: int) -> Event | None:
    row = find_event_row(db, principal, event_id)
    return event_model(row) if row else None


def find_event_row(db: sqlite_utils.Database, principal: Principal, event_id: int) -> dict | None:
    """The event with this id if the caller may see it (another workspace's, or one the list
    hides: None). Cancelled events are found: the list shows them too with include_cancelled."""
    _install_functions(db)
    clauses, params = _visible_events(principal)
    rows = list(db.query(f"{EVENT_SELECT} WHERE {' AND '.join(clauses)} AND e.id = ?", params + [event_id]))
    return rows[0] if rows else None


def event_model(row: dict) -> Event:
    attendees = [_attendee(a) for a in _json_list(row["attendees"])]
    recording = _json_dict(row["bot_recording"])
    return Event(
        id=str(row["id"]),
        title=row["title"] or "",
        start_time=parse_iso(row["start_at"]),
        end_time=parse_iso(row["end_at"]),
        meeting_url=row["meeting_url"],
        platform=row["platform"],
        calendar_id=str(row["calendar_id"]),
        series_id=row["series_id"],
        attendees=[a for a in attendees if a is not None],
        organizer=Organizer(email=row["organizer_email"], is_me=bool(row["organizer_self"])),
        recording=Recording(
            status=row["recording_status"],
            desired=row["meeting_desired"],
            reason=row["meeting_reason"] or None,
            bot_id=row["bot_public_id"],
            bot_status=row["bot_state"],
            join_at=_time(row["bot_join_at"]),
            video_url=_str_or_none(recording.get("video_url") or recording.get("video")),
            transcript_url=_str_or_none(recording.get("transcript_url") or recording.get("transcript")),
            error=row["bot_error"] if row["bot_state"] == "failed" else None,
        ),
        status=row["status"],
        all_day=bool(row["all_day"]),
        is_recurring=row["series_id"] is not None,
        my_response=row["my_response"],
        timezone=row["timezone"],
        member=row["member_user_id"],
        updated_at=parse_iso(row["synced_at"]),
    )


def _attendee(value) -> Attendee | None:
    if not isinstance(value, dict) or not isinstance(value.get("email"), str):
        return None
    return Attendee(email=value["email"], name=_str_or_none(value.get("name")) or None,
                    response=_str_or_none(value.get("response")), organizer=bool(value.get("organizer")),
                    external=bool(value.get("external")))


def _json_list(text: str | None) -> list:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _json_dict(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _str_or_none(value) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: str | None):
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


# -- webhook deliveries ----------------------------------------------------------------------

def list_webhook_deliveries(db: sqlite_utils.Database, subscription_id: int, *, after: tuple[str, int] | None,
                            limit: int) -> tuple[list[dict], str | None]:
    """One page of an endpoint's deliveries (outbox rows), newest first, and the next page's cursor.
    The caller has already checked that the subscription is theirs."""
    clauses, params = ["kind = ?", "target = ?"], [webhook_store.KIND, str(subscription_id)]
    if after is not None:
        clauses.append("(created_at < ? OR (created_at = ? AND id < ?))")
        params += [after[0], after[0], after[1]]
    rows = list(db.query(f"SELECT * FROM outbox WHERE {' AND '.join(clauses)} "
                         "ORDER BY created_at DESC, id DESC LIMIT ?", params + [limit + 1]))
    return _page(rows, limit, "created_at")


def resolve_member(db: sqlite_utils.Database, principal: Principal, user_id: str | None, *,
                   required: bool = False) -> int | None:
    """The member an action is for. A member key acts for its own member (naming anyone else is
    an error); a workspace key names the member by Slack user id (`required` when it must)."""
    if principal.member_id is not None:
        if user_id is not None and user_id != principal.user_id:
            raise ApiError(422, "member: a member key can only act for its own member")
        return principal.member_id
    if user_id is None:
        if required:
            raise ApiError(422, "member: required with a workspace key (the Slack user id, e.g. U0123ABCD)")
        return None
    row = db.execute("SELECT id FROM members WHERE team_id = ? AND user_id = ?", [principal.team_id, user_id]).fetchone()
    if row is None:
        raise ApiError(422, f"member: no member {user_id} in this workspace")
    return row[0]
