"""Request and response models of the REST API. Every response is one of these, so the OpenAPI
document at /api/openapi.json says exactly what a client gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

PLATFORMS = ("zoom", "meet", "teams", "webex", "goto", "chime", "whereby", "jitsi", "other")
Platform = Literal["zoom", "meet", "teams", "webex", "goto", "chime", "whereby", "jitsi", "other"]
RecordingStatus = Literal["none", "skip", "ask", "scheduled", "in_call", "completed", "failed"]
WebhookEventType = Literal["calendar.sync_events", "bot.scheduled", "bot.status_change", "bot.completed",
                           "bot.failed"]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = WebhookEventType.__args__


def _printable(value: str) -> str:
    """Text we store must be encodable and free of NULs: a lone surrogate from a JSON escape
    would otherwise fail deep inside SQLite, far from the request that sent it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_printable)]


# -- calendars ------------------------------------------------------------------------------

class Calendar(BaseModel):
    id: str = Field(description="calbot's id for this calendar")
    name: str | None
    provider: Literal["google", "microsoft"]
    account: str = Field(description="the calendar account's email")
    member: str = Field(description="Slack user id of the member who connected it")
    primary: bool
    selected: bool = Field(description="whether calbot syncs this calendar")
    timezone: str | None
    last_synced_at: datetime | None
    sync_error: str | None


class Provider(BaseModel):
    id: str = Field(description="calbot's id for this connection (one OAuth grant)")
    provider: Literal["google", "microsoft"]
    account: str
    status: Literal["active", "needs_reauth", "error", "disconnected"]
    member: str
    calendars: list[Calendar]


class ProvidersResponse(BaseModel):
    providers: list[Provider]


class CalendarsResponse(BaseModel):
    calendars: list[Calendar]


# -- events ---------------------------------------------------------------------------------

class Attendee(BaseModel):
    email: str
    name: str | None = None
    response: str | None = Field(None, description="accepted / tentative / declined / needsAction")
    organizer: bool = False
    external: bool = Field(False, description="outside the workspace's email domains")


class Organizer(BaseModel):
    email: str | None
    is_me: bool = Field(description="the calendar's owner organizes this event")


class Recording(BaseModel):
    status: RecordingStatus = Field(description=(
        "none: not decided yet · skip: will not be recorded · ask: waiting for a decision · "
        "scheduled: a bot is (being) scheduled · in_call · completed · failed"))
    desired: Literal["record", "ask", "skip"] | None = Field(description="the planner's decision")
    reason: str | None = Field(description="why, e.g. \"rule 2: title contains 'demo'\"")
    bot_id: str | None
    bot_status: str | None
    join_at: datetime | None
    video_url: str | None = None
    transcript_url: str | None = None
    error: str | None = None


class Event(BaseModel):
    id: str
    title: str
    start_time: datetime
    end_time: datetime
    meeting_url: str | None
    platform: str | None
    calendar_id: str
    series_id: str | None = Field(description="the recurring series this occurrence belongs to, if any")
    attendees: list[Attendee]
    organizer: Organizer
    recording: Recording
    status: Literal["confirmed", "tentative", "cancelled"]
    all_day: bool
    is_recurring: bool
    my_response: str | None
    timezone: str | None
    member: str = Field(description="Slack user id of the calendar's owner")
    updated_at: datetime = Field(description="when calbot last saw this event change")


class EventsResponse(BaseModel):
    events: list[Event]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


# -- bots -----------------------------------------------------------------------------------

class SpeechToText(BaseModel):
    provider: Text = Field(max_length=40, description="speech-to-text provider, e.g. \"Gladia\"")


class CreateBotRequest(BaseModel):
    """Seed-compatible: `scheduled_time` (or `start_time` / `join_at`) is when the bot joins."""

    meeting_url: Text = Field(max_length=2048, description="join link of a Zoom, Meet, Teams, ... meeting")
    scheduled_time: Text | None = Field(None, max_length=64, description="ISO 8601; naive means UTC; "
                                        "omitted: join now (as soon as the recorder allows, a minute or "
                                        "two ahead; the response's join_at says when)")
    start_time: Text | None = Field(None, max_length=64, description="alias of scheduled_time")
    join_at: Text | None = Field(None, max_length=64, description="alias of scheduled_time")
    bot_name: Text | None = Field(None, max_length=100)
    entry_message: Text | None = Field(None, max_length=500)
    speech_to_text: Text | SpeechToText | StrictBool | None = Field(
        None, description="a provider name (\"Gladia\"), {\"provider\": ...}, true for the default, "
                          "false or null for none")
    recording_mode: Literal["speaker_view", "gallery_view", "audio_only"] | None = None
    member: Text | None = Field(None, max_length=64, description="workspace keys: Slack user id the bot "
                                                                 "is requested for (optional)")


class CreateBotResponse(BaseModel):
    bot_id: str
    meeting_url: str
    join_at: datetime


# -- webhooks -------------------------------------------------------------------------------

class CreateWebhookRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "url": "https://example.com/calbot-hook", "events": ["calendar.sync_events", "bot.completed"]}})

    url: Text = Field(max_length=2048, description="http(s) URL that receives signed POSTs")
    events: list[WebhookEventType] | None = Field(None, min_length=1, max_length=len(WEBHOOK_EVENT_TYPES),
                                                  description="event types to send; omitted: all")
    description: Text | None = Field(None, max_length=200)


class UpdateWebhookRequest(BaseModel):
    url: Text | None = Field(None, max_length=2048)
    events: list[WebhookEventType] | None = Field(None, min_length=1, max_length=len(WEBHOOK_EVENT_TYPES))
    description: Text | None = Field(None, max_length=200)
    status: Literal["active", "disabled"] | None = Field(None, description="active re-enables a disabled endpoint")


class Webhook(BaseModel):
    id: str
    url: str
    events: list[WebhookEventType]
    description: str | None
    status: Literal["active", "disabled"]
    member: str | None = Field(description="set when created with a member key: only that member's events are sent")
    created_at: datetime
    failing_since: datetime | None
    disabled_at: datetime | None
    last_error: str | None


class CreatedWebhook(Webhook):
    secret: str = Field(description="Standard Webhooks signing secret (whsec_...); shown only once")


class WebhooksResponse(BaseModel):
    webhooks: list[Webhook]


class Delivery(BaseModel):
    webhook_id: str = Field(description="the webhook-id header: the same on every retry")
    type: str
    status: Literal["pending", "sending", "sent", "failed", "cancelled"]
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class DeliveriesResponse(BaseModel):
    deliveries: list[Delivery]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null on the last page")


class Deleted(BaseModel):
    id: str
    deleted: bool
