"""The `CalendarProvider` interface: everything the engine needs from Google or Microsoft.

The engine never sees a vendor field. Adapters (google.py, microsoft.py) speak the wire
protocol, translate vendor errors into the exceptions below, and turn raw events into
`NormalizedEvent`s with a pure `normalize` function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.models import NormalizedEvent


# -- errors the engine understands ------------------------------------------------------------

class ProviderError(Exception):
    """A provider call failed. `transient` errors are retried with backoff."""

    transient: bool = True

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RateLimited(ProviderError):
    """429 or a 403 rate-limit reason; `retry_after` seconds when the provider said."""


class AuthRevoked(ProviderError):
    """The grant is gone (invalid_grant, consent revoked): the connection needs re-authorisation."""

    transient = False


class AccessTokenRejected(ProviderError):
    """401: the access token was not accepted (expired early, or the grant was revoked).

    Refresh the tokens and retry once; if the refresh raises `AuthRevoked`, the grant is gone.
    Transient, so code that does not know this class still backs off and retries.
    """


class SyncTokenExpired(ProviderError):
    """Google 410 / Graph syncStateNotFound: drop the sync state and do a full sync."""

    transient = False


class NotFound(ProviderError):
    """The calendar or channel no longer exists."""

    transient = False


# -- values ------------------------------------------------------------------------------------

@dataclass
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scope: str | None = None
    id_token: str | None = None


@dataclass
class RemoteCalendar:
    id: str
    name: str
    timezone: str | None = None
    is_primary: bool = False


@dataclass
class EventsPage:
    """One page of an events listing (full or incremental).

    `events` are raw provider events (cancelled ones included: on an incremental sync Google
    reports deletions as status=cancelled); `removed` lists provider ids the provider says are
    gone (Graph `@removed`). When `next_page` is None the listing is complete and `sync_token`
    is what to use for the next incremental sync.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    next_page: str | None = None
    sync_token: str | None = None


@dataclass
class PushChannel:
    """A Google watch channel or a Graph subscription."""

    channel_id: str
    resource_id: str | None
    expires_at: datetime


@dataclass
class EventContext:
    """What normalisation needs to know beyond the raw event."""

    account_email: str
    calendar_id: str
    calendar_timezone: str | None
    internal_domains: frozenset[str]


# -- the interface -----------------------------------------------------------------------------

class CalendarProvider(Protocol):
    name: str  # "google" | "microsoft"

    # OAuth 2.0 authorization code flow with PKCE (S256) and offline access.
    def authorization_url(self, *, state: str, code_verifier: str, redirect_uri: str) -> str: ...
    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> TokenSet: ...
    async def refresh(self, refresh_token: str) -> TokenSet: ...
    async def account_email(self, tokens: TokenSet) -> str: ...

    async def list_calendars(self, access_token: str) -> list[RemoteCalendar]: ...

    async def list_events(
        self,
        access_token: str,
        calendar_id: str,
        *,
        window_start: datetime,
        window_end: datetime,
        sync_token: str | None = None,
        page_token: str | None = None,
    ) -> EventsPage: ...

    def normalize(self, raw: dict[str, Any], context: EventContext) -> NormalizedEvent | None: ...
    def removed_id(self, raw: dict[str, Any]) -> str | None:
        """The provider id when `raw` says the event is gone (else None)."""
        ...

    # Push: Google watch channels / Graph subscriptions.
    async def watch(
        self, access_token: str, calendar_id: str, *, address: str, secret: str, expires_at: datetime,
        lifecycle_address: str | None = None,
    ) -> PushChannel: ...
    async def renew(self, access_token: str, channel: PushChannel, *, expires_at: datetime) -> PushChannel | None:
        """Extend a channel in place (Graph); None when the provider cannot (Google: re-watch)."""
        ...
    async def stop(self, access_token: str, channel: PushChannel) -> None: ...

    async def aclose(self) -> None: ...
