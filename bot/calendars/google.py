"""Google Calendar (API v3) behind the `CalendarProvider` interface.

OAuth 2.0 authorization code + PKCE (S256) with offline access through authlib; Calendar v3 over
`httpx.AsyncClient`; Google's errors turned into the interface's exceptions:

| Google says                                        | we raise                                  |
| -------------------------------------------------- | ----------------------------------------- |
| token endpoint `invalid_grant`                     | `AuthRevoked`                             |
| 401 on an API call                                 | `AccessTokenRejected` (refresh, retry once) |
| 403 `insufficientPermissions` (scope not granted)  | `AuthRevoked`                             |
| 403 `usageLimits` reasons (rateLimitExceeded, ...), 429 | `RateLimited` (`retry_after` from Retry-After) |
| 404                                                | `NotFound`                                |
| 410 on events.list (`fullSyncRequired`)            | `SyncTokenExpired`                        |
| 5xx, timeouts, connection errors                   | `ProviderError` (transient)               |
| any other 4xx                                      | `ProviderError` (not transient)           |

Tokens never reach a log or an exception message: they travel only in headers and form bodies.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from bot.calendars.oauth_client import AsyncOAuth2Client, OAuthError

from bot.calendars.base import (
    AccessTokenRejected,
    AuthRevoked,
    EventContext,
    EventsPage,
    NotFound,
    ProviderError,
    PushChannel,
    RateLimited,
    RemoteCalendar,
    SyncTokenExpired,
    TokenSet,
)
from bot.calendars.links import detect_meeting
from bot.calendars.provider_http import internal_domains, is_external, permanent, read_json, retry_after
from bot.config import Settings
from bot.models import Attendee, NormalizedEvent
from bot.timeutil import Clock

UTC = timezone.utc

# Least privilege that still lets calbot do its job, checked against the discovery document:
# - calendarList.list (the calendar picker) accepts calendar.calendarlist.readonly;
# - events.list, events.watch and channels.stop all accept calendar.events.readonly.
# Together these are narrower than calendar.readonly, which would also expose ACLs, settings and
# calendar metadata; both are read-only, so calbot can never change anyone's calendar.
# `openid email` put the account's address in the id_token, so no userinfo call is needed.
CALENDAR_SCOPES = (
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
    "https://www.googleapis.com/auth/calendar.events.readonly",
)
SCOPES = ("openid", "email", *CALENDAR_SCOPES)

PAGE_SIZE = 2500  # Google's maximum for events.list
_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"})
# Event types that are not meetings: nothing to record, so they are not normalised at all.
_NOT_MEETINGS = frozenset({"workingLocation", "outOfOffice", "focusTime", "birthday"})
_STATUSES = frozenset({"confirmed", "tentative", "cancelled"})


class GoogleCalendar:
    """The Google adapter. One instance serves every Google connection (tokens are per call)."""

    name = "google"

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None, *,
                 clock: Clock | None = None, timeout: float = 30.0) -> None:
        self._settings = settings
        self._api = settings.calbot_google_api_url.rstrip("/")
        self._token_url = settings.calbot_google_token_url
        self._clock = clock or Clock()
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0))
        # authlib speaks the token endpoint (client auth, PKCE verifier, error bodies). It is its
        # own httpx client; API calls go through `self._http`.
        self._oauth = AsyncOAuth2Client(
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
            token_endpoint_auth_method="client_secret_post",
            code_challenge_method="S256",
            timeout=timeout,
        )
        self._oauth.register_compliance_hook("access_token_response", _raise_for_throttle)
        self._oauth.register_compliance_hook("refresh_token_response", _raise_for_throttle)

    # -- OAuth -------------------------------------------------------------------------------

    def authorization_url(self, *, state: str, code_verifier: str, redirect_uri: str) -> str:
        url, _ = self._oauth.create_authorization_url(
            self._settings.calbot_google_auth_url,
            state=state,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            scope=" ".join(SCOPES),
            access_type="offline",          # a refresh token
            prompt="consent",               # ... every time, even on a reconnect
            include_granted_scopes="true",
        )
        return url

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> TokenSet:
        token = await self._token_call(
            self._oauth.fetch_token(
                self._token_url, grant_type="authorization_code", code=code,
                code_verifier=code_verifier, redirect_uri=redirect_uri,
            )
        )
        tokens = self._token_set(token, previous_refresh=None)
        missing = missing_scopes(tokens)
        if missing:
            # Granular consent: the person unticked calendar access. Nothing works without it.
            raise AuthRevoked("calendar access was not granted; connect again and allow calendar access")
        return tokens

    async def refresh(self, refresh_token: str) -> TokenSet:
        token = await self._token_call(self._oauth.refresh_token(self._token_url, refresh_token=refresh_token))
        return self._token_set(token, previous_refresh=refresh_token)

    async def revoke(self, token: str) -> None:
        """Best-effort revocation at Google's `/revoke` (beside the token endpoint) on disconnect."""
        url = self._token_url.rsplit("/", 1)[0] + "/revoke"
        try:
            await self._http.post(url, data={"token": token})
        except httpx.HTTPError:
            pass

    async def account_email(self, tokens: TokenSet) -> str:
        email = id_token_email(tokens.id_token) if tokens.id_token else None
        if email:
            return email
        entry = await self._get(tokens.access_token, "/users/me/calendarList/primary", {})
        return entry["id"]

    async def _token_call(self, call) -> dict:
        try:
            return await call
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise AuthRevoked("Google refused the grant (invalid_grant): it was revoked or expired") from None
            raise permanent(ProviderError(f"Google token endpoint: {exc.error}", status=400)) from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            error = ProviderError(f"Google token endpoint answered {status}", status=status,
                                  retry_after=retry_after(exc.response))
            raise (error if status >= 500 else permanent(error)) from None
        except httpx.TimeoutException:
            raise ProviderError("Google token endpoint timed out") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"Google token endpoint unreachable: {type(exc).__name__}") from None
        except ValueError:
            raise ProviderError("Google token endpoint sent an unreadable answer") from None

    def _token_set(self, token: dict, *, previous_refresh: str | None) -> TokenSet:
        expires_in = token.get("expires_in")
        expires_at = self._clock.now() + timedelta(seconds=int(expires_in)) if expires_in is not None else None
        return TokenSet(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token") or previous_refresh,
            expires_at=expires_at,
            scope=token.get("scope"),
            id_token=token.get("id_token"),
        )

    # -- Calendar API ------------------------------------------------------------------------

    async def list_calendars(self, access_token: str) -> list[RemoteCalendar]:
        calendars: list[RemoteCalendar] = []
        params: dict[str, str] = {"maxResults": "250"}
        while True:
            page = await self._get(access_token, "/users/me/calendarList", params)
            for entry in page.get("items", ()):
                if entry.get("deleted"):
                    continue
                calendars.append(RemoteCalendar(
                    id=entry["id"],
                    name=entry.get("summaryOverride") or entry.get("summary") or entry["id"],
                    timezone=entry.get("timeZone"),
                    is_primary=bool(entry.get("primary")),
                ))
            next_page = page.get("nextPageToken")
            if not next_page:
                return calendars
            params = {"maxResults": "250", "pageToken": next_page}

    async def list_events(self, access_token: str, calendar_id: str, *, window_start: datetime,
                          window_end: datetime, sync_token: str | None = None,
                          page_token: str | None = None) -> EventsPage:
        params: dict[str, str] = {"singleEvents": "true", "maxResults": str(PAGE_SIZE)}
        if sync_token:
            # Google rejects time bounds with a sync token; the window applies to full syncs only.
            params["syncToken"] = sync_token
        else:
            params["timeMin"] = _rfc3339(window_start)
            params["timeMax"] = _rfc3339(window_end)
        if page_token:
            params["pageToken"] = page_token
        page = await self._get(access_token, f"/calendars/{_segment(calendar_id)}/events", params, listing=True)
        return EventsPage(
            events=page.get("items", []),
            next_page=page.get("nextPageToken"),
            sync_token=page.get("nextSyncToken"),
        )

    async def watch(self, access_token: str, calendar_id: str, *, address: str, secret: str,
                    expires_at: datetime, lifecycle_address: str | None = None) -> PushChannel:
        ttl = max(60, int((expires_at - self._clock.now()).total_seconds()))
        body = {
            "id": str(uuid.uuid4()),
            "type": "web_hook",
            "address": address,
            "token": secret,  # echoed as X-Goog-Channel-Token on every notification
            "params": {"ttl": str(ttl)},
        }
        channel = await self._post(access_token, f"/calendars/{_segment(calendar_id)}/events/watch", body)
        expiration = channel.get("expiration")
        return PushChannel(
            channel_id=channel.get("id", body["id"]),
            resource_id=channel.get("resourceId"),
            expires_at=(datetime.fromtimestamp(int(expiration) / 1000, UTC) if expiration
                        else self._clock.now() + timedelta(seconds=ttl)),
        )

    async def renew(self, access_token: str, channel: PushChannel, *, expires_at: datetime) -> PushChannel | None:
        return None  # Google channels cannot be extended: the engine watches again and stops the old one

    async def stop(self, access_token: str, channel: PushChannel) -> None:
        try:
            await self._post(access_token, "/channels/stop",
                             {"id": channel.channel_id, "resourceId": channel.resource_id})
        except NotFound:
            pass  # already expired or stopped: the goal is reached

    async def aclose(self) -> None:
        await self._oauth.aclose()
        if self._owns_http:
            await self._http.aclose()

    # -- HTTP --------------------------------------------------------------------------------

    async def _get(self, access_token: str, path: str, params: dict[str, str], *, listing: bool = False) -> dict:
        try:
            response = await self._http.get(self._api + path, params=params, headers=_auth(access_token))
        except httpx.TimeoutException:
            raise ProviderError("Google Calendar API timed out") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"Google Calendar API unreachable: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise _api_error(response, listing=listing)
        return read_json(response, "Google Calendar API")

    async def _post(self, access_token: str, path: str, body: dict) -> dict:
        try:
            response = await self._http.post(self._api + path, json=body, headers=_auth(access_token))
        except httpx.TimeoutException:
            raise ProviderError("Google Calendar API timed out") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"Google Calendar API unreachable: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise _api_error(response, listing=False)
        return read_json(response, "Google Calendar API") if response.content else {}

    # -- events ------------------------------------------------------------------------------

    def removed_id(self, raw: dict[str, Any]) -> str | None:
        return raw.get("id") if raw.get("status") == "cancelled" else None

    def normalize(self, raw: dict[str, Any], context: EventContext) -> NormalizedEvent | None:
        return normalize(raw, context)


