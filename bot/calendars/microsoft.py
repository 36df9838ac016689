"""Microsoft 365 (Graph v1.0) behind the `CalendarProvider` interface.

OAuth 2.0 authorization code + PKCE (S256) with `offline_access` through authlib against the
Microsoft identity platform (`settings.microsoft_authority`); Graph over `httpx.AsyncClient`.
Scopes are least-privilege and read-only: `User.Read` (for `/me`, the account's address) and
`Calendars.Read` (calendars, calendarView delta, event subscriptions).

Sync is `calendarView/delta` per calendar and window: the first round lists every occurrence in
the window, later rounds (the stored `@odata.deltaLink`) only what changed, with `@removed` for
what left. Two things real Graph does that this adapter absorbs:

- Delta reports series **occurrences** with only id, type, seriesMasterId, start and end. The
  adapter fetches each series master once per page (`GET /me/events/{id}`) and merges its fields
  into the occurrences, so `normalize` sees complete events. A master that is gone means its
  occurrences are gone.
- Outlook allows at most 4 concurrent requests per mailbox (MailboxConcurrency, 429
  `ApplicationThrottled`). Every request waits for one of 4 slots of its mailbox; the mailbox is
  recognised from the access token's `tid`/`oid` claims, so a refreshed token shares the slots.

Errors become the interface's exceptions:

| Graph / identity platform says                        | we raise                                    |
| ----------------------------------------------------- | ------------------------------------------- |
| token endpoint `invalid_grant`, `interaction_required` | `AuthRevoked`                               |
| 401 on a Graph call                                   | `AccessTokenRejected` (refresh, retry once) |
| 403 `ErrorAccessDenied` / `Authorization_RequestDenied` | `AuthRevoked`                             |
| 429 (incl. MailboxConcurrency)                        | `RateLimited` (`retry_after` from Retry-After) |
| 404                                                   | `NotFound`                                  |
| 410 (`syncStateNotFound`, `resyncRequired`) on delta  | `SyncTokenExpired`                          |
| 5xx (503 with its Retry-After), timeouts, connection errors | `ProviderError` (transient)           |
| any other 4xx                                         | `ProviderError` (not transient)             |

Tokens never reach a log or an exception message: they travel only in headers and form bodies.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import re
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone
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
from bot.calendars.provider_http import internal_domains, is_external, permanent, read_json, retry_after
from bot.config import Settings
from bot.models import Attendee, NormalizedEvent
from bot.timeutil import Clock

UTC = timezone.utc

SCOPES = ("offline_access", "openid", "email", "User.Read", "Calendars.Read")
CALENDAR_PERMISSIONS = frozenset({"calendars.read", "calendars.readwrite", "calendars.read.shared",
                                  "calendars.readwrite.shared"})
PAGE_SIZE = 200                   # Prefer: odata.maxpagesize for calendarView/delta
MAILBOX_CONCURRENCY = 4           # Outlook's per-app, per-mailbox limit
# Graph documents 10,080 minutes for Outlook event subscriptions today, 4,230 historically:
# staying under the smaller (with a margin for clock skew) works everywhere.
SUBSCRIPTION_MAX = timedelta(minutes=4230) - timedelta(minutes=10)
CHANGE_TYPES = "created,updated,deleted"
PRIMARY_ALIASES = frozenset({"", "primary", "default"})
ROUND_WINDOW_SLACK = timedelta(days=1)
_WINDOW_MARK = "#calbot-window="
# What a merged occurrence must not inherit from its series master.
_OCCURRENCE_OWN = frozenset({"@odata.context", "@odata.etag", "@odata.type", "id", "type", "seriesMasterId",
                             "start", "end", "recurrence", "changeKey", "webLink", "originalStart"})
_MASTER_FIELDS = (
    "subject,body,bodyPreview,location,locations,organizer,attendees,isOnlineMeeting,onlineMeetingProvider,"
    "onlineMeeting,onlineMeetingUrl,responseStatus,isOrganizer,isCancelled,isAllDay,iCalUId,showAs,"
    "lastModifiedDateTime,originalStartTimeZone,originalEndTimeZone,sensitivity,categories,type"
)
_REAUTH_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required", "login_required"})
_ACCESS_DENIED = frozenset({"erroraccessdenied", "authorization_requestdenied", "accessdenied"})
_SYNC_RESET = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid", "errorinvalidsyncstatedata"})

_RESPONSES = {
    "organizer": "organizer", "accepted": "accepted", "tentativelyaccepted": "tentative",
    "declined": "declined", "notresponded": "needsAction", "none": "needsAction",
}

# Windows time zone names (Graph's originalStartTimeZone, recurrenceTimeZone) → IANA (CLDR).
WINDOWS_TO_IANA = {
    "UTC": "UTC", "Coordinated Universal Time": "UTC", "tzone://Microsoft/Utc": "UTC",
    "UTC-11": "Etc/GMT+11", "UTC-02": "Etc/GMT+2", "UTC-08": "Etc/GMT+8", "UTC-09": "Etc/GMT+9",
    "UTC+12": "Etc/GMT-12", "UTC+13": "Etc/GMT-13", "Dateline Standard Time": "Etc/GMT+12",
    "Hawaiian Standard Time": "Pacific/Honolulu", "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles", "Pacific Standard Time (Mexico)": "America/Tijuana",
    "US Mountain Standard Time": "America/Phoenix", "Mountain Standard Time": "America/Denver",
    "Mountain Standard Time (Mexico)": "America/Mazatlan", "Central America Standard Time": "America/Guatemala",
    "Central Standard Time": "America/Chicago", "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina", "SA Pacific Standard Time": "America/Bogota",
    "Eastern Standard Time": "America/New_York", "US Eastern Standard Time": "America/Indiana/Indianapolis",
    "Eastern Standard Time (Mexico)": "America/Cancun", "Venezuela Standard Time": "America/Caracas",
    "Atlantic Standard Time": "America/Halifax", "SA Western Standard Time": "America/La_Paz",
    "Pacific SA Standard Time": "America/Santiago", "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo", "Argentina Standard Time": "America/Buenos_Aires",
    "SA Eastern Standard Time": "America/Cayenne", "Montevideo Standard Time": "America/Montevideo",
    "Greenland Standard Time": "America/Godthab", "Azores Standard Time": "Atlantic/Azores",
    "Cape Verde Standard Time": "Atlantic/Cape_Verde", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "Morocco Standard Time": "Africa/Casablanca",
    "W. Europe Standard Time": "Europe/Berlin", "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris", "Central European Standard Time": "Europe/Warsaw",
    "W. Central Africa Standard Time": "Africa/Lagos", "GTB Standard Time": "Europe/Bucharest",
    "E. Europe Standard Time": "Europe/Chisinau", "FLE Standard Time": "Europe/Kiev",
    "Egypt Standard Time": "Africa/Cairo", "South Africa Standard Time": "Africa/Johannesburg",
    "Israel Standard Time": "Asia/Jerusalem", "Jordan Standard Time": "Asia/Amman",
    "Middle East Standard Time": "Asia/Beirut", "Syria Standard Time": "Asia/Damascus",
    "Turkey Standard Time": "Europe/Istanbul", "Kaliningrad Standard Time": "Europe/Kaliningrad",
    "Arabic Standard Time": "Asia/Baghdad", "Arab Standard Time": "Asia/Riyadh",
    "Belarus Standard Time": "Europe/Minsk", "Russian Standard Time": "Europe/Moscow",
    "E. Africa Standard Time": "Africa/Nairobi", "Iran Standard Time": "Asia/Tehran",
    "Arabian Standard Time": "Asia/Dubai", "Azerbaijan Standard Time": "Asia/Baku",
    "Georgian Standard Time": "Asia/Tbilisi", "Caucasus Standard Time": "Asia/Yerevan",
    "Afghanistan Standard Time": "Asia/Kabul", "West Asia Standard Time": "Asia/Tashkent",
    "Ekaterinburg Standard Time": "Asia/Yekaterinburg", "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata", "Sri Lanka Standard Time": "Asia/Colombo",
    "Nepal Standard Time": "Asia/Kathmandu", "Central Asia Standard Time": "Asia/Almaty",
    "Bangladesh Standard Time": "Asia/Dhaka", "Myanmar Standard Time": "Asia/Rangoon",
    "SE Asia Standard Time": "Asia/Bangkok", "N. Central Asia Standard Time": "Asia/Novosibirsk",
    "China Standard Time": "Asia/Shanghai", "North Asia Standard Time": "Asia/Krasnoyarsk",
    "Singapore Standard Time": "Asia/Singapore", "W. Australia Standard Time": "Australia/Perth",
    "Taipei Standard Time": "Asia/Taipei", "Ulaanbaatar Standard Time": "Asia/Ulaanbaatar",
    "North Asia East Standard Time": "Asia/Irkutsk", "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul", "Yakutsk Standard Time": "Asia/Yakutsk",
    "Cen. Australia Standard Time": "Australia/Adelaide", "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane", "AUS Eastern Standard Time": "Australia/Sydney",
    "West Pacific Standard Time": "Pacific/Port_Moresby", "Tasmania Standard Time": "Australia/Hobart",
    "Vladivostok Standard Time": "Asia/Vladivostok", "Central Pacific Standard Time": "Pacific/Guadalcanal",
    "New Zealand Standard Time": "Pacific/Auckland", "Fiji Standard Time": "Pacific/Fiji",
    "Tonga Standard Time": "Pacific/Tongatapu", "Samoa Standard Time": "Pacific/Apia",
}


class MicrosoftCalendar:
    """The Microsoft adapter. One instance serves every Microsoft connection (tokens are per call)."""

    name = "microsoft"

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None, *,
                 clock: Clock | None = None, timeout: float = 30.0, page_size: int = PAGE_SIZE,
                 mailbox_concurrency: int = MAILBOX_CONCURRENCY) -> None:
        self._settings = settings
        self._graph = settings.calbot_graph_api_url.rstrip("/")
        self._graph_version = self._graph.rsplit("/", 1)[-1]
        self._authority = settings.microsoft_authority
        self._clock = clock or Clock()
        self._page_size = page_size
        self._concurrency = mailbox_concurrency
        self._slots: OrderedDict[str, asyncio.Semaphore] = OrderedDict()
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0))
        # authlib speaks the token endpoint (client auth, PKCE verifier, error bodies) with its own
        # httpx client; Graph calls go through `self._http`.
        self._oauth = AsyncOAuth2Client(
            client_id=settings.microsoft_client_id,
            client_secret=settings.microsoft_client_secret,
            token_endpoint_auth_method="client_secret_post",
            code_challenge_method="S256",
            timeout=timeout,
        )
        self._oauth.register_compliance_hook("access_token_response", _raise_for_throttle)
        self._oauth.register_compliance_hook("refresh_token_response", _raise_for_throttle)

    # -- OAuth -------------------------------------------------------------------------------

    @property
    def _token_url(self) -> str:
        return f"{self._authority}/token"

    def authorization_url(self, *, state: str, code_verifier: str, redirect_uri: str) -> str:
        url, _ = self._oauth.create_authorization_url(
            f"{self._authority}/authorize",
            state=state,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            scope=" ".join(SCOPES),
            response_mode="query",
            prompt="select_account",   # members may connect several accounts: let them pick
        )
        return url

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> TokenSet:
        token = await self._token_call(self._oauth.fetch_token(
            self._token_url, grant_type="authorization_code", code=code, code_verifier=code_verifier,
            redirect_uri=redirect_uri, scope=" ".join(SCOPES),
        ))
        tokens = self._token_set(token, previous_refresh=None)
        if not has_calendar_permission(tokens.scope):
            raise AuthRevoked("calendar access was not granted; connect again and allow calendar access")
        return tokens

    async def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens. Microsoft rotates refresh tokens: the returned one replaces the old."""
        token = await self._token_call(self._oauth.refresh_token(
            self._token_url, refresh_token=refresh_token, scope=" ".join(SCOPES)))
        return self._token_set(token, previous_refresh=refresh_token)

    async def account_email(self, tokens: TokenSet) -> str:
        me = await self._get_json(tokens.access_token, f"{self._graph}/me",
                                  params={"$select": "id,mail,userPrincipalName,displayName"})
        email = (me.get("mail") or me.get("userPrincipalName") or "").strip()
        if not email:
            raise permanent(ProviderError("Microsoft Graph /me has neither mail nor userPrincipalName"))
        return email

    async def _token_call(self, call) -> dict:
        try:
            return await call
        except OAuthError as exc:
            if exc.error in _REAUTH_ERRORS:
                raise AuthRevoked(f"Microsoft refused the grant ({exc.error}): sign in again") from None
            raise permanent(ProviderError(f"Microsoft token endpoint: {exc.error}", status=400)) from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            error = ProviderError(f"Microsoft token endpoint answered {status}", status=status,
                                  retry_after=retry_after(exc.response))
            raise (error if status >= 500 else permanent(error)) from None
        except httpx.TimeoutException:
            raise ProviderError("Microsoft token endpoint timed out") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"Microsoft token endpoint unreachable: {type(exc).__name__}") from None
        except ValueError:
            raise ProviderError("Microsoft token endpoint sent an unreadable answer") from None

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

    # -- Graph -------------------------------------------------------------------------------

    async def list_calendars(self, access_token: str) -> list[RemoteCalendar]:
        calendars: list[RemoteCalendar] = []
        url: str | None = f"{self._graph}/me/calendars"
        params: dict[str, str] | None = {"$top": "100", "$select": "id,name,isDefaultCalendar,owner,canEdit"}
        while url:
            page = await self._get_json(access_token, url, params=params)
            for entry in page.get("value", ()):
                calendars.append(RemoteCalendar(
                    id=entry["id"], name=entry.get("name") or entry["id"], timezone=None,
                    is_primary=bool(entry.get("isDefaultCalendar")),
                ))
            next_link = page.get("@odata.nextLink")
            url, params = (self._own_link(next_link, token_kind="page"), None) if next_link else (None, None)
        return calendars

    async def list_events(self, access_token: str, calendar_id: str, *, window_start: datetime,
                          window_end: datetime, sync_token: str | None = None,
                          page_token: str | None = None) -> EventsPage:
        """One page of `calendarView/delta`. `page_token` is the `@odata.nextLink` and `sync_token`
        the `@odata.deltaLink` (opaque URLs that encode the window); without either a new round
        starts for the window.

        A delta round keeps the window it started with, while calbot's window rolls forward every
        day. So both tokens also carry their round's window, and a `sync_token` whose window no
        longer covers the asked-for one (by more than `ROUND_WINDOW_SLACK`) raises
        `SyncTokenExpired`: the engine then starts a clean round for the current window.
        """
        params: dict[str, str] | None = None
        window_start, window_end = _aware(window_start), _aware(window_end)
        if page_token:
            link, window = _split_window(page_token)
            url = self._own_link(link, token_kind="page")
            window = window or (window_start, window_end)
        elif sync_token:
            link, window = _split_window(sync_token)
            if window and (window_start < window[0] - ROUND_WINDOW_SLACK
                           or window_end > window[1] + ROUND_WINDOW_SLACK):
                raise SyncTokenExpired("the sync window moved on; starting a new delta round")
            url = self._own_link(link, token_kind="sync")
            window = window or (window_start, window_end)
        else:
            url = f"{self._graph}{_calendar_path(calendar_id)}/calendarView/delta"
            params = {"startDateTime": _iso_z(window_start), "endDateTime": _iso_z(window_end)}
            window = (window_start, window_end)
        page = await self._get_json(access_token, url, params=params, listing=True,
                                    prefer=('outlook.timezone="UTC"', f"odata.maxpagesize={self._page_size}"))
        events: list[dict[str, Any]] = []
        removed: list[str] = []
        for item in page.get("value", ()):
            if not isinstance(item, dict) or not item.get("id"):
                continue
            if "@removed" in item:
                removed.append(item["id"])
            else:
                events.append(item)
        events = await self._complete_occurrences(access_token, events, removed)
        next_link = page.get("@odata.nextLink")
        delta_link = page.get("@odata.deltaLink")
        return EventsPage(
            events=events, removed=removed,
            next_page=_with_window(next_link, window) if next_link else None,
            sync_token=_with_window(delta_link, window) if delta_link and not next_link else None,
        )

    async def _complete_occurrences(self, access_token: str, events: list[dict], removed: list[str]) -> list[dict]:
        """Give delta's bare occurrences their series master's fields (one GET per series)."""
        bare = {e.get("seriesMasterId") for e in events if _is_bare_occurrence(e)}
        bare.discard(None)
        if not bare:
            return events
        ids = sorted(bare)
        found = await asyncio.gather(*(self._series_master(access_token, mid) for mid in ids),
                                     return_exceptions=True)
        failure = next((f for f in found if isinstance(f, BaseException)), None)
        if failure is not None:
            raise failure
        masters = dict(zip(ids, found))
        completed = []
        for event in events:
            if not _is_bare_occurrence(event):
                completed.append(event)
                continue
            master = masters.get(event.get("seriesMasterId"))
            if master is None:
                removed.append(event["id"])  # the series is gone, so is this occurrence
                continue
            completed.append(merge_occurrence(event, master))
        return completed

    async def _series_master(self, access_token: str, master_id: str) -> dict | None:
        try:
            return await self._get_json(access_token, f"{self._graph}/me/events/{quote(master_id, safe='')}",
                                        params={"$select": _MASTER_FIELDS}, prefer=('outlook.timezone="UTC"',))
        except NotFound:
            return None

    async def watch(self, access_token: str, calendar_id: str, *, address: str, secret: str,
                    expires_at: datetime, lifecycle_address: str | None = None) -> PushChannel:
        """A Graph subscription on the calendar's events. Graph validates `address` (and
        `lifecycle_address`) with a `validationToken` handshake before it answers."""
        body: dict[str, Any] = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": address,
            "resource": _subscription_resource(calendar_id),
            "expirationDateTime": _graph_time(self._expiry(expires_at)),
            "clientState": secret,  # echoed in every notification; the webhook checks it
            "latestSupportedTlsVersion": "v1_2",
        }
        if lifecycle_address:
            body["lifecycleNotificationUrl"] = lifecycle_address
        subscription = await self._send_json(access_token, "POST", f"{self._graph}/subscriptions", body)
        return self._channel(subscription, fallback_expiry=self._expiry(expires_at))

    async def renew(self, access_token: str, channel: PushChannel, *, expires_at: datetime) -> PushChannel | None:
        """Extend the subscription in place; None when Graph no longer knows it (watch again)."""
        expiry = self._expiry(expires_at)
        try:
            subscription = await self._send_json(
                access_token, "PATCH", f"{self._graph}/subscriptions/{quote(channel.channel_id, safe='')}",
                {"expirationDateTime": _graph_time(expiry)})
        except NotFound:
            return None
        return self._channel(subscription, fallback_expiry=expiry, previous=channel)

    async def stop(self, access_token: str, channel: PushChannel) -> None:
        try:
            await self._send_json(access_token, "DELETE",
                                  f"{self._graph}/subscriptions/{quote(channel.channel_id, safe='')}", None)
        except NotFound:
            pass  # already expired or removed: the goal is reached

    async def aclose(self) -> None:
        await self._oauth.aclose()
        if self._owns_http:
            await self._http.aclose()

    def _expiry(self, wanted: datetime) -> datetime:
        if wanted.tzinfo is None:
            wanted = wanted.replace(tzinfo=UTC)
        return min(wanted, self._clock.now() + SUBSCRIPTION_MAX)

    def _channel(self, subscription: dict, *, fallback_expiry: datetime,
                 previous: PushChannel | None = None) -> PushChannel:
        expires = subscription.get("expirationDateTime")
        try:
            expires_at = _parse_instant(expires) if expires else fallback_expiry
        except ValueError:
            expires_at = fallback_expiry
        return PushChannel(
            channel_id=subscription.get("id") or (previous.channel_id if previous else ""),
            resource_id=subscription.get("resource") or (previous.resource_id if previous else None),
            expires_at=expires_at,
        )

    def _own_link(self, link: str, *, token_kind: str) -> str:
        """A nextLink/deltaLink re-rooted on our configured Graph URL: the bearer token only ever
        goes to `CALBOT_GRAPH_API_URL`, whatever host a link names (proxies, national clouds)."""
        if link.startswith(self._graph + "/"):
            return link
        marker = f"/{self._graph_version}/"
        index = link.find(marker)
        if not link.startswith(("https://", "http://")) or index < 0:
            raise SyncTokenExpired(f"unusable Graph {token_kind} link; starting a new sync round")
        return self._graph + link[index + len(marker) - 1:]

    # -- HTTP --------------------------------------------------------------------------------

    def _slot(self, access_token: str) -> asyncio.Semaphore:
        key = _mailbox_key(access_token)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self._concurrency)
            if len(self._slots) > 2048:
                for old_key in [k for k, s in self._slots.items() if k != key and not s.locked()
                                and s._value == self._concurrency][:1024]:  # idle ones only
                    del self._slots[old_key]
        else:
            self._slots.move_to_end(key)
        return slot

    async def _request(self, access_token: str, method: str, url: str, *, params=None, body=None,
                       prefer: tuple[str, ...] = (), listing: bool = False) -> httpx.Response:
        headers = [("Authorization", f"Bearer {access_token}"), ("Accept", "application/json")]
        headers += [("Prefer", value) for value in prefer]
        async with self._slot(access_token):
            try:
                response = await self._http.request(method, url, params=params, json=body, headers=headers)
            except httpx.TimeoutException:
                raise ProviderError("Microsoft Graph timed out") from None
            except httpx.HTTPError as exc:
                raise ProviderError(f"Microsoft Graph unreachable: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise _api_error(response, listing=listing)
        return response

    async def _get_json(self, access_token: str, url: str, *, params=None, prefer: tuple[str, ...] = (),
                        listing: bool = False) -> dict:
        response = await self._request(access_token, "GET", url, params=params, prefer=prefer, listing=listing)
        return read_json(response, "Microsoft Graph")

    async def _send_json(self, access_token: str, method: str, url: str, body: dict | None) -> dict:
        response = await self._request(access_token, method, url, body=body)
        return read_json(response, "Microsoft Graph") if response.content else {}

    # -- events ------------------------------------------------------------------------------

    def removed_id(self, raw: dict[str, Any]) -> str | None:
        return raw.get("id") if "@removed" in raw else None

    def normalize(self, raw: dict[str, Any], context: EventContext) -> NormalizedEvent | None:
        return normalize(raw, context)


# -- pure normalisation ------------------------------------------------------------------------

def normalize(raw: dict[str, Any], context: EventContext) -> NormalizedEvent | None:
    """A Graph event resource → `NormalizedEvent`; None for what is not an occurrence on the
    calendar (a series master, an `@removed` entry, an event without times)."""
    event_id = raw.get("id")
    start = raw.get("start")
    end = raw.get("end")
    if not event_id or not isinstance(start, dict) or not isinstance(end, dict) or "@removed" in raw \
            or raw.get("type") == "seriesMaster" or not start.get("dateTime"):
        return None
    original_zone = raw.get("originalStartTimeZone")
    all_day = bool(raw.get("isAllDay"))
    try:
        if all_day:
            day_zone = _zone(context.calendar_timezone)
            start_at = _day_start(_floating_day(start, original_zone), day_zone)
            end_at = _day_start(_floating_day(end if end.get("dateTime") else start, original_zone), day_zone)
            if end_at <= start_at:
                end_at = start_at + timedelta(days=1)
        else:
            start_at = _instant(start["dateTime"], start.get("timeZone"))
            end_at = _instant(end.get("dateTime") or start["dateTime"], end.get("timeZone") or start.get("timeZone"))
    except (ValueError, TypeError):
        return None

    account = (context.account_email or "").lower()
    organizer = ((raw.get("organizer") or {}).get("emailAddress") or {})
    organizer_email = organizer.get("address") or None
    organizer_key = (organizer_email or "").lower()
    organizer_self = bool(raw.get("isOrganizer")) or (bool(organizer_key) and organizer_key == account)
    response = ((raw.get("responseStatus") or {}).get("response") or "").lower()
    my_response = "organizer" if organizer_self else _RESPONSES.get(response)

    internal = internal_domains(context.internal_domains, context.account_email)
    construct = Attendee.model_construct
    attendees = []
    organizer_listed = False
    for item in raw.get("attendees") or ():
        address = (item.get("emailAddress") or {})
        email = address.get("address") or ""
        key = email.lower()
        is_self = bool(key) and key == account
        is_resource = item.get("type") == "resource"
        is_organizer = bool(key) and key == organizer_key
        organizer_listed = organizer_listed or is_organizer
        attendee_response = _RESPONSES.get(((item.get("status") or {}).get("response") or "").lower())
        if is_self and my_response is None:
            my_response = attendee_response
        attendees.append(construct(
            email=email, name=address.get("name") or "", response=attendee_response,
            external=not (is_self or is_resource) and is_external(email, internal),
            self=is_self, resource=is_resource, organizer=is_organizer,
        ))
    if attendees and organizer_email and not organizer_listed:
        # Graph lists invitees only; the organizer is a participant too (as in Google's list)
        attendees.insert(0, construct(
            email=organizer_email, name=organizer.get("name") or "", response="accepted",
            external=not organizer_self and is_external(organizer_email, internal),
            self=organizer_self, resource=False, organizer=True,
        ))

    meeting = _detect_meeting(raw)
    location = raw.get("location") or {}
    location_text = location.get("displayName") or ", ".join(
        loc.get("displayName") for loc in raw.get("locations") or () if loc.get("displayName"))
    original = raw.get("originalStart")
    updated = raw.get("lastModifiedDateTime")
    return NormalizedEvent.from_adapter(
        provider_event_id=event_id,
        ical_uid=raw.get("iCalUId"),
        series_id=raw.get("seriesMasterId"),
        original_start=_parse_instant_or_none(original),
        title=raw.get("subject") or "",
        description=_body_text(raw.get("body")),
        location=location_text or "",
        start_at=start_at,
        end_at=end_at,
        timezone=_iana_name(original_zone),
        all_day=all_day,
        status="cancelled" if raw.get("isCancelled") else "confirmed",
        my_response=my_response,
        organizer_email=organizer_email,
        organizer_self=organizer_self,
        attendees=attendees,
        meeting_url=meeting.url if meeting else None,
        platform=meeting.platform if meeting else None,
        meeting_key=meeting.key if meeting else None,
        provider_updated=_parse_instant_or_none(updated),
    )


def _detect_meeting(raw: dict) -> Any:
    from bot.calendars.links import detect_meeting  # imported late: links.py evolves on its own

    return detect_meeting("microsoft", raw)


def merge_occurrence(occurrence: dict, master: dict) -> dict:
    """A delta occurrence (id, type, seriesMasterId, start, end) completed with its series
    master's fields; the iCalUId is the series', so an occurrence is (iCalUId, originalStart)."""
    merged = {k: v for k, v in master.items() if k not in _OCCURRENCE_OWN}
    merged.update(occurrence)
    merged["type"] = "occurrence"
    merged["recurrence"] = None
    if "originalStart" not in merged:
        start = occurrence.get("start") or {}
        try:
            merged["originalStart"] = _iso_z(_instant(start["dateTime"], start.get("timeZone")))
        except (KeyError, ValueError, TypeError):
            pass
    return merged


def has_calendar_permission(scope: str | None) -> bool:
    """Whether a token response's `scope` includes calendar read access (absent scope: assume so)."""
    if not scope:
        return True
    granted = {s.rsplit("/", 1)[-1].lower() for s in scope.split()}
    return bool(granted & CALENDAR_PERMISSIONS)


# -- helpers -----------------------------------------------------------------------------------

def _with_window(link: str, window: tuple[datetime, datetime]) -> str:
    """A Graph link with the round's window attached as a fragment (never sent to Graph)."""
    return f"{link}{_WINDOW_MARK}{int(window[0].timestamp())},{int(window[1].timestamp())}"


def _split_window(token: str) -> tuple[str, tuple[datetime, datetime] | None]:
    link, mark, window = token.partition(_WINDOW_MARK)
    if not mark:
        return token, None
    try:
        start, end = (datetime.fromtimestamp(int(v), UTC) for v in window.split(","))
    except ValueError:
        return link, None
    return link, (start, end)


def _is_bare_occurrence(event: dict) -> bool:
    return event.get("type") == "occurrence" and "subject" not in event


def _calendar_path(calendar_id: str) -> str:
    if calendar_id in PRIMARY_ALIASES:
        return "/me"
    return f"/me/calendars/{quote(calendar_id, safe='')}"


def _subscription_resource(calendar_id: str) -> str:
    if calendar_id in PRIMARY_ALIASES:
        return "me/events"
    return f"me/calendars/{calendar_id}/events"


def _mailbox_key(access_token: str) -> str:
    """Which mailbox a token acts on, to share its concurrency slots across token refreshes.

    Work-account Graph tokens are JWTs with `tid` and `oid`; these are read unverified, only to
    group requests. Opaque tokens (personal accounts) group by the token itself.
    """
    parts = access_token.split(".")
    if len(parts) == 3:
        try:
            payload = parts[1] + "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(payload))
            if isinstance(claims, dict) and claims.get("oid"):
                return f"{claims.get('tid', '')}/{claims['oid']}"
        except (ValueError, UnicodeDecodeError):
            pass
    return "t:" + hashlib.sha256(access_token.encode()).hexdigest()[:32]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso_z(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _api_error(response: httpx.Response, *, listing: bool) -> ProviderError:
    status = response.status_code
    code, message = "", ""
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            message = str(error.get("message") or "")[:300]
    except (ValueError, AttributeError):
        pass
    text = f"Microsoft Graph {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    wait = retry_after(response)
    lowered = code.lower()
    if status == 429:
        return RateLimited(text, status=status, retry_after=wait)
    if status == 401:
        return AccessTokenRejected(text, status=status)
    if status == 403 and lowered in _ACCESS_DENIED:
        return AuthRevoked(text, status=status)
    if status == 404:
        return NotFound(text, status=status)
    if listing and (status == 410 or lowered in _SYNC_RESET):
        return SyncTokenExpired(text, status=status)
    if status == 410:
        return NotFound(text, status=status)
    error = ProviderError(text, status=status, retry_after=wait)
    return error if status >= 500 else permanent(error)


def _raise_for_throttle(response: httpx.Response) -> httpx.Response:
    """authlib hook: a throttled or failing token endpoint is not an OAuth error."""
    if response.status_code == 429:
        raise RateLimited("Microsoft token endpoint rate-limited us", status=429,
                          retry_after=retry_after(response))
    if response.status_code >= 500:
        raise ProviderError(f"Microsoft token endpoint answered {response.status_code}",
                            status=response.status_code, retry_after=retry_after(response))
    return response


@lru_cache(maxsize=512)
def _zone(name: str | None) -> ZoneInfo | timezone:
    if not name or name == "UTC":
        return UTC
    iana = WINDOWS_TO_IANA.get(name, name)
    if iana == "UTC":
        return UTC
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@lru_cache(maxsize=512)
def _iana_name(name: str | None) -> str | None:
    """The IANA name of a Graph zone name (Windows or IANA); None when unknown or custom."""
    if not name:
        return None
    iana = WINDOWS_TO_IANA.get(name, name)
    try:
        ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return iana


def _instant(text: str, zone_name: str | None) -> datetime:
    moment = datetime.fromisoformat(text)  # Python 3.11 reads 7 fractional digits, 'Z' and offsets
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(zone_name))
    return moment.astimezone(UTC)


def _parse_instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_instant_or_none(text: Any) -> datetime | None:
    if not text or not isinstance(text, str):
        return None
    try:
        return _parse_instant(text)
    except ValueError:
        return None


def _floating_day(value: dict, original_zone: str | None) -> date:
    """The calendar date of an all-day boundary. Graph sends midnight of the asked-for zone; a
    server that converted the instant instead is read back in the event's own zone."""
    local = datetime.fromisoformat(value["dateTime"])
    if local.tzinfo is None and (local.hour, local.minute, local.second) == (0, 0, 0):
        return local.date()
    instant = _instant(value["dateTime"], value.get("timeZone"))
    return instant.astimezone(_zone(original_zone)).date()


def _day_start(day: date, zone: ZoneInfo | timezone) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


_HAS_BLOCKS = re.compile(r"<(?:head|style|script)\b", re.IGNORECASE)
_DROP_BLOCKS = re.compile(r"<(head|style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAKS = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h[1-6])\b[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")


def _body_text(body: Any) -> str:
    """The event body as plain text (Outlook bodies are mostly HTML)."""
    if not isinstance(body, dict):
        return ""
    content = body.get("content") or ""
    if not isinstance(content, str):
        return ""
    if (body.get("contentType") or "").lower() != "html":
        return content.strip()
    return _html_text(content)


@lru_cache(maxsize=512)  # a series' occurrences share their master's body
def _html_text(content: str) -> str:
    if _HAS_BLOCKS.search(content):
        content = _DROP_BLOCKS.sub(" ", content)
    text = html.unescape(_TAGS.sub(" ", _BREAKS.sub("\n", content)))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


