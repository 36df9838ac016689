"""GET /api/calendars/events (seed-compatible, filtered, paginated) and GET /api/calendars/events/{id}."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from bot.api.auth import Principal, context, require_principal
from bot.api.errors import ApiError, not_found
from bot.api.pagination import MAX_ID, decode_cursor
from bot.api.queries import EventFilters, get_event, list_events, parse_public_id
from bot.api.schemas import Event, EventsResponse, Platform, RecordingStatus
from bot.api.timeparams import parse_time_iso

router = APIRouter(tags=["events"])

DEFAULT_LIMIT = 250
MAX_LIMIT = 1000
TIME_HELP = "ISO 8601 date-time; an offset or Z, or naive meaning UTC"


@router.get("/calendars/events", response_model=EventsResponse, summary="List events, earliest first")
async def get_events(
    request: Request,
    principal: Principal = Depends(require_principal),
    start_time: str | None = Query(None, max_length=64, description=f"events ending after this; {TIME_HELP}"),
    end_time: str | None = Query(None, max_length=64, description=f"events starting before this; {TIME_HELP}"),
    query: str | None = Query(None, max_length=200, description="title contains this, case-insensitive"),
    attendee: str | None = Query(None, max_length=320, description="an attendee's email"),
    organizer: str | None = Query(None, max_length=320, description="the organizer's email"),
    platform: Platform | None = Query(None, description="meeting platform"),
    recording: RecordingStatus | None = Query(None, description="recording status"),
    updated_since: str | None = Query(None, max_length=64, description=f"changed at or after this; {TIME_HELP}"),
    calendar_id: int | None = Query(None, ge=1, le=MAX_ID, description="only this calendar"),
    series_id: str | None = Query(None, max_length=1024, description="only occurrences of this series"),
    include_cancelled: bool = Query(False, description="also list cancelled occurrences"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="page size"),
    cursor: str | None = Query(None, max_length=400, description="next_cursor of the previous page"),
) -> EventsResponse:
    filters = EventFilters(
        start_time=parse_time_iso(start_time, "start_time"),
        end_time=parse_time_iso(end_time, "end_time"),
        query=query or None,
        attendee=attendee or None,
        organizer=organizer or None,
        platform=platform,
        recording=recording,
        updated_since=parse_time_iso(updated_since, "updated_since"),
        calendar_id=calendar_id,
        series_id=series_id or None,
        include_cancelled=include_cancelled,
    )
    if filters.start_time and filters.end_time and filters.end_time < filters.start_time:
        raise ApiError(422, "end_time must not be before start_time")
    after = decode_cursor(cursor) if cursor else None
    events, next_cursor = list_events(context(request).db, principal, filters, after=after, limit=limit)
    return EventsResponse(events=events, next_cursor=next_cursor)


@router.get("/calendars/events/{event_id}", response_model=Event, summary="One event")
async def get_one_event(
    request: Request,
    event_id: str = Path(max_length=32, description="the event's id"),
    principal: Principal = Depends(require_principal),
) -> Event:
    number = parse_public_id(event_id)
    event = get_event(context(request).db, principal, number) if number is not None else None
    if event is None:
        raise not_found(f"event {event_id}")
    return event