# -- pure normalisation ------------------------------------------------------------------------

def normalize(raw: dict[str, Any], context: EventContext) -> NormalizedEvent | None:
    """A Google Event resource → `NormalizedEvent`; None for what is not an event we track
    (a cancelled tombstone without times, working-location / out-of-office / focus-time /
    birthday entries)."""
    start = raw.get("start")
    end = raw.get("end")
    if not start or not end or raw.get("eventType") in _NOT_MEETINGS:
        return None
    event_zone = start.get("timeZone") or context.calendar_timezone
    if "dateTime" in start:
        all_day = False
        start_at = _instant(start["dateTime"], event_zone)
        end_at = _instant(end.get("dateTime") or start["dateTime"], end.get("timeZone") or event_zone)
    elif "date" in start:
        all_day = True
        day_zone = _zone(context.calendar_timezone)
        start_at = _day_start(start["date"], day_zone)
        end_at = _day_start(end.get("date") or start["date"], day_zone)
    else:
        return None

    organizer = raw.get("organizer") or {}
    organizer_self = bool(organizer.get("self"))
    my_response = "organizer" if organizer_self else None
    internal = internal_domains(context.internal_domains, context.account_email)
    attendees = []
    construct = Attendee.model_construct
    for item in raw.get("attendees") or ():
        email = item.get("email") or ""
        is_self = bool(item.get("self"))
        is_resource = bool(item.get("resource"))
        response = item.get("responseStatus")
        if is_self and my_response is None:
            my_response = response
        attendees.append(construct(
            email=email,
            name=item.get("displayName") or "",
            response=response,
            external=not (is_self or is_resource) and is_external(email, internal),
            self=is_self,
            resource=is_resource,
            organizer=bool(item.get("organizer")),
        ))

    meeting = detect_meeting("google", raw)
    status = raw.get("status") or "confirmed"
    original = raw.get("originalStartTime")
    updated = raw.get("updated")
    return NormalizedEvent.from_adapter(
        provider_event_id=raw["id"],
        ical_uid=raw.get("iCalUID"),
        series_id=raw.get("recurringEventId"),
        original_start=_when(original, event_zone, context.calendar_timezone) if original else None,
        title=raw.get("summary") or "",
        description=raw.get("description") or "",
        location=raw.get("location") or "",
        start_at=start_at,
        end_at=end_at,
        timezone=event_zone,
        all_day=all_day,
        status=status if status in _STATUSES else "confirmed",
        my_response=my_response,
        organizer_email=organizer.get("email"),
        organizer_self=organizer_self,
        attendees=attendees,
        meeting_url=meeting.url if meeting else None,
        platform=meeting.platform if meeting else None,
        meeting_key=meeting.key if meeting else None,
        provider_updated=_instant(updated, None) if updated else None,
    )


