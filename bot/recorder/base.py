"""The `Recorder` interface: scheduling recording bots, whatever the vendor.

Meeting BaaS v2 scheduled bots is the one implementation (meetingbaas.py). The reconciler
calls this; it never sees a vendor field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class RecorderError(Exception):
    """A recorder call failed. Transient errors are retried with backoff."""

    transient: bool = True

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.code = code


class RecorderRateLimited(RecorderError):
    pass


class RecorderLocked(RecorderError):
    """The bot can no longer be changed (inside the 4-minute window before join, or not
    `scheduled` any more): the caller must delete + create, or live with it."""

    transient = False


class RecorderNotFound(RecorderError):
    transient = False


class RecorderRejected(RecorderError):
    """The recorder refused the request as invalid (400): retrying the same thing won't help."""

    transient = False


@dataclass
class BotConfig:
    """What the bot looks like in the meeting. Built policy → rule → meeting override."""

    bot_name: str = "calbot recorder"
    entry_message: str | None = None
    recording_mode: str = "speaker_view"     # speaker_view / gallery_view / audio_only
    speech_to_text: str | None = None        # provider name (e.g. "gladia") or None for off
    bot_image: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScheduledBot:
    bot_id: str
    meeting_url: str
    join_at: datetime
    status: str                              # scheduled / completed / failed / ...
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BotEvent:
    """A status callback or webhook from the recorder, in calbot's terms."""

    bot_id: str
    kind: str            # joining / in_call / completed / failed / refused / removed / status
    status_code: str | None = None
    reason: str | None = None
    video_url: str | None = None
    transcript_url: str | None = None
    audio_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None  # the sender's id for this delivery, for de-duplication


class Recorder(Protocol):
    name: str

    async def schedule(self, *, meeting_url: str, join_at: datetime, config: BotConfig,
                       idempotency_key: str, callback_url: str, callback_secret: str) -> str:
        """Create a scheduled bot; returns the recorder's bot id."""
        ...

    async def reschedule(self, bot_id: str, *, join_at: datetime, meeting_url: str | None = None,
                         config: BotConfig | None = None) -> None: ...

    async def cancel(self, bot_id: str) -> None:
        """Delete a scheduled bot. Already gone counts as done."""
        ...

    async def find_by_key(self, idempotency_key: str) -> ScheduledBot | None:
        """The bot created with this key, if any (adopt after a crash)."""
        ...

    async def aclose(self) -> None: ...
