"""A loopback emulator of the Microsoft identity platform (v2.0) and Microsoft Graph v1.0 calendars.

Point calbot at it with `fake.settings_overrides()` (or `fake.env()` for a subprocess):

    CALBOT_MICROSOFT_LOGIN_URL = {fake.url}          (calbot appends /{tenant}/oauth2/v2.0/...)
    CALBOT_GRAPH_API_URL       = {fake.url}/v1.0

What it speaks (wire formats from Microsoft's identity platform and Graph documentation):

- Identity: `GET /{tenant}/oauth2/v2.0/authorize` (client, redirect URI, `response_type=code`, PKCE S256
  required, scopes; the signed-in user is `next_login`, else `login_hint`, else the first account;
  `deny_next_consent()`), `POST /{tenant}/oauth2/v2.0/token` (authorization_code with the PKCE check,
  refresh_token with **rotation**: every refresh returns a new refresh token; a superseded one keeps
  working for `refresh_grace` seconds; errors are AADSTS-shaped `invalid_grant` bodies). A refresh
  token is issued only when `offline_access` was granted, as the real platform does.
- Graph: `/me`, `/me/calendars` (paging), `/me/calendars/{id}/calendarView/delta` and
  `/me/calendarView/delta` (pages honour `Prefer: odata.maxpagesize`, `@odata.nextLink` with
  `$skiptoken`, a final `@odata.deltaLink` with `$deltatoken`; later rounds return only changes;
  gone events come as `{"id", "@removed": {"reason": "deleted"}}`; an invalidated token is 410
  `syncStateNotFound`), `/me/events/{id}` (with `$select`), subscriptions (create with the
  validation handshake, renew, delete, reauthorize) and change / lifecycle notifications sent
  from a background thread.
- Like real Graph, times are in UTC unless `Prefer: outlook.timezone="..."` asks for another zone
  (`Preference-Applied` says so); all-day events are floating dates at midnight of that zone; and a
  delta round reports series **occurrences** with only `id`, `type`, `seriesMasterId`, `start` and
  `end` (singles and exceptions come complete) -- a client fetches the series master for the rest.
- Throttling: `throttle_next()` (429 + Retry-After), and an enforced MailboxConcurrency limit: more
  than `concurrency_limit` (4) requests in flight for one mailbox get 429 `ApplicationThrottled`;
  `max_concurrency[email]` records the most ever attempted at once (set `latency` to make requests
  overlap).

State lives in plain objects under `self.lock`; helpers change it the way a person using Outlook
would, each change lands in the next delta round and triggers change notifications:

    fake.add_account("ana@contoso.com")
    ev = fake.add_event("ana@contoso.com", "Acme demo", start=dt, online="teams",
                        attendees=["bob@client.com"])
    fake.move_event("ana@contoso.com", ev["id"], dt + timedelta(hours=1))
    master = fake.add_series("ana@contoso.com", "Weekly", start=dt, count=10)
    occurrences = fake.occurrences("ana@contoso.com", master["id"])
    fake.move_occurrence("ana@contoso.com", occurrences[2]["id"], dt + timedelta(days=15))
    tokens = fake.grant("ana@contoso.com")        # skip the browser dance in engine tests
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import html
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.base import FakeService

UTC = timezone.utc
GRAPH_RESOURCE = "https://graph.microsoft.com/"
OIDC_SCOPES = ("openid", "email", "profile", "offline_access")
# Delegated Graph permissions the fake knows (canonical spelling); requests match case-insensitively.
GRAPH_PERMISSIONS = (
    "User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All",
    "Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared",
    "Calendars.ReadWrite.Shared", "MailboxSettings.Read", "OnlineMeetings.Read",
)
_CANONICAL = {name.lower(): name for name in (*OIDC_SCOPES, *GRAPH_PERMISSIONS)}
# Which permissions let a token call which kind of Graph request (any one is enough).
ACCESS = {
    "user": frozenset({"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All"}),
    "calendars": frozenset({"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite",
                            "Calendars.Read.Shared", "Calendars.ReadWrite.Shared"}),
    "events": frozenset({"Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared",
                         "Calendars.ReadWrite.Shared"}),
}
DEFAULT_GRANT = ("openid", "email", "offline_access", "User.Read", "Calendars.Read")
NULL_TIME = "0001-01-01T00:00:00Z"

# Windows time zone names Graph uses for `originalStartTimeZone` and accepts in Prefer headers.
WINDOWS_ZONES = {
    "UTC": "UTC", "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
    "FLE Standard Time": "Europe/Kiev", "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago", "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles", "India Standard Time": "Asia/Kolkata",
    "Tokyo Standard Time": "Asia/Tokyo", "AUS Eastern Standard Time": "Australia/Sydney",
    "China Standard Time": "Asia/Shanghai", "E. South America Standard Time": "America/Sao_Paulo",
}
IANA_TO_WINDOWS = {v: k for k, v in WINDOWS_ZONES.items()} | {"Etc/UTC": "UTC"}

_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43,128}$")
_SPECIAL_TENANTS = ("common", "organizations", "consumers")


# -- wire helpers ------------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode()).digest())


def _graph_id(prefix: str = "AAMkAG", n: int = 48) -> str:
    """An Exchange-style item id: long, url-safe base64, often ending in '='."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(n)).decode() + "AAA="


def _dto(moment: datetime) -> str:
    """A Graph DateTimeOffset: UTC with 7 fractional digits and 'Z'."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def _dto_short(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    request_id = str(uuid.uuid4())
    all_headers = {"request-id": request_id, "client-request-id": request_id,
                   "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"Loopback","Slice":"E"}}'}
    all_headers.update(headers or {})
    return Response(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        status_code=status, headers=all_headers,
        media_type="application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
    )


def graph_error(code: str, message: str) -> dict:
    """An error body shaped like Graph's (`{"error": {"code", "message", "innerError"}}`)."""
    request_id = str(uuid.uuid4())
    return {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
        "client-request-id": request_id}}}


def _graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(graph_error(code, message), status, headers)


def _aad_error(error: str, code: int, description: str, status: int = 400) -> Response:
    """A token endpoint error as Entra ID sends it: AADSTS code in the description and error_codes."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
                             f"Timestamp: {now:%Y-%m-%d %H:%M:%SZ}",
        "error_codes": [code], "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}", "trace_id": trace,
        "correlation_id": correlation, "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return _json(body, status)


def _error_page(status: int, code: int, description: str) -> Response:
    html = (f"<!doctype html><title>Sign in to your account</title><h1>Sorry, but we're having trouble "
            f"signing you in.</h1><p>AADSTS{code}: {description}</p>")
    return HTMLResponse(html, status_code=status)


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    name = name.strip().strip('"')
    iana = WINDOWS_ZONES.get(name, name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _parse_prefer(headers: list[str]) -> dict[str, str]:
    """`Prefer` preferences (several headers, comma-separated, values maybe quoted)."""
    prefs: dict[str, str] = {}
    for header in headers:
        for part in re.findall(r'(?:[^,"]|"[^"]*")+', header):
            key, _, value = part.strip().partition("=")
            if key:
                prefs[key.strip().lower()] = value.strip().strip('"')
    return prefs


def _parse_when(value: str) -> datetime:
    text = value.strip().replace(" ", "+")  # a '+' offset arrives as a space when not url-encoded
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _canonical_scope(scope: str) -> str | None:
    short = scope[len(GRAPH_RESOURCE):] if scope.lower().startswith(GRAPH_RESOURCE) else scope
    return _CANONICAL.get(short.lower())


# -- state -------------------------------------------------------------------------------------

@dataclass
class _Account:
    email: str
    id: str
    display_name: str
    tenant_id: str
    mail: str | None
    user_principal_name: str
    calendar_ids: list[str] = field(default_factory=list)

    @property
    def default_calendar(self) -> str:
        return self.calendar_ids[0]


@dataclass
class _Calendar:
    id: str
    name: str
    owner: str
    is_default: bool = False
    can_edit: bool = True
    color: str = "auto"
    events: dict[str, "_Event"] = field(default_factory=dict)
    seq: int = 0
    epoch: int = 0
    change_key: str = field(default_factory=lambda: _b64url(secrets.token_bytes(12)))


class _Event:
    """One stored event. Occurrences keep no fields of their own: they show their master's."""

    __slots__ = ("id", "calendar_id", "kind", "fields", "start", "end", "zone", "all_day", "master_id",
                 "original_start", "seq", "created_seq", "deleted", "change_key", "modified", "cache",
                 "ical_uid")

    def __init__(self, event_id: str, calendar_id: str, kind: str, fields: dict | None, start: datetime,
                 end: datetime, zone: str, all_day: bool, master_id: str | None = None,
                 original_start: datetime | None = None) -> None:
        self.id = event_id
        self.calendar_id = calendar_id
        self.kind = kind                    # singleInstance | seriesMaster | occurrence | exception
        self.fields = fields
        self.start = start                  # aware UTC (all-day: midnight in `zone`)
        self.end = end
        self.zone = zone                    # IANA name of the event's own zone
        self.all_day = all_day
        self.master_id = master_id
        self.original_start = original_start
        self.seq = 0
        self.created_seq = 0
        self.deleted = False
        self.change_key = ""
        self.modified = ""
        self.cache: dict[str, dict] = {}
        self.ical_uid = ""


@dataclass
class _Subscription:
    id: str
    account: str
    resource: str
    calendar_id: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    application_id: str
    tls: str = "v1_2"
    deleted: bool = False

    def wire(self, creator_id: str) -> dict:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id, "resource": self.resource, "applicationId": self.application_id,
            "changeType": ",".join(sorted(self.change_types, key=["created", "updated", "deleted"].index)),
            "clientState": self.client_state, "notificationUrl": self.notification_url,
            "notificationQueryOptions": None, "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": _dto(self.expires), "creatorId": creator_id,
            "includeResourceData": None, "latestSupportedTlsVersion": self.tls,
            "encryptionCertificate": None, "encryptionCertificateId": None, "notificationUrlAppId": None,
        }


@dataclass
class PushRecord:
    """One request the fake sent to a receiver: a validation, change or lifecycle notification."""

    kind: str                      # validation | change | lifecycle
    subscription_id: str | None
    url: str
    body: Any
    status: int | None = None      # receiver's HTTP status; None when not delivered (yet)
    response_text: str = ""
    error: str | None = None
    outcome: str = "pending"       # pending | delivered | failed | dropped | held
    sent_at: float | None = None

    @property
    def notifications(self) -> list[dict]:
        return list((self.body or {}).get("value", [])) if isinstance(self.body, dict) else []


@dataclass
class _DeltaCursor:
    calendar_id: str
    account: str
    items: list[tuple[str, bool]]   # (event id, reported as removed)
    seq: int
    epoch: int
    window: tuple[datetime, datetime]