def id_token_email(id_token: str) -> str | None:
    """The `email` claim of an id_token. Read without verifying the signature: it came straight
    from Google's token endpoint over TLS (OpenID Connect Core 3.1.3.7 allows this)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    if not isinstance(email, str) or claims.get("email_verified") is False:
        return None
    return email


def missing_scopes(tokens: TokenSet) -> set[str]:
    """Calendar scopes the person did not grant (granular consent lets them untick some).

    calendar.readonly (or broader) granted earlier covers both of ours.
    """
    granted = set((tokens.scope or "").split())
    broader = {"https://www.googleapis.com/auth/calendar.readonly", "https://www.googleapis.com/auth/calendar"}
    if granted & broader:
        return set()
    return set(CALENDAR_SCOPES) - granted


# -- helpers -----------------------------------------------------------------------------------

def _auth(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def _segment(calendar_id: str) -> str:
    return quote(calendar_id, safe="")


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _api_error(response: httpx.Response, *, listing: bool) -> ProviderError:
    status = response.status_code
    reason, message = "", ""
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            details = error.get("errors") or [{}]
            reason = str(details[0].get("reason") or "")
            domain = str(details[0].get("domain") or "")
            location = str(details[0].get("location") or "")
        else:
            domain = location = ""
    except (ValueError, AttributeError, IndexError, TypeError):
        domain = location = ""
    text = f"Google Calendar API {status}" + (f" {reason}" if reason else "") + (f": {message}" if message else "")
    wait = retry_after(response)
    if status == 429 or (status == 403 and (reason in _RATE_LIMIT_REASONS or domain == "usageLimits")):
        return RateLimited(text, status=status, retry_after=wait)
    if status == 401:
        return AccessTokenRejected(text, status=status)
    if status == 403 and reason in ("insufficientPermissions", "authError"):
        return AuthRevoked(text, status=status)
    if status == 404:
        return NotFound(text, status=status)
    if status == 410:
        if listing or reason == "fullSyncRequired":
            return SyncTokenExpired(text, status=status)
        return NotFound(text, status=status)
    if status == 400 and listing and location == "syncToken":
        return SyncTokenExpired(text, status=status)
    error = ProviderError(text, status=status, retry_after=wait)
    return error if status >= 500 else permanent(error)


def _raise_for_throttle(response: httpx.Response) -> httpx.Response:
    """authlib hook: a throttled token endpoint is a rate limit, not an OAuth error."""
    if response.status_code == 429:
        raise RateLimited("Google token endpoint rate-limited us", status=429, retry_after=retry_after(response))
    return response


@lru_cache(maxsize=512)
def _zone(name: str | None) -> ZoneInfo | timezone:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _instant(text: str, zone_name: str | None) -> datetime:
    moment = datetime.fromisoformat(text)  # Python 3.11 reads 'Z' and offsets
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(zone_name))
    return moment.astimezone(UTC)


def _day_start(day: str, zone: ZoneInfo | timezone) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=zone).astimezone(UTC)


def _when(value: dict, zone_name: str | None, calendar_zone: str | None) -> datetime | None:
    if "dateTime" in value:
        return _instant(value["dateTime"], value.get("timeZone") or zone_name)
    if "date" in value:
        return _day_start(value["date"], _zone(calendar_zone))
    return None


