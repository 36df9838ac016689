"""Plain models shared by the core: what the engine knows of events, with no vendor fields."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

EventStatus = Literal["confirmed", "tentative", "cancelled"]
Response = Literal["accepted", "tentative", "declined", "needsAction", "organizer"]


class Attendee(BaseModel):
    email: str = ""
    name: str = ""
    response: str | None = None  # accepted / tentative / declined / needsAction
    external: bool = False       # not in the workspace's email domains
    self: bool = False           # this is the calendar owner
    resource: bool = False       # a room or equipment, not a person
    organizer: bool = False


class NormalizedEvent(BaseModel):
    """One occurrence of an event on one calendar, in calbot's terms (UTC, no vendor fields).

    Provider adapters produce these from raw events; the syncer stores them.
    """

    provider_event_id: str
    ical_uid: str | None = None
    series_id: str | None = None          # recurring master id; None for single events
    original_start: datetime | None = None  # the slot a series occurrence was generated for
    title: str = ""
    description: str = ""
    location: str = ""
    start_at: datetime
    end_at: datetime
    timezone: str | None = None
    all_day: bool = False
    status: EventStatus = "confirmed"
    my_response: str | None = None
    organizer_email: str | None = None
    organizer_self: bool = False
    attendees: list[Attendee] = Field(default_factory=list)
    meeting_url: str | None = None
    platform: str | None = None
    meeting_key: str | None = None        # normalized join URL (links.normalize_join_url)
    provider_updated: datetime | None = None

    @classmethod
    def from_adapter(cls, **values) -> "NormalizedEvent":
        """An event from values an adapter has already typed, every field given.

        What `model_construct` does, less its per-field default and alias handling (~4 µs an
        event, ~5% of a full sync's CPU); with a field missing it *is* model_construct.
        """
        if len(values) != len(cls.model_fields):
            return cls.model_construct(**values)
        event = cls.__new__(cls)
        object.__setattr__(event, "__dict__", values)
        object.__setattr__(event, "__pydantic_fields_set__", set(values))
        object.__setattr__(event, "__pydantic_extra__", None)
        object.__setattr__(event, "__pydantic_private__", None)
        return event

    @property
    def attendee_count(self) -> int:
        return sum(1 for a in self.attendees if not a.resource)

    @property
    def has_external(self) -> bool:
        return any(a.external and not a.resource for a in self.attendees)

    @property
    def is_recurring(self) -> bool:
        return self.series_id is not None

    def content_hash(self) -> str:
        """A digest of everything calbot cares about, so unchanged events are not rewritten.

        `provider_updated` is left out on purpose: providers bump it for changes we ignore.
        """
        data = self.model_dump(mode="json", exclude={"provider_updated"})
        return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]