@dataclass
class _DeltaToken:
    calendar_id: str
    account: str
    seq: int
    epoch: int
    window: tuple[datetime, datetime]


# -- the fake ----------------------------------------------------------------------------------

class FakeMicrosoft(FakeService):
    name = "microsoft"

    def __init__(self, *, client_id: str = "8f2c1c5e-0000-4c1b-9d7e-ca1b0000f00d",
                 client_secret: str = "ms-test-secret") -> None:
        # app registration
        self.client_id = client_id
        self.client_secret = client_secret
        self.application_id = client_id
        self.redirect_uris: set[str] | None = None   # None: any http(s) URI without a fragment
        self.app_permissions = {"User.Read", "Calendars.Read"}  # what `.default` means
        self.require_pkce = True
        self.access_token_lifetime = 3600
        self.code_lifetime = 600
        self.refresh_grace = 120.0            # seconds a superseded refresh token still works
        # consent behaviour
        self.next_login: str | None = None
        self._deny_next = 0
        # Graph behaviour
        self.default_page_size = 10           # calendarView/delta without odata.maxpagesize
        self.max_page_size = 1000
        self.skinny_occurrences = True        # delta reports occurrences with id/type/times only
        self.concurrency_limit = 4            # MailboxConcurrency
        self.concurrency_retry_after = 1
        self.latency = 0.0                    # seconds each mailbox request takes (for concurrency tests)
        self.max_concurrency: dict[str, int] = {}
        self.throttled: dict[str, int] = {}   # 429 MailboxConcurrency answers per mailbox
        # subscriptions
        self.max_subscription_minutes = 4230  # Outlook event resources
        self.require_https = False
        self.validation_timeout = 10.0
        self.push_mode = "deliver"            # deliver | drop | duplicate | reorder | delay
        self.push_delay = 0.5
        self.pushes: list[PushRecord] = []
        self.subscriptions: dict[str, _Subscription] = {}
        # state
        self.tenant_id = "72f988bf-0000-41af-91ab-2d7cd011db47"
        self.accounts: dict[str, _Account] = {}
        self.calendars: dict[str, _Calendar] = {}
        self._codes: dict[str, dict] = {}
        self._refresh_tokens: dict[str, dict] = {}
        self._latest_refresh: dict[str, str] = {}
        self._access_tokens: dict[str, dict] = {}
        self._delta_tokens: dict[str, _DeltaToken] = {}
        self._cursors: dict[str, _DeltaCursor] = {}
        self._inflight: dict[str, int] = {}
        self.refresh_log: list[dict] = []     # every refresh_token grant: token, latest?, outcome
        self.delta_log: list[dict] = []       # every calendarView/delta call: preferences, page size, kind
        self._time_offset = 0.0
        self._ids = itertools.count(1)
        self._held: list[PushRecord] = []
        self._queue: list[tuple[float, int, PushRecord]] = []
        self._queue_cv = threading.Condition()
        self._queue_seq = itertools.count()
        self._worker: threading.Thread | None = None
        self._worker_stop = False
        super().__init__()

    # -- wiring ------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("/v1.0/{rest:path}", self._graph, methods=["GET", "POST", "PATCH", "DELETE", "PUT"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self._authorize, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
        ]

    def settings_overrides(self) -> dict[str, str]:
        """Keyword arguments for `load_settings(**...)` that point calbot at this fake."""
        return {
            "microsoft_client_id": self.client_id,
            "microsoft_client_secret": self.client_secret,
            "calbot_microsoft_login_url": self.url,
            "calbot_graph_api_url": f"{self.url}/v1.0",
        }

    def env(self) -> dict[str, str]:
        """The same as environment variables, for a `calbot serve` subprocess."""
        return {k.upper(): v for k, v in self.settings_overrides().items()}

    def start(self) -> "FakeMicrosoft":
        super().start()
        self._worker_stop = False
        self._worker = threading.Thread(target=self._push_worker, name="microsoft-fake-push", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        with self._queue_cv:
            self._worker_stop = True
            self._queue_cv.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=10)
        super().stop()

    # -- clock -------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._time_offset

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the fake's clock: tokens, codes, grace periods and subscriptions expire accordingly."""
        with self.lock:
            self._time_offset += seconds

    # -- accounts and calendars ----------------------------------------------------------------

    def add_account(self, email: str, *, calendars: Iterable[str | dict] = (), name: str | None = None,
                    mail: str | None | bool = True, tenant_id: str | None = None) -> _Account:
        """A Microsoft 365 account with its default calendar ("Calendar") and optional others.

        `calendars` items are names or dicts (`name`, `id`, `canEdit`, `owner`). `mail=None` makes
        `/me` answer `"mail": null` (as for accounts without a mailbox address), so only
        `userPrincipalName` carries the address.
        """
        with self.lock:
            account = self.accounts.get(email)
            if account is None:
                account = _Account(
                    email=email, id=str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-ms:" + email)),
                    display_name=name or email.split("@")[0].replace(".", " ").title(),
                    tenant_id=tenant_id or self.tenant_id,
                    mail=email if mail is True else (mail or None), user_principal_name=email,
                )
                self.accounts[email] = account
                calendar = _Calendar(id=_graph_id("AAMkAD", 30), name="Calendar", owner=email, is_default=True)
                self.calendars[calendar.id] = calendar
                account.calendar_ids.append(calendar.id)
            for spec in calendars:
                if isinstance(spec, str):
                    self.add_calendar(email, spec)
                else:
                    self.add_calendar(email, spec.get("name", "Calendar"), calendar_id=spec.get("id"),
                                      can_edit=spec.get("canEdit", True), owner=spec.get("owner"))
            return account

    def add_calendar(self, account: str, name: str, *, calendar_id: str | None = None, can_edit: bool = True,
                     owner: str | None = None) -> str:
        """Another calendar on `account`'s list; an existing `calendar_id` is shared with it."""
        with self.lock:
            acct = self._account(account)
            if calendar_id and calendar_id in self.calendars:
                calendar = self.calendars[calendar_id]
            else:
                calendar = _Calendar(id=calendar_id or _graph_id("AAMkAD", 30), name=name, owner=owner or account,
                                     can_edit=can_edit)
                self.calendars[calendar.id] = calendar
            if calendar.id not in acct.calendar_ids:
                acct.calendar_ids.append(calendar.id)
            return calendar.id

    def default_calendar(self, account: str) -> str:
        with self.lock:
            return self._account(account).default_calendar

    def calendar_named(self, account: str, name: str) -> str:
        with self.lock:
            for cid in self._account(account).calendar_ids:
                if self.calendars[cid].name == name:
                    return cid
            raise KeyError(f"{account} has no calendar named {name!r}")

    def delete_calendar(self, calendar: str) -> None:
        """The calendar is deleted: Graph calls on it answer 404."""
        with self.lock:
            cal = self._calendar(calendar)
            for acct in self.accounts.values():
                if cal.id in acct.calendar_ids:
                    acct.calendar_ids.remove(cal.id)
            del self.calendars[cal.id]

    def _account(self, email: str) -> _Account:
        try:
            return self.accounts[email]
        except KeyError:
            raise KeyError(f"no Microsoft account {email!r} in the fake (add_account first)") from None

    def _calendar(self, calendar: str) -> _Calendar:
        """A calendar by id, or an account's default calendar by the account's address."""
        if calendar in self.accounts:
            calendar = self.accounts[calendar].default_calendar
        try:
            return self.calendars[calendar]
        except KeyError:
            raise KeyError(f"no calendar {calendar!r} in the fake") from None

    # -- events: test helpers ------------------------------------------------------------------

    def add_event(self, calendar: str, subject: str | None = "Meeting", start: Any = None, end: Any = None, *,
                  duration: timedelta = timedelta(minutes=30), time_zone: str = "UTC",
                  body: str | None = None, body_type: str | None = None, location: str | dict | None = None,
                  online: str | bool | None = None, attendees: Iterable[str | dict] | None = None,
                  organizer: str | None = None, response: str | None = None, show_as: str = "busy",
                  id: str | None = None, notify: bool = True, **fields: Any) -> dict:
        """Create a single event and return it as `GET /me/events/{id}` would (UTC).

        `start`/`end`: aware or naive datetime (naive = in `time_zone`, an IANA name), ISO text, or a
        `date` for an all-day event. `online`: "teams" (a Teams meeting with its HTML invitation),
        "zoom" (a Zoom link in location and body, as the Zoom add-in writes it) or a join URL.
        `attendees`: emails or dicts (`email`, `name`, `type` required|optional|resource, `response`).
        `organizer`: someone else's address makes this an invitation on this calendar, answered with
        `response` (accepted | tentativelyAccepted | declined | notResponded | none).
        Other keyword arguments are Graph fields copied as given (e.g. `onlineMeetingUrl`, `categories`).
        """
        with self.lock:
            cal = self._calendar(calendar)
            start_at, end_at, all_day = self._times(start, end, duration, time_zone)
            event_fields = self._build_fields(cal, subject, body, body_type, location, online, attendees, organizer,
                                              response, show_as, all_day, time_zone, fields)
            event = _Event(id or _graph_id(), cal.id, "singleInstance", event_fields, start_at, end_at, time_zone,
                           all_day)
            event.ical_uid = _ical_uid()
            self._store(cal, event, "created", notify=notify)
            return self._full(event)

    def update_event(self, calendar: str, event_id: str, **changes: Any) -> dict:
        """Change an event (or a series master: every unchanged occurrence follows).

        Accepts Graph field names plus the `add_event` shorthands `subject`, `body`, `location`,
        `online`, `attendees`, `response`, `start`, `end`, `time_zone`. A field set to None is removed.
        """
        with self.lock:
            cal = self._calendar(calendar)
            event = self._event(cal, event_id)
            if event.kind == "occurrence":
                self._make_exception(cal, event)
            new_fields = json.loads(json.dumps(event.fields or {}))
            start = changes.pop("start", None)
            end = changes.pop("end", None)
            zone = changes.pop("time_zone", None) or event.zone
            if start is not None or end is not None:
                if start is None:
                    start = event.start
                if end is None:
                    end = self._as_moment(start, zone)[0] + (event.end - event.start)
                event.start, event.end, event.all_day = self._times(start, end, event.end - event.start, zone)
                event.zone = zone
                new_fields["isAllDay"] = event.all_day
                new_fields["originalStartTimeZone"] = new_fields["originalEndTimeZone"] = _windows_name(zone)
            self._apply_changes(cal, new_fields, changes)
            event.fields = new_fields
            self._touch(cal, event, "updated")
            if event.kind == "seriesMaster":
                for occurrence in self._occurrences_of(cal, event.id):
                    if occurrence.kind == "occurrence":
                        self._touch(cal, occurrence, None)
            return self._full(event)

    def move_event(self, calendar: str, event_id: str, start: Any, end: Any = None) -> dict:
        """Move an event (or one occurrence, which becomes an exception) keeping its duration."""
        with self.lock:
            event = self._event(self._calendar(calendar), event_id)
            if end is None:
                end = self._as_moment(start, event.zone)[0] + (event.end - event.start)
            return self.update_event(calendar, event_id, start=start, end=end)

    def respond(self, calendar: str, event_id: str, response: str) -> dict:
        """The calendar's owner answers an invitation (accepted, tentativelyAccepted, declined, ...)."""
        return self.update_event(calendar, event_id, response=response)

    def cancel_event(self, calendar: str, event_id: str, *, remove: bool = False) -> None:
        """The organizer cancels the meeting.

        On the organizer's own calendar the event is deleted (`@removed`). On an attendee's calendar
        it stays, with `isCancelled: true` and a "Canceled: " subject, until the attendee removes it
        (`remove=True` does that too). On a series master this cancels every occurrence.
        """
        with self.lock:
            cal = self._calendar(calendar)
            event = self._event(cal, event_id)
            fields = event.fields if event.fields is not None else self._event(cal, event.master_id).fields
            if remove or fields.get("isOrganizer"):
                self.delete_event(calendar, event_id)
                return
            if event.kind == "occurrence":
                self._make_exception(cal, event)
            new_fields = dict(event.fields)
            new_fields["isCancelled"] = True
            if not str(new_fields.get("subject") or "").startswith("Canceled: "):
                new_fields["subject"] = "Canceled: " + (new_fields.get("subject") or "")
            event.fields = new_fields
            self._touch(cal, event, "updated")
            if event.kind == "seriesMaster":
                for occurrence in self._occurrences_of(cal, event.id):
                    if occurrence.kind == "exception":
                        occurrence.fields = {**occurrence.fields, "isCancelled": True,
                                             "subject": new_fields["subject"]}
                    self._touch(cal, occurrence, None)

    def delete_event(self, calendar: str, event_id: str) -> None:
        """The event disappears from the calendar: the next delta round says `@removed`.

        Deleting a series master removes every occurrence and exception; deleting an occurrence
        removes that one (the same as `cancel_occurrence`).
        """
        with self.lock:
            cal = self._calendar(calendar)
            event = self._event(cal, event_id)
            if event.kind == "seriesMaster":
                for occurrence in self._occurrences_of(cal, event.id):
                    self._remove(cal, occurrence, notify=False)
            self._remove(cal, event)

    def add_series(self, calendar: str, subject: str | None = "Weekly sync", start: Any = None, end: Any = None, *,
                   count: int = 10, interval: timedelta | int = timedelta(days=7), **kwargs: Any) -> dict:
        """A recurring series: a `seriesMaster` plus `count` occurrences every `interval`.

        `interval` is a timedelta of whole days (or a number of days). Occurrences keep their
        wall-clock time in the event's zone across DST, as Exchange expands them. Returns the master;
        `occurrences(calendar, master_id)` lists the occurrences (and exceptions) in start order.
        """
        if isinstance(interval, int):
            interval = timedelta(days=interval)
        days = max(1, round(interval.total_seconds() / 86400))
        with self.lock:
            cal = self._calendar(calendar)
            notify = kwargs.pop("notify", True)
            zone = kwargs.pop("time_zone", "UTC")
            start_at, end_at, all_day = self._times(start, end, kwargs.pop("duration", timedelta(minutes=30)), zone)
            fields = self._build_fields(
                cal, subject, kwargs.pop("body", None), kwargs.pop("body_type", None), kwargs.pop("location", None),
                kwargs.pop("online", None), kwargs.pop("attendees", None), kwargs.pop("organizer", None),
                kwargs.pop("response", None), kwargs.pop("show_as", "busy"), all_day, zone, kwargs)
            local_start = start_at.astimezone(ZoneInfo(zone))
            fields["recurrence"] = {
                "pattern": {"type": "weekly" if days % 7 == 0 else "daily",
                            "interval": days // 7 if days % 7 == 0 else days, "month": 0, "dayOfMonth": 0,
                            "daysOfWeek": [local_start.strftime("%A").lower()] if days % 7 == 0 else [],
                            "firstDayOfWeek": "sunday", "index": "first"},
                "range": {"type": "numbered", "startDate": local_start.date().isoformat(), "endDate": "0001-01-01",
                          "recurrenceTimeZone": _windows_name(zone), "numberOfOccurrences": count},
            }
            master = _Event(_graph_id(), cal.id, "seriesMaster", fields, start_at, end_at, zone, all_day)
            master.ical_uid = _ical_uid()
            self._store(cal, master, "created", notify=notify)
            length = end_at - start_at
            tz = ZoneInfo(zone)
            naive = local_start.replace(tzinfo=None)
            for i in range(count):
                local = (naive + timedelta(days=days * i)).replace(tzinfo=tz)
                occ_start = local.astimezone(UTC)
                occurrence = _Event(_occurrence_id(master.id, occ_start), cal.id, "occurrence", None, occ_start,
                                    occ_start + length, zone, all_day, master_id=master.id, original_start=occ_start)
                occurrence.ical_uid = master.ical_uid[:-8] + f"{i + 1:08X}"
                self._store(cal, occurrence, None, notify=False)
            return self._full(master)

    add_recurring = add_series

    def occurrences(self, calendar: str, master_id: str) -> list[dict]:
        """A series' current occurrences and exceptions in start order, as `GET /me/events/{id}` gives them."""
        with self.lock:
            cal = self._calendar(calendar)
            found = sorted(self._occurrences_of(cal, master_id), key=lambda e: e.start)
            return [self._full(e) for e in found]

    def move_occurrence(self, calendar: str, occurrence_id: str, start: Any, end: Any = None) -> dict:
        """Move one occurrence: it becomes an `exception` keeping its `originalStart`."""
        return self.move_event(calendar, occurrence_id, start, end)

    def cancel_occurrence(self, calendar: str, occurrence_id: str) -> None:
        """Cancel one occurrence: it leaves the calendar (`@removed`), the series goes on."""
        with self.lock:
            cal = self._calendar(calendar)
            event = self._event(cal, occurrence_id)
            if event.kind not in ("occurrence", "exception"):
                raise ValueError(f"{occurrence_id} is not an occurrence")
            self._remove(cal, event)

    def bulk_add(self, calendar: str, n: int, *, start: datetime | None = None,
                 spacing: timedelta = timedelta(minutes=45), duration: timedelta = timedelta(minutes=30),
                 subject: str = "Bulk meeting {i}", online: bool = True, notify: bool = False) -> list[str]:
        """Add `n` single events fast (20,000 in well under a second) for paging and benchmarks.

        With `online`, each is a Teams meeting with its own join URL (no HTML invitation body).
        """
        with self.lock:
            cal = self._calendar(calendar)
            owner = self.accounts.get(cal.owner)
            organizer = {"emailAddress": {"name": owner.display_name if owner else cal.owner, "address": cal.owner}}
            base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) if start is None else start
            base = base.astimezone(UTC)
            batch = next(self._ids)
            stamp = _dto(self.now_dt())
            template = {
                "createdDateTime": stamp, "categories": [], "transactionId": None,
                "originalStartTimeZone": "UTC", "originalEndTimeZone": "UTC",
                "reminderMinutesBeforeStart": 15, "isReminderOn": True, "hasAttachments": False,
                "bodyPreview": "", "importance": "normal", "sensitivity": "normal", "isAllDay": False,
                "isCancelled": False, "isOrganizer": True, "responseRequested": True, "showAs": "busy",
                "onlineMeetingUrl": None, "allowNewTimeProposals": True, "isDraft": False, "hideAttendees": False,
                "responseStatus": {"response": "organizer", "time": NULL_TIME},
                "body": {"contentType": "html", "content": ""},
                "location": _location(""), "locations": [], "recurrence": None, "attendees": [],
                "organizer": organizer,
            }
            prefix = f"AAMkAGbulk{batch:04d}"
            ids = []
            for i in range(n):
                event_id = f"{prefix}{i:08d}AAA="
                begin = base + spacing * i
                fields = dict(template)
                fields["subject"] = subject.format(i=i)
                fields["webLink"] = _web_link(event_id)
                if online:
                    join = (f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_b{batch}x{i:08d}"
                            f"%40thread.v2/0?context=%7b%22Tid%22%3a%22{self.tenant_id}%22%7d")
                    fields.update(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness",
                                  onlineMeeting={"joinUrl": join})
                else:
                    fields.update(isOnlineMeeting=False, onlineMeetingProvider="unknown", onlineMeeting=None)
                event = _Event(event_id, cal.id, "singleInstance", fields, begin, begin + duration, "UTC", False)
                event.ical_uid = f"040000008200E00074C5B7101A82E00800000000B{batch:07d}{i:010d}"
                cal.seq += 1
                event.seq = event.created_seq = cal.seq
                event.change_key = f"DwAAABYAAAbulk{cal.seq:012d}"
                event.modified = stamp
                cal.events[event_id] = event
                ids.append(event_id)
            if notify:
                self._notify_many(cal, [(eid, "created") for eid in ids])
            return ids

    def invalidate_delta_tokens(self, calendar: str) -> None:
        """Every delta and skip token issued for this calendar now gets 410 `syncStateNotFound`."""
        with self.lock:
            self._calendar(calendar).epoch += 1

    def event(self, calendar: str, event_id: str) -> dict:
        with self.lock:
            return self._full(self._event(self._calendar(calendar), event_id))

    def events(self, calendar: str) -> list[dict]:
        """What a calendarView holds (no masters, nothing deleted), in start order."""
        with self.lock:
            cal = self._calendar(calendar)
            found = sorted((e for e in cal.events.values() if not e.deleted and e.kind != "seriesMaster"),
                           key=lambda e: (e.start, e.id))
            return [self._full(e) for e in found]

    # -- events: internals ---------------------------------------------------------------------

    def _event(self, cal: _Calendar, event_id: str) -> _Event:
        event = cal.events.get(event_id)
        if event is None or event.deleted:
            raise KeyError(f"no event {event_id!r} on calendar {cal.name!r}")
        return event

    def _occurrences_of(self, cal: _Calendar, master_id: str) -> list[_Event]:
        return [e for e in cal.events.values() if e.master_id == master_id and not e.deleted]

    def _as_moment(self, value: Any, zone: str) -> tuple[datetime, bool]:
        """A test's notion of a time → (aware UTC instant, is all-day)."""
        if isinstance(value, str):
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC), True
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(zone))
        return value.astimezone(UTC), False

    def _times(self, start: Any, end: Any, duration: timedelta, zone: str) -> tuple[datetime, datetime, bool]:
        if start is None:
            start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        start_at, all_day = self._as_moment(start, zone)
        if end is None:
            end_at = start_at + (timedelta(days=1) if all_day else duration)
        else:
            end_at, _ = self._as_moment(end, zone)
        return start_at, end_at, all_day

    def _person(self, email: str, name: str | None = None) -> dict:
        account = self.accounts.get(email)
        return {"name": name or (account.display_name if account else email.split("@")[0].replace(".", " ").title()),
                "address": email}

    def _attendees(self, items: Iterable[str | dict], owner: str, owner_response: str | None,
                   organizer: str) -> list[dict]:
        result = []
        seen = set()
        for item in items:
            spec = {"email": item} if isinstance(item, str) else dict(item)
            email = spec["email"]
            if email == organizer or email in seen:
                continue
            seen.add(email)
            kind = spec.get("type") or ("resource" if email.startswith(("room", "conf-")) else "required")
            response = spec.get("response") or ("accepted" if kind == "resource" else "none")
            if email == owner and owner_response:
                response = owner_response
            result.append({"type": kind, "status": {"response": response, "time": NULL_TIME},
                           "emailAddress": self._person(email, spec.get("name"))})
        if owner != organizer and owner not in seen:
            result.append({"type": "required", "status": {"response": owner_response or "none", "time": NULL_TIME},
                           "emailAddress": self._person(owner)})
        return result

    def _build_fields(self, cal: _Calendar, subject, body, body_type, location, online, attendees, organizer,
                      response, show_as, all_day, zone, extra: dict) -> dict:
        owner = cal.owner
        organizer = organizer or owner
        is_organizer = organizer == owner
        own_response = "organizer" if is_organizer else (response or "notResponded")
        fields: dict[str, Any] = {
            "createdDateTime": _dto(self.now_dt()), "categories": [], "transactionId": None,
            "originalStartTimeZone": _windows_name(zone), "originalEndTimeZone": _windows_name(zone),
            "reminderMinutesBeforeStart": 15, "isReminderOn": True, "hasAttachments": False,
            "subject": subject, "importance": "normal", "sensitivity": "normal", "isAllDay": all_day,
            "isCancelled": False, "isOrganizer": is_organizer, "responseRequested": True,
            "showAs": "free" if all_day and show_as == "busy" else show_as, "webLink": "",
            "onlineMeetingUrl": None, "isOnlineMeeting": False, "onlineMeetingProvider": "unknown",
            "allowNewTimeProposals": True, "isDraft": False, "hideAttendees": False,
            "responseStatus": {"response": own_response, "time": NULL_TIME if is_organizer else _dto(self.now_dt())},
            "body": {"contentType": "text", "content": ""}, "location": _location(""), "locations": [],
            "recurrence": None,
            "attendees": self._attendees(attendees or [], owner, None if is_organizer else own_response, organizer),
            "organizer": {"emailAddress": self._person(organizer)}, "onlineMeeting": None,
        }
        self._apply_changes(cal, fields, {"body": body, "body_type": body_type, "location": location,
                                          "online": online, **extra}, creating=True)
        return fields

    def _apply_changes(self, cal: _Calendar, fields: dict, changes: dict, *, creating: bool = False) -> None:
        body_type = changes.pop("body_type", None)
        for key, value in changes.items():
            if key == "body":
                if value is None:
                    if not creating:
                        fields["body"] = {"contentType": "text", "content": ""}
                    continue
                kind = body_type or ("html" if "<" in value and ">" in value else "text")
                fields["body"] = {"contentType": kind, "content": value}
            elif key == "location":
                if value is None and creating:
                    continue
                if isinstance(value, dict):
                    fields["location"] = {**_location(value.get("displayName", "")), **value}
                else:
                    fields["location"] = _location(value or "")
                fields["locations"] = [fields["location"]] if fields["location"]["displayName"] else []
            elif key == "online":
                if value is None and creating:
                    continue
                self._set_online(cal, fields, value)
            elif key == "attendees":
                organizer = fields["organizer"]["emailAddress"]["address"]
                own = fields["responseStatus"]["response"]
                fields["attendees"] = self._attendees(value or [], cal.owner,
                                                      None if own == "organizer" else own, organizer)
            elif key == "response":
                fields["responseStatus"] = {"response": value, "time": _dto(self.now_dt())}
                for attendee in fields.get("attendees", []):
                    if attendee["emailAddress"]["address"] == cal.owner:
                        attendee["status"] = {"response": value, "time": _dto(self.now_dt())}
            elif key == "subject":
                fields["subject"] = value
            elif value is None:
                fields.pop(key, None)
            else:
                fields[key] = value
        fields["bodyPreview"] = _preview(fields["body"])

    def _set_online(self, cal: _Calendar, fields: dict, online: Any) -> None:
        fields["onlineMeeting"] = None
        fields["isOnlineMeeting"] = False
        fields["onlineMeetingProvider"] = "unknown"
        if not online:
            # removing the meeting takes its invitation block and Teams location with it
            if "Join the meeting" in (fields["body"].get("content") or ""):
                fields["body"] = {"contentType": "text", "content": ""}
            if fields["location"].get("displayName") == "Microsoft Teams Meeting" or \
                    fields["location"].get("locationUri"):
                fields["location"] = _location("")
                fields["locations"] = []
            return
        if online is True or online == "teams" or (isinstance(online, str) and "teams." in online):
            join = online if isinstance(online, str) and online.startswith("http") else _teams_join_url(self.tenant_id)
            conference_id = str(secrets.randbelow(10**9)).rjust(9, "0")
            meeting_id = " ".join(str(secrets.randbelow(1000)).rjust(3, "0") for _ in range(4))
            passcode = _b64url(secrets.token_bytes(5))[:6]
            fields.update(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness", onlineMeeting={
                "joinUrl": join, "conferenceId": conference_id, "tollNumber": "+1 323-555-0166",
                "phones": [{"number": "+1 323-555-0166,,{}#".format(conference_id), "type": "toll"}],
                "quickDial": "+1 323-555-0166,,{}#".format(conference_id),
            })
            fields["body"] = {"contentType": "html", "content": _teams_body(join, meeting_id, passcode,
                                                                            self.tenant_id, fields["body"])}
            if not fields["location"]["displayName"]:
                fields["location"] = _location("Microsoft Teams Meeting", unique_id="Microsoft Teams Meeting")
                fields["locations"] = [fields["location"]]
            return
        url = online
        if online == "zoom":
            url = f"https://us06web.zoom.us/j/8{secrets.randbelow(10**9):09d}?pwd={_b64url(secrets.token_bytes(15))}.1"
        fields["location"] = _location(url if len(url) < 100 else "Online meeting", uri=url)
        fields["locations"] = [fields["location"]]
        html = (f"<html><body><div>Join the meeting: <a href=\"{url}\">{url}</a></div>"
                f"<div>{_text_of(fields['body'])}</div></body></html>")
        fields["body"] = {"contentType": "html", "content": html}

    def _make_exception(self, cal: _Calendar, event: _Event) -> None:
        master = self._event(cal, event.master_id)
        event.fields = json.loads(json.dumps({k: v for k, v in master.fields.items() if k != "recurrence"}))
        event.kind = "exception"

    def _stamp(self, cal: _Calendar, event: _Event) -> None:
        cal.seq += 1
        event.seq = cal.seq
        event.change_key = "DwAAABYAAAC" + _b64url(hashlib.sha256(f"{event.id}:{cal.seq}".encode()).digest())[:22]
        event.modified = _dto(self.now_dt())
        event.cache = {}

    def _store(self, cal: _Calendar, event: _Event, change: str | None, *, notify: bool = True) -> None:
        if event.fields is not None:
            event.fields["webLink"] = _web_link(event.id)
        self._stamp(cal, event)
        event.created_seq = event.seq
        cal.events[event.id] = event
        if change and notify:
            self._notify_many(cal, [(event.id, change)])

    def _touch(self, cal: _Calendar, event: _Event, change: str | None) -> None:
        self._stamp(cal, event)
        if change:
            self._notify_many(cal, [(event.id, change)])

    def _remove(self, cal: _Calendar, event: _Event, *, notify: bool = True) -> None:
        event.deleted = True
        self._stamp(cal, event)
        if notify:
            self._notify_many(cal, [(event.id, "deleted")])

    # -- rendering -----------------------------------------------------------------------------

    def _fields_of(self, cal: _Calendar, event: _Event) -> dict:
        if event.fields is not None:
            return event.fields
        return cal.events[event.master_id].fields

    def _render(self, event: _Event, label: str, tz: ZoneInfo | timezone) -> dict:
        """The full Graph resource in zone `tz` (called `label` on the wire); cached per zone."""
        cached = event.cache.get(label)
        if cached is not None:
            return cached
        cal = self.calendars[event.calendar_id]
        wire: dict[str, Any] = {"@odata.etag": f'W/"{event.change_key}"', "id": event.id}
        wire.update(self._fields_of(cal, event))
        wire["lastModifiedDateTime"] = event.modified
        wire["changeKey"] = event.change_key
        wire["iCalUId"] = event.ical_uid
        wire["type"] = event.kind
        wire["seriesMasterId"] = event.master_id
        wire["start"] = _render_time(event.start, event.all_day, event.zone, label, tz)
        wire["end"] = _render_time(event.end, event.all_day, event.zone, label, tz)
        if event.kind != "seriesMaster":
            wire["recurrence"] = None
        if event.original_start is not None:
            wire["originalStart"] = _dto_short(event.original_start)
        wire["webLink"] = _web_link(event.id)
        event.cache[label] = wire
        return wire

    def _skinny(self, event: _Event, label: str, tz: ZoneInfo | timezone) -> dict:
        return {"@odata.type": "#microsoft.graph.event", "@odata.etag": f'W/"{event.change_key}"',
                "id": event.id, "seriesMasterId": event.master_id, "type": event.kind,
                "start": _render_time(event.start, event.all_day, event.zone, label, tz),
                "end": _render_time(event.end, event.all_day, event.zone, label, tz)}

    def _full(self, event: _Event) -> dict:
        return json.loads(json.dumps(self._render(event, "UTC", UTC)))

    # -- OAuth: test helpers -------------------------------------------------------------------

    def deny_next_consent(self, times: int = 1) -> None:
        """The next consent screen(s) end with the user declining: `?error=access_denied`."""
        with self.lock:
            self._deny_next += times

    def revoke(self, account: str) -> None:
        """The user (or an admin) revokes calbot's sessions: refresh tokens give invalid_grant
        (AADSTS50173) and access tokens 401."""
        with self.lock:
            for grant in self._refresh_tokens.values():
                if grant["account"] == account:
                    grant["revoked"] = True
            for token in [t for t, g in self._access_tokens.items() if g["account"] == account]:
                del self._access_tokens[token]

    def expire_access_tokens(self, account: str | None = None) -> None:
        """Current access tokens (of one account, or all) stop working; refresh tokens still work."""
        with self.lock:
            for grant in self._access_tokens.values():
                if account is None or grant["account"] == account:
                    grant["expires_at"] = self.now() - 1

    def latest_refresh_token(self, account: str) -> str | None:
        """The refresh token issued last for `account` (what calbot should have stored)."""
        with self.lock:
            return self._latest_refresh.get(account)

    def grant(self, account: str, scopes: Iterable[str] = DEFAULT_GRANT) -> dict:
        """Issue tokens for `account` directly (skipping consent): the token endpoint's JSON."""
        with self.lock:
            if account not in self.accounts:
                self.add_account(account)
            return self._issue_tokens(account, {_canonical_scope(s) or s for s in scopes}, nonce=None)

    def consent(self, authorization_url: str) -> str:
        """Play the browser: open the authorize URL and return the redirect it answers with."""
        response = httpx.get(authorization_url, follow_redirects=False, timeout=10)
        if response.status_code != 302:
            raise AssertionError(f"consent failed: {response.status_code} {response.text[:300]}")
        return response.headers["location"]

    # -- OAuth: endpoints ----------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        tenant = request.path_params["tenant"]
        client_id = q.get("client_id")
        if client_id != self.client_id:
            return _error_page(400, 700016, f"Application with identifier '{client_id}' was not found in the "
                                            f"directory '{tenant}'.")
        redirect_uri = q.get("redirect_uri") or ""
        parts = urlsplit(redirect_uri)
        if (not redirect_uri or parts.scheme not in ("http", "https") or parts.fragment
                or (self.redirect_uris is not None and redirect_uri not in self.redirect_uris)):
            return _error_page(400, 50011, f"The redirect URI '{redirect_uri}' specified in the request does not "
                                           f"match the redirect URIs configured for the application '{client_id}'.")
        state = q.get("state")

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            sep = "&" if parts.query else "?"
            return RedirectResponse(redirect_uri + sep + urlencode(params), status_code=302)

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type",
                        error_description=f"AADSTS700054: response_type '{q.get('response_type')}' is not enabled "
                                          "for the application.")
        if q.get("response_mode", "query") != "query":
            return back(error="invalid_request",
                        error_description="AADSTS900144: this emulator answers with response_mode=query only.")
        requested = (q.get("scope") or "").split()
        if not requested:
            return back(error="invalid_request",
                        error_description="AADSTS900144: The request body must contain the following parameter: "
                                          "'scope'.")
        granted: set[str] = set()
        for scope in requested:
            if scope.lower() in (".default", GRAPH_RESOURCE + ".default"):
                granted |= self.app_permissions
                continue
            canonical = _canonical_scope(scope)
            if canonical is None:
                return back(error="invalid_scope",
                            error_description=f"AADSTS70011: The provided value for the input parameter 'scope' "
                                              f"is not valid. The scope '{scope}' does not exist.")
            granted.add(canonical)
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method")
        if challenge is None and self.require_pkce:
            return back(error="invalid_request",
                        error_description="AADSTS9002325: Proof Key for Code Exchange is required for "
                                          "cross-origin authorization code redemption.")
        if challenge is not None:
            if method != "S256":
                return back(error="invalid_request",
                            error_description="AADSTS501491: Invalid code_challenge_method: this app requires S256.")
            if not _CHALLENGE_RE.match(challenge):
                return back(error="invalid_request", error_description="AADSTS501481: Invalid code_challenge.")
        prompt = q.get("prompt")
        if prompt not in (None, "login", "none", "consent", "select_account"):
            return back(error="invalid_request", error_description=f"AADSTS90023: Invalid prompt value '{prompt}'.")
        with self.lock:
            if self._deny_next:
                self._deny_next -= 1
                return back(error="access_denied",
                            error_description="AADSTS65004: User declined to consent to access the app.")
            email = self.next_login or q.get("login_hint") or next(iter(self.accounts), "user@contoso.com")
            self.next_login = None
            if email not in self.accounts:
                self.add_account(email)
            code = "0.AXoA" + _b64url(secrets.token_bytes(48))
            self._codes[code] = {
                "client_id": client_id, "redirect_uri": redirect_uri, "challenge": challenge, "account": email,
                "scopes": granted, "expires_at": self.now() + self.code_lifetime, "used": False,
                "nonce": q.get("nonce"), "tenant": tenant,
            }
        return back(code=code, session_state=str(uuid.uuid4()))

    def _client_from(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(header[6:]).decode().partition(":")
                return unquote(cid), unquote(secret)
            except (ValueError, UnicodeDecodeError):
                return None, None
        return form.get("client_id"), form.get("client_secret")

    async def _token(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _aad_error("invalid_request", 900144, "The request body must contain the following parameter: "
                                                         "'grant_type'.")
        form = dict(parse_qsl((await request.body()).decode()))
        client_id, client_secret = self._client_from(request, form)
        if client_id != self.client_id:
            return _aad_error("unauthorized_client", 700016,
                              f"Application with identifier '{client_id}' was not found in the directory.", 400)
        if client_secret != self.client_secret:
            return _aad_error("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being "
                                                         "sent in the request is the client secret value.", 401)
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "authorization_code":
                return self._exchange_code(form)
            if grant_type == "refresh_token":
                return self._refresh(form)
        return _aad_error("unsupported_grant_type", 70003, f"The app requested an unsupported grant type "
                                                           f"'{grant_type}'.")

    def _exchange_code(self, form: dict[str, str]) -> Response:
        grant = self._codes.get(form.get("code", ""))
        if grant is None:
            return _aad_error("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        if grant["used"]:
            return _aad_error("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please "
                                                      "retry with a new valid code or use an existing refresh token.")
        if grant["expires_at"] < self.now():
            return _aad_error("invalid_grant", 70008, "The provided authorization code or refresh token has "
                                                      "expired due to inactivity.")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _aad_error("invalid_grant", 500112, "The reply address does not match the reply address "
                                                       "provided when requesting Authorization code.")
        if grant["challenge"] is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _aad_error("invalid_request", 900144, "The request body must contain the following "
                                                             "parameter: 'code_verifier'.")
            if not _VERIFIER_RE.match(verifier) or not hmac.compare_digest(_s256(verifier), grant["challenge"]):
                return _aad_error("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge "
                                                           "supplied in the authorization request.")
        grant["used"] = True
        return _json(self._issue_tokens(grant["account"], grant["scopes"], nonce=grant["nonce"]))

    def _refresh(self, form: dict[str, str]) -> Response:
        token = form.get("refresh_token", "")
        grant = self._refresh_tokens.get(token)
        entry = {"token": token, "at": self.now(), "latest": False, "outcome": "invalid"}
        self.refresh_log.append(entry)
        if grant is None:
            return _aad_error("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        entry["latest"] = self._latest_refresh.get(grant["account"]) == token
        if grant["revoked"]:
            entry["outcome"] = "revoked"
            return _aad_error("invalid_grant", 50173, "The provided grant has expired due to it being revoked, a "
                                                      "fresh auth token is needed. The user might have changed or "
                                                      "reset their password.")
        if grant["superseded_at"] is not None and self.now() - grant["superseded_at"] > self.refresh_grace:
            entry["outcome"] = "superseded"
            return _aad_error("invalid_grant", 70000, "The provided value for the 'refresh_token' is not valid: "
                                                      "it was replaced by a newer refresh token.")
        scopes = set(grant["scopes"])
        if form.get("scope"):
            asked = set()
            for scope in form["scope"].split():
                canonical = _canonical_scope(scope)
                if canonical is None:
                    return _aad_error("invalid_scope", 70011, f"The scope '{scope}' does not exist.")
                asked.add(canonical)
            extra = {s for s in asked if s not in OIDC_SCOPES} - scopes
            if extra:
                return _aad_error("invalid_grant", 65001, f"The user or administrator has not consented to use "
                                                          f"the application for {sorted(extra)}.")
        if grant["superseded_at"] is None:
            grant["superseded_at"] = self.now()
        entry["outcome"] = "ok"
        return _json(self._issue_tokens(grant["account"], scopes, nonce=None))

    def _issue_tokens(self, account: str, scopes: set[str], *, nonce: str | None) -> dict:
        now = self.now()
        acct = self.accounts[account]
        graph_scopes = sorted(s for s in scopes if s not in OIDC_SCOPES)
        claims = {
            "aud": "00000003-0000-0000-c000-000000000000", "iss": f"https://sts.windows.net/{acct.tenant_id}/",
            "iat": int(now), "nbf": int(now), "exp": int(now) + self.access_token_lifetime,
            "app_displayname": "calbot", "appid": self.client_id, "name": acct.display_name, "oid": acct.id,
            "scp": " ".join(graph_scopes + [s for s in ("openid", "email", "profile") if s in scopes]),
            "tid": acct.tenant_id, "unique_name": acct.user_principal_name, "upn": acct.user_principal_name,
            "uti": _b64url(secrets.token_bytes(16)), "ver": "1.0",
        }
        access = _jwt({"typ": "JWT", "nonce": _b64url(secrets.token_bytes(16)), "alg": "RS256", "x5t": "fake",
                       "kid": "fake"}, claims, secrets.token_bytes(32))
        self._access_tokens[access] = {"account": account, "scopes": set(scopes),
                                       "expires_at": now + self.access_token_lifetime}
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join([GRAPH_RESOURCE + s for s in graph_scopes]
                              + [s for s in OIDC_SCOPES if s in scopes]),
            "expires_in": self.access_token_lifetime - 1, "ext_expires_in": self.access_token_lifetime - 1,
            "access_token": access,
        }
        if "offline_access" in scopes:
            refresh = "0.AXoA" + _b64url(secrets.token_bytes(96))
            self._refresh_tokens[refresh] = {"account": account, "scopes": set(scopes), "revoked": False,
                                             "issued_at": now, "superseded_at": None}
            previous = self._latest_refresh.get(account)
            if previous in self._refresh_tokens and self._refresh_tokens[previous]["superseded_at"] is None:
                self._refresh_tokens[previous]["superseded_at"] = now
            self._latest_refresh[account] = refresh
            body["refresh_token"] = refresh
        if "openid" in scopes:
            id_claims = {
                "aud": self.client_id, "iss": f"https://login.microsoftonline.com/{acct.tenant_id}/v2.0",
                "iat": int(now), "nbf": int(now), "exp": int(now) + 3600, "name": acct.display_name,
                "oid": acct.id, "preferred_username": acct.user_principal_name, "sub": _b64url(
                    hashlib.sha256((acct.id + self.client_id).encode()).digest()[:24]),
                "tid": acct.tenant_id, "ver": "2.0",
            }
            if "email" in scopes and acct.mail:
                id_claims["email"] = acct.mail
            if nonce:
                id_claims["nonce"] = nonce
            body["id_token"] = _jwt({"typ": "JWT", "alg": "HS256", "kid": "fake"}, id_claims,
                                    self.client_secret.encode())
        return body

    # -- faults --------------------------------------------------------------------------------

    def throttle_next(self, path: str = r"^/v1\.0/", *, retry_after: float = 2, times: int = 1,
                      method: str | None = None, status: int = 429) -> None:
        """Answer the next matching Graph call(s) with 429 TooManyRequests and a Retry-After."""
        code, message = ("TooManyRequests", "Too many requests.") if status == 429 else \
            ("ServiceUnavailable", "Service is unavailable. Please try again later.")
        self.fail_next(path, status, body=graph_error(code, message), retry_after=retry_after, times=times,
                       method=method)

    def fail_next_graph(self, path: str, status: int, code: str, message: str = "", *, times: int = 1,
                        retry_after: float | None = None, method: str | None = None) -> None:
        """Any Graph-shaped error on the next matching call(s), e.g. 503 ServiceUnavailable."""
        self.fail_next(path, status, body=graph_error(code, message or code), retry_after=retry_after,
                       times=times, method=method)

    # -- Graph ---------------------------------------------------------------------------------

    async def _graph(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(request.scope["path"])
        segments = [unquote(s) for s in path.split("?", 1)[0][len("/v1.0/"):].split("/") if s != ""]
        body = await request.body()
        q = request.query_params
        with self.lock:
            grant, problem = self._authenticate(request)
        if problem is not None:
            return problem
        account = grant["account"]
        lowered = [s.lower() for s in segments]
        if lowered[:1] == ["users"] and len(segments) >= 2:
            acct = self.accounts.get(account)
            if segments[1].lower() not in (account.lower(), acct.id if acct else ""):
                return _graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            segments = ["me", *segments[2:]]
            lowered = ["me", *lowered[2:]]
        if lowered[:1] == ["subscriptions"]:
            return await self._subscriptions(request, grant, segments[1:], body)
        if lowered[:1] != ["me"]:
            first = segments[0] if segments else ""
            return _graph_error(400, "BadRequest", f"Resource not found for the segment '{first}'.")

        # MailboxConcurrency: every /me request holds a slot while it runs.
        with self.lock:
            inflight = self._inflight.get(account, 0) + 1
            self._inflight[account] = inflight
            self.max_concurrency[account] = max(self.max_concurrency.get(account, 0), inflight)
            over = inflight > self.concurrency_limit
            if over:
                self._inflight[account] -= 1
                self.throttled[account] = self.throttled.get(account, 0) + 1
        if over:
            return _graph_error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                                {"Retry-After": str(self.concurrency_retry_after)})
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            with self.lock:
                return self._mailbox(request, grant, segments[1:], lowered[1:], q)
        finally:
            with self.lock:
                self._inflight[account] -= 1

    def _authenticate(self, request: Request) -> tuple[dict | None, Response | None]:
        header = request.headers.get("authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                                         'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return None, _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", challenge)
        grant = self._access_tokens.get(header[7:].strip())
        if grant is None:
            return None, _graph_error(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.",
                                      challenge)
        if grant["expires_at"] <= self.now():
            return None, _graph_error(401, "InvalidAuthenticationToken",
                                      "Lifetime validation failed, the token is expired.", challenge)
        return grant, None

    def _allowed(self, grant: dict, kind: str) -> Response | None:
        if grant["scopes"] & ACCESS[kind]:
            return None
        return _graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _mailbox(self, request: Request, grant: dict, segments: list[str], lowered: list[str], q) -> Response:
        account = self.accounts[grant["account"]]
        method = request.method
        if method != "GET":
            return _graph_error(405, "ErrorInvalidRequest", "This emulator's mailbox is read-only.")
        match lowered:
            case []:
                return self._allowed(grant, "user") or _json(self._me(account, q))
            case ["calendars"]:
                return self._allowed(grant, "calendars") or self._list_calendars(account, q)
            case ["calendars", _]:
                cal = self._visible(account, segments[1])
                return self._allowed(grant, "calendars") or (
                    _json(self._calendar_wire(account, cal)) if cal else _not_found())
            case ["calendar"]:
                return self._allowed(grant, "calendars") or _json(
                    self._calendar_wire(account, self.calendars[account.default_calendar]))
            case ["calendarview", "delta"] | ["calendar", "calendarview", "delta"]:
                return self._allowed(grant, "events") or self._delta(
                    request, account, self.calendars[account.default_calendar], q)
            case ["calendars", _, "calendarview", "delta"]:
                cal = self._visible(account, segments[1])
                return self._allowed(grant, "events") or (self._delta(request, account, cal, q) if cal
                                                          else _not_found())
            case ["events", _] | ["calendar", "events", _]:
                return self._allowed(grant, "events") or self._get_event(request, account, None, segments[-1], q)
            case ["calendars", _, "events", _]:
                cal = self._visible(account, segments[1])
                return self._allowed(grant, "events") or (
                    self._get_event(request, account, cal, segments[3], q) if cal else _not_found())
        return _graph_error(400, "BadRequest", f"Resource not found for the segment '{'/'.join(segments)}'.")

    def _visible(self, account: _Account, calendar_id: str) -> _Calendar | None:
        if calendar_id not in account.calendar_ids:
            return None
        return self.calendars.get(calendar_id)

    def _me(self, account: _Account, q) -> dict:
        me = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity", "businessPhones": [],
            "displayName": account.display_name, "givenName": account.display_name.split(" ")[0],
            "jobTitle": None, "mail": account.mail, "mobilePhone": None, "officeLocation": None,
            "preferredLanguage": "en-US", "surname": account.display_name.split(" ")[-1],
            "userPrincipalName": account.user_principal_name, "id": account.id,
        }
        return _select(me, q.get("$select"), keep=("@odata.context", "id"))

    def _calendar_wire(self, account: _Account, cal: _Calendar) -> dict:
        owner = self.accounts.get(cal.owner)
        return {
            "id": cal.id, "name": cal.name, "color": cal.color, "hexColor": "", "groupClassId": str(uuid.UUID(int=0)),
            "isDefaultCalendar": cal.is_default and cal.owner == account.email, "changeKey": cal.change_key,
            "canShare": cal.owner == account.email, "canViewPrivateItems": cal.owner == account.email,
            "canEdit": cal.can_edit, "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness", "isTallyingResponses": True,
            "isRemovable": not cal.is_default,
            "owner": {"name": owner.display_name if owner else cal.owner, "address": cal.owner},
        }

    def _list_calendars(self, account: _Account, q) -> Response:
        entries = [self._calendar_wire(account, self.calendars[cid]) for cid in account.calendar_ids]
        try:
            top = int(q.get("$top", 10))
            skip = int(q.get("$skip", 0))
        except ValueError:
            return _graph_error(400, "BadRequest", "Invalid $top or $skip value.")
        if top < 1 or skip < 0:
            return _graph_error(400, "BadRequest", "Invalid $top or $skip value.")
        result: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{account.id}')/calendars",
            "value": [_select(e, q.get("$select"), keep=("id",)) for e in entries[skip:skip + top]],
        }
        if skip + top < len(entries):
            params = {"$top": str(top), "$skip": str(skip + top)}
            if q.get("$select"):
                params["$select"] = q["$select"]
            result["@odata.nextLink"] = f"{self.url}/v1.0/me/calendars?{urlencode(params)}"
        return _json(result)

    def _get_event(self, request: Request, account: _Account, cal: _Calendar | None, event_id: str, q) -> Response:
        cals = [cal] if cal else [self.calendars[cid] for cid in account.calendar_ids]
        event = None
        for candidate in cals:
            found = candidate.events.get(event_id)
            if found is not None and not found.deleted:
                event = found
                break
        if event is None:
            return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        label, tz, applied = self._prefer_zone(request)
        wire = _select(self._render(event, label, tz), q.get("$select"), keep=("@odata.etag", "id"))
        wire = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{account.id}')/events/$entity",
                **wire}
        return _json(wire, headers={"Preference-Applied": applied} if applied else None)

    def _prefer_zone(self, request: Request) -> tuple[str, ZoneInfo | timezone, str | None]:
        prefs = _parse_prefer(request.headers.getlist("prefer"))
        wanted = prefs.get("outlook.timezone")
        if wanted:
            tz = _zone(wanted)
            if tz is not None:
                return wanted, tz, f'outlook.timezone="{wanted}"'
        return "UTC", UTC, None

    # -- calendarView/delta ----------------------------------------------------------------------

    def _delta(self, request: Request, account: _Account, cal: _Calendar, q) -> Response:
        prefs = _parse_prefer(request.headers.getlist("prefer"))
        label, tz, applied = self._prefer_zone(request)
        size = self.default_page_size
        if "odata.maxpagesize" in prefs:
            try:
                size = max(1, min(int(prefs["odata.maxpagesize"]), self.max_page_size))
            except ValueError:
                pass
            else:
                applied = ", ".join(filter(None, [applied, f"odata.maxpagesize={size}"]))
        skip = q.get("$skiptoken")
        delta = q.get("$deltatoken")
        self.delta_log.append({"calendar_id": cal.id, "prefer": prefs, "page_size": size,
                               "kind": "page" if skip else "delta" if delta else "initial"})
        if skip is not None:
            cursor_key, _, offset_text = skip.rpartition(".")
            cursor = self._cursors.get(cursor_key)
            if cursor is None or cursor.calendar_id != cal.id or cursor.account != account.email \
                    or not offset_text.isdigit():
                return _gone("The skip token is not valid for this calendar view.")
            if cursor.epoch != cal.epoch:
                return _gone()
            offset = int(offset_text)
        elif delta is not None:
            state = self._delta_tokens.get(delta)
            if state is None or state.calendar_id != cal.id or state.account != account.email \
                    or state.epoch != cal.epoch:
                return _gone()
            lo, hi = state.window
            items = []
            for event in cal.events.values():
                if event.seq <= state.seq or event.kind == "seriesMaster":
                    continue
                visible = not event.deleted and event.start < hi and event.end > lo
                if visible:
                    items.append((event.id, False))
                elif event.created_seq <= state.seq:
                    items.append((event.id, True))
            items.sort(key=lambda item: cal.events[item[0]].seq)
            cursor = _DeltaCursor(cal.id, account.email, items, cal.seq, cal.epoch, state.window)
            offset = 0
        else:
            start_text, end_text = _param_ci(q, "startDateTime"), _param_ci(q, "endDateTime")
            if not start_text or not end_text:
                return _graph_error(400, "ErrorInvalidParameter",
                                    "This request requires a time window specified by the query string parameters "
                                    "StartDateTime and EndDateTime.")
            try:
                lo, hi = _parse_when(start_text), _parse_when(end_text)
            except ValueError:
                return _graph_error(400, "ErrorInvalidParameter",
                                    "The value of StartDateTime or EndDateTime is invalid.")
            if hi <= lo:
                return _graph_error(400, "ErrorInvalidParameter", "EndDateTime must be later than StartDateTime.")
            found = [e for e in cal.events.values()
                     if not e.deleted and e.kind != "seriesMaster" and e.start < hi and e.end > lo]
            found.sort(key=lambda e: (e.start, e.id))
            cursor = _DeltaCursor(cal.id, account.email, [(e.id, False) for e in found], cal.seq, cal.epoch, (lo, hi))
            offset = 0

        if skip is None:
            cursor_id = _b64url(secrets.token_bytes(18))
            self._cursors[cursor_id] = cursor
        else:
            cursor_id = skip.rsplit(".", 1)[0]
        raw_path = request.scope.get("raw_path")
        base = self.url + (raw_path.decode("latin-1").split("?", 1)[0] if raw_path else quote(request.url.path))
        page = []
        for event_id, removed in cursor.items[offset:offset + size]:
            event = cal.events.get(event_id)
            if removed or event is None or event.deleted:
                page.append({"@odata.type": "#microsoft.graph.event", "id": event_id,
                             "@removed": {"reason": "deleted"}})
            elif event.kind == "occurrence" and self.skinny_occurrences:
                page.append(self._skinny(event, label, tz))
            else:
                page.append({"@odata.type": "#microsoft.graph.event", **self._render(event, label, tz)})
        result: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
        }
        if offset + size < len(cursor.items):
            result["@odata.nextLink"] = f"{base}?{urlencode({'$skiptoken': f'{cursor_id}.{offset + size}'})}"
        else:
            token = _b64url(secrets.token_bytes(24))
            self._delta_tokens[token] = _DeltaToken(cal.id, account.email, cursor.seq, cursor.epoch, cursor.window)
            result["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': token})}"
        result["value"] = page
        return _json(result, headers={"Preference-Applied": applied} if applied else None)

    # -- subscriptions -------------------------------------------------------------------------

    async def _subscriptions(self, request: Request, grant: dict, rest: list[str], body: bytes) -> Response:
        account = grant["account"]
        method = request.method
        if not rest and method == "POST":
            return await self._create_subscription(grant, body)
        with self.lock:
            if not rest and method == "GET":
                subs = [s.wire(self.accounts[account].id) for s in self.subscriptions.values()
                        if s.account == account and not s.deleted and s.expires > self.now_dt()]
                return _json({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
                              "value": subs})
            sub = self.subscriptions.get(rest[0]) if rest else None
            if sub is None or sub.deleted or sub.account != account or sub.expires <= self.now_dt():
                return _graph_error(404, "ResourceNotFound", f"The object was not found.")
            if len(rest) == 2 and rest[1].lower() == "reauthorize" and method == "POST":
                return Response(status_code=204)
            if len(rest) != 1:
                return _graph_error(400, "BadRequest", "Unsupported segment.")
            if method == "GET":
                return _json(sub.wire(self.accounts[account].id))
            if method == "DELETE":
                sub.deleted = True
                return Response(status_code=204)
            if method == "PATCH":
                try:
                    patch = json.loads(body or b"null")
                    expires = _parse_when(patch["expirationDateTime"])
                except (ValueError, KeyError, TypeError):
                    return _graph_error(400, "InvalidRequest", "expirationDateTime is required and must be a "
                                                               "DateTimeOffset.")
                problem = self._check_expiration(expires)
                if problem is not None:
                    return problem
                sub.expires = expires
                return _json(sub.wire(self.accounts[account].id))
        return _graph_error(405, "MethodNotAllowed", "The method is not allowed.")

    def _check_expiration(self, expires: datetime) -> Response | None:
        now = self.now_dt()
        if expires <= now:
            return _graph_error(400, "InvalidRequest", "Subscription expiration must be in the future.")
        if expires > now + timedelta(minutes=self.max_subscription_minutes):
            return _graph_error(400, "InvalidRequest", f"Subscription expiration can only be "
                                                       f"{self.max_subscription_minutes} minutes in the future.")
        return None

    async def _create_subscription(self, grant: dict, body: bytes) -> Response:
        account = grant["account"]
        try:
            spec = json.loads(body or b"null")
            if not isinstance(spec, dict):
                raise ValueError
        except ValueError:
            return _graph_error(400, "BadRequest", "Unable to read JSON request payload.")
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not spec.get(name):
                return _graph_error(400, "InvalidRequest", f"The property '{name}' is required.")
        change_types = frozenset(t.strip() for t in str(spec["changeType"]).split(","))
        if not change_types or not change_types <= {"created", "updated", "deleted"}:
            return _graph_error(400, "InvalidRequest", f"Invalid changeType '{spec['changeType']}'.")
        client_state = spec.get("clientState")
        if client_state is not None and len(str(client_state)) > 128:
            return _graph_error(400, "InvalidRequest", "clientState can be at most 128 characters.")
        urls = [spec["notificationUrl"]] + ([spec["lifecycleNotificationUrl"]] if spec.get("lifecycleNotificationUrl")
                                           else [])
        for url in urls:
            scheme = urlsplit(url).scheme
            if scheme not in (("https",) if self.require_https else ("http", "https")):
                return _graph_error(400, "InvalidRequest", f"Subscription notification URL must be HTTPS: {url}")
        try:
            expires = _parse_when(spec["expirationDateTime"])
        except (ValueError, TypeError):
            return _graph_error(400, "InvalidRequest", "expirationDateTime must be a DateTimeOffset.")
        with self.lock:
            if not grant["scopes"] & ACCESS["events"]:
                return _graph_error(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; "
                                                           "Reason: Access is denied.]")
            calendar_id = self._subscription_calendar(self.accounts[account], spec["resource"])
            if calendar_id is None:
                return _graph_error(400, "ExtensionError", f"Operation: Create; Exception: [Status Code: NotFound; "
                                                           f"Reason: Resource '{spec['resource']}' not found.]")
            if self.calendars[calendar_id].owner != account:
                # delegated permissions only reach folders in the signed-in user's own mailbox
                return _graph_error(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; "
                                                           "Reason: Access is denied. Check credentials and try "
                                                           "again.]")
            problem = self._check_expiration(expires)
            if problem is not None:
                return problem
        for url in urls:
            problem = await self._validate_endpoint(url)
            if problem is not None:
                return problem
        with self.lock:
            sub = _Subscription(id=str(uuid.uuid4()), account=account, resource=spec["resource"],
                                calendar_id=calendar_id, change_types=change_types,
                                notification_url=spec["notificationUrl"],
                                lifecycle_url=spec.get("lifecycleNotificationUrl"), client_state=client_state,
                                expires=expires, application_id=self.application_id,
                                tls=spec.get("latestSupportedTlsVersion") or "v1_2")
            self.subscriptions[sub.id] = sub
            return _json(sub.wire(self.accounts[account].id), 201)

    def _subscription_calendar(self, account: _Account, resource: str) -> str | None:
        path = resource.split("?", 1)[0].strip("/")
        path = re.sub(r"\('([^']*)'\)", r"/\1", path)
        parts = path.split("/")
        lowered = [p.lower() for p in parts]
        if lowered[:1] == ["users"] and len(parts) >= 2:
            if parts[1].lower() not in (account.email.lower(), account.id):
                return None
            parts, lowered = ["me", *parts[2:]], ["me", *lowered[2:]]
        match lowered:
            case ["me", "events"] | ["me", "calendar", "events"]:
                # as in Graph, /me/events notifies for the default calendar only
                return account.default_calendar
            case ["me", "calendars", _, "events"]:
                return parts[2] if parts[2] in account.calendar_ids else None
        return None

    async def _validate_endpoint(self, url: str) -> Response | None:
        """Graph's handshake: POST url?validationToken=... and expect the token back as text/plain."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        record = PushRecord("validation", None, url, None)
        with self.lock:
            self.pushes.append(record)
        sep = "&" if urlsplit(url).query else "?"
        target = url + sep + urlencode({"validationToken": token})
        try:
            async with httpx.AsyncClient(timeout=self.validation_timeout) as client:
                response = await client.post(target, headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.TimeoutException:
            record.outcome, record.error, record.sent_at = "failed", "timeout", time.time()
            return _graph_error(400, "ValidationError", "Subscription validation request timed out.")
        except httpx.HTTPError as exc:
            record.outcome, record.error, record.sent_at = "failed", f"{type(exc).__name__}: {exc}", time.time()
            return _graph_error(400, "ValidationError", "Subscription validation request failed. "
                                                        f"{type(exc).__name__} reaching the notification endpoint.")
        record.status, record.response_text, record.sent_at = response.status_code, response.text[:1000], time.time()
        content_type = response.headers.get("content-type", "")
        if response.status_code != 200:
            record.outcome = "failed"
            return _graph_error(400, "ValidationError", "Subscription validation request failed. Notification "
                                                        "endpoint must respond with 200 OK to validation request.")
        if response.text != token or not content_type.startswith("text/plain"):
            record.outcome = "failed"
            return _graph_error(400, "ValidationError", "Subscription validation request failed. Response must "
                                                        "exactly match validationToken query parameter.")
        record.outcome = "delivered"
        return None

    # -- notifications -------------------------------------------------------------------------

    def active_subscriptions(self, account: str | None = None) -> list[_Subscription]:
        with self.lock:
            now = self.now_dt()
            return [s for s in self.subscriptions.values() if not s.deleted and s.expires > now
                    and (account is None or s.account == account)]

    def _notify_many(self, cal: _Calendar, changes: list[tuple[str, str]]) -> None:
        now = self.now_dt()
        for sub in list(self.subscriptions.values()):
            if sub.deleted or sub.expires <= now or sub.calendar_id != cal.id:
                continue
            acct = self.accounts[sub.account]
            wanted = [(eid, kind) for eid, kind in changes if kind in sub.change_types]
            for start in range(0, len(wanted), 100):  # Graph batches notifications into one POST
                value = []
                for event_id, kind in wanted[start:start + 100]:
                    event = cal.events.get(event_id)
                    resource = f"Users/{acct.id}/Events/{event_id}"
                    value.append({
                        "subscriptionId": sub.id, "subscriptionExpirationDateTime": _dto(sub.expires),
                        "changeType": kind, "resource": resource,
                        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource,
                                         "@odata.etag": f'W/"{event.change_key if event else ""}"', "id": event_id},
                        "clientState": sub.client_state, "tenantId": acct.tenant_id,
                    })
                self._dispatch(PushRecord("change", sub.id, sub.notification_url, {"value": value}))

    def notify(self, calendar: str, event_id: str | None = None, change: str = "updated") -> None:
        """Send a change notification without changing anything (a spurious one)."""
        with self.lock:
            cal = self._calendar(calendar)
            target = event_id or next(iter(cal.events), _graph_id())
            self._notify_many(cal, [(target, change)])

    def send_lifecycle(self, subscription_id: str, event: str) -> PushRecord:
        """Send a lifecycle notification: reauthorizationRequired | subscriptionRemoved | missed.

        `subscriptionRemoved` also deletes the subscription (renewals then get 404). Without a
        lifecycleNotificationUrl nothing is sent (the record says `dropped`), as in Graph.
        """
        if event not in ("reauthorizationRequired", "subscriptionRemoved", "missed"):
            raise ValueError(f"unknown lifecycle event {event!r}")
        with self.lock:
            sub = self.subscriptions[subscription_id]
            acct = self.accounts[sub.account]
            body = {"value": [{
                "subscriptionId": sub.id, "subscriptionExpirationDateTime": _dto(sub.expires),
                "tenantId": acct.tenant_id, "clientState": sub.client_state, "lifecycleEvent": event,
                "resource": sub.resource, "organizationId": acct.tenant_id,
            }]}
            record = PushRecord("lifecycle", sub.id, sub.lifecycle_url or "", body)
            if event == "subscriptionRemoved":
                sub.deleted = True
            if not sub.lifecycle_url:
                record.outcome = "dropped"
                self.pushes.append(record)
                return record
            self._dispatch(record)
            return record

    def _dispatch(self, record: PushRecord) -> None:
        mode = self.push_mode
        self.pushes.append(record)
        if mode == "drop":
            record.outcome = "dropped"
        elif mode == "reorder":
            record.outcome = "held"
            self._held.append(record)
        elif mode == "duplicate":
            self._enqueue(record, 0.0)
            twin = PushRecord(record.kind, record.subscription_id, record.url, json.loads(json.dumps(record.body)))
            self.pushes.append(twin)
            self._enqueue(twin, 0.0)
        elif mode == "delay":
            self._enqueue(record, self.push_delay)
        else:
            self._enqueue(record, 0.0)

    def flush_pushes(self) -> int:
        """Send what `push_mode="reorder"` held back, newest first. Returns how many."""
        with self.lock:
            held, self._held = self._held, []
        for record in reversed(held):
            record.outcome = "pending"
            self._enqueue(record, 0.0)
        return len(held)

    def _enqueue(self, record: PushRecord, delay: float) -> None:
        with self._queue_cv:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._queue_seq), record))
            self._queue_cv.notify()

    def _push_worker(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while True:
                with self._queue_cv:
                    while not self._worker_stop and (not self._queue or self._queue[0][0] > time.monotonic()):
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._queue_cv.wait(timeout=wait)
                    if self._worker_stop:
                        return
                    _, _, record = heapq.heappop(self._queue)
                try:
                    response = client.post(record.url, json=record.body)
                    record.status = response.status_code
                    record.response_text = response.text[:1000]
                    record.outcome = "delivered" if 200 <= response.status_code < 300 else "failed"
                except httpx.HTTPError as exc:
                    record.error = f"{type(exc).__name__}: {exc}"
                    record.outcome = "failed"
                record.sent_at = time.time()

    def wait_for_pushes(self, count: int, *, kind: str = "change", subscription_id: str | None = None,
                        timeout: float = 10.0) -> list[PushRecord]:
        """Wait until `count` matching notifications were delivered or failed; return them."""
        def done() -> list[PushRecord] | None:
            with self.lock:
                found = [p for p in self.pushes if p.outcome in ("delivered", "failed") and p.kind == kind
                         and (subscription_id is None or p.subscription_id == subscription_id)]
            return found if len(found) >= count else None
        return self.wait_for(done, timeout=timeout)


# -- module helpers ----------------------------------------------------------------------------

def _not_found() -> Response:
    return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _gone(message: str = "The sync state generation is not found or has expired. Please start a new "
                         "synchronization round.") -> Response:
    return _graph_error(410, "syncStateNotFound", message)


def _param_ci(q, name: str) -> str | None:
    lowered = name.lower()
    for key, value in q.multi_items():
        if key.lower() == lowered:
            return value
    return None


def _select(resource: dict, select: str | None, *, keep: tuple[str, ...]) -> dict:
    if not select:
        return resource
    wanted = {s.strip().lower() for s in select.split(",") if s.strip()}
    return {k: v for k, v in resource.items() if k in keep or k.lower() in wanted}


def _windows_name(zone: str) -> str:
    return IANA_TO_WINDOWS.get(zone, zone)


def _render_time(moment: datetime, all_day: bool, zone: str, label: str, tz: ZoneInfo | timezone) -> dict:
    if all_day:
        # all-day events are floating dates: midnight of the same day in whatever zone is asked for
        day = moment.astimezone(ZoneInfo(zone)).date()
        return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": label}
    local = moment.astimezone(tz)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0", "timeZone": label}


def _location(display_name: str, *, uri: str | None = None, unique_id: str | None = None) -> dict:
    location: dict[str, Any] = {"displayName": display_name, "locationType": "default"}
    if display_name:
        location["uniqueId"] = unique_id or display_name
        location["uniqueIdType"] = "private"
    else:
        location["uniqueIdType"] = "unknown"
    if uri:
        location["locationUri"] = uri
    return location


def _web_link(event_id: str) -> str:
    return f"https://outlook.office365.com/owa/?itemid={quote(event_id, safe='')}&exvsurl=1&path=/calendar/item"


def _ical_uid() -> str:
    return "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()


def _occurrence_id(master_id: str, start: datetime) -> str:
    digest = hashlib.sha256(f"{master_id}:{start.isoformat()}".encode()).digest()
    return "AAMkAGOcc" + base64.urlsafe_b64encode(digest + start.strftime("%Y%m%d%H%M").encode()).decode() + "="


def _teams_join_url(tenant_id: str) -> str:
    thread = _b64url(secrets.token_bytes(36)).replace("-", "a").replace("_", "b")
    context = quote(json.dumps({"Tid": tenant_id, "Oid": str(uuid.uuid4())}, separators=(",", ":")), safe="")
    context = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), context)  # Teams writes %7b%22, not %7B%22
    return f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0?context={context}"


def _teams_body(join: str, meeting_id: str, passcode: str, tenant_id: str, previous: dict) -> str:
    """The HTML invitation Outlook writes for a Teams meeting, help links and all."""
    intro = _text_of(previous)
    options = (f"https://teams.microsoft.com/meetingOptions/?organizerId={uuid.uuid4()}&amp;tenantId={tenant_id}"
               f"&amp;threadId=19_meeting_x@thread.v2&amp;messageId=0&amp;language=en-US")
    return (
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body>"
        f"<div>{intro}</div><br>"
        "<div style=\"width:100%\"><span style=\"white-space:nowrap;color:#5F5F5F\">"
        "________________________________________________________________________________</span></div>"
        "<div style=\"margin-bottom:24px\"><span style=\"font-size:24px;font-weight:700\">Microsoft Teams</span> "
        "<a href=\"https://aka.ms/JoinTeamsMeeting?omkt=en-US\">Need help?</a></div>"
        f"<div><a href=\"{join.replace('&', '&amp;')}\" target=\"_blank\" title=\"Meeting join link\">"
        "<span style=\"font-size:20px;font-weight:600\">Join the meeting now</span></a></div>"
        f"<div><span>Meeting ID: </span><span>{meeting_id}</span></div>"
        f"<div><span>Passcode: </span><span>{passcode}</span></div>"
        "<div><span>For organizers: </span>"
        f"<a href=\"{options}\">Meeting options</a></div>"
        "<div><a href=\"https://www.microsoft.com/microsoft-teams/download-app\">Download Teams</a> | "
        "<a href=\"https://www.microsoft.com/microsoft-teams/join-a-meeting\">Join on the web</a></div>"
        "</body></html>"
    )


def _text_of(body: dict) -> str:
    content = body.get("content") or ""
    if body.get("contentType") == "html":
        content = re.sub(r"<[^>]+>", " ", content)
        content = re.sub(r"\s+", " ", content).strip()
    return content


def _preview(body: dict) -> str:
    text = _text_of(body)
    return html.unescape(re.sub(r"\s+", " ", text)).strip()[:255]


def _jwt(header: dict, claims: dict, key: bytes) -> str:
    signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
    return signing_input + "." + _b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


# -- a notification receiver for tests ---------------------------------------------------------

class GraphReceiver(FakeService):
    """A tiny webhook endpoint that answers Graph's validation handshake the way calbot must
    (200, `text/plain`, the decoded token), and records every notification it gets.

    `mode`: "echo" (correct), "wrong" (answers something else), "html" (right text, wrong
    content type), "error" (500), "slow" (sleeps `slow_seconds` first). `status` is what it
    answers to notifications (Graph wants 202 within 3 seconds).
    """

    name = "graph-receiver"

    def __init__(self) -> None:
        self.mode = "echo"
        self.slow_seconds = 11.0
        self.status = 202
        self.validations: list[str] = []
        self.notifications: list[dict] = []
        super().__init__()

    def routes(self) -> list[Route]:
        return [Route("/{hook:path}", self._hook, methods=["POST"])]

    @property
    def address(self) -> str:
        return f"{self.url}/webhooks/microsoft"

    @property
    def lifecycle_address(self) -> str:
        return f"{self.url}/webhooks/microsoft/lifecycle"

    async def _hook(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            with self.lock:
                self.validations.append(token)
            if self.mode == "slow":
                await asyncio.sleep(self.slow_seconds)
            if self.mode == "wrong":
                return Response("ok", media_type="text/plain")
            if self.mode == "html":
                return HTMLResponse(token)
            if self.mode == "error":
                return Response("boom", status_code=500)
            return Response(token, media_type="text/plain")
        try:
            payload = json.loads(await request.body() or b"null")
        except ValueError:
            payload = None
        with self.lock:
            for item in (payload or {}).get("value", []) if isinstance(payload, dict) else []:
                self.notifications.append({**item, "_path": request.url.path})
        return Response(status_code=self.status)

    def received(self, *, lifecycle: bool | None = None) -> list[dict]:
        with self.lock:
            found = list(self.notifications)
        if lifecycle is not None:
            found = [n for n in found if ("lifecycleEvent" in n) == lifecycle]
        return found
