"""POST|DELETE /api/calendars/events/{id}/bot: record (or stop recording) an event, or its series.

The choice is recorded for the calendar's owner, exactly as a click in Slack would be, and the
engine does the rest: one bot per meeting, moved and cancelled with it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from bot.api.auth import Principal, context, require_principal
from bot.api.errors import ApiError, not_found
from bot.api.queries import find_event_row, get_event, parse_public_id
from bot.api.schemas import Event
from bot.errors import UserError

router = APIRouter(tags=["events"])


class EventBotChoice(BaseModel):
    event_id: str
    action: str = Field(description="record or skip")
    scope: str = Field(description="occurrence, or series when all_occurrences applied to a recurring event")
    event: Event = Field(description="the event as it reads now (the planner applies the choice within seconds)")


class BotOptions(BaseModel):
    bot_name: str | None = Field(None, min_length=1, max_length=100)
    entry_message: str | None = Field(None, max_length=500)
    recording_mode: str | None = Field(None, pattern="^(speaker_view|gallery_view|audio_only)$")
    speech_to_text: bool | None = None


def _choose(request: Request, principal: Principal, event_id: str, action: str, choose) -> EventBotChoice:
    """Run `choose(number)` for a visible event, turning the engine's refusals into API errors."""
    number = _event_number(principal, request, event_id)
    try:
        result = choose(number)
    except UserError as exc:
        raise ApiError(422, str(exc).replace("*", "")) from None
    except LookupError:
        raise not_found(f"event {event_id}") from None
    return EventBotChoice(event_id=event_id, action=action, scope=result["scope"],
                          event=get_event(context(request).db, principal, number))


def _event_number(principal: Principal, request: Request, event_id: str) -> int:
    number = parse_public_id(event_id)
    if number is None or find_event_row(context(request).db, principal, number) is None:
        raise not_found(f"event {event_id}")
    return number


@router.post("/calendars/events/{event_id}/bot", response_model=EventBotChoice,
             summary="Record this event (all_occurrences: its whole series)")
async def schedule_bot(request: Request, event_id: str = Path(max_length=32),
                       all_occurrences: bool = Query(False, description="apply to every occurrence of the series"),
                       options: BotOptions | None = None,
                       principal: Principal = Depends(require_principal)) -> EventBotChoice:
    from bot.engine.requests import schedule_event_bot

    return _choose(request, principal, event_id, "record", lambda number: schedule_event_bot(
        context(request), team_id=principal.team_id, event_id=number, all_occurrences=all_occurrences,
        actor=principal.actor, member_id=principal.member_id,
        bot_config=options.model_dump(exclude_none=True) if options else None))


@router.delete("/calendars/events/{event_id}/bot", response_model=EventBotChoice,
               summary="Don't record this event (all_occurrences: its whole series)")
async def unschedule_bot(request: Request, event_id: str = Path(max_length=32),
                         all_occurrences: bool = Query(False, description="apply to every occurrence of the series"),
                         principal: Principal = Depends(require_principal)) -> EventBotChoice:
    from bot.engine.requests import cancel_event_bot

    return _choose(request, principal, event_id, "skip", lambda number: cancel_event_bot(
        context(request), team_id=principal.team_id, event_id=number, all_occurrences=all_occurrences,
        actor=principal.actor, member_id=principal.member_id))
