"""A loopback emulator of Google OAuth 2.0 and the Calendar API v3, close enough that calbot can't tell.

Point calbot at it with `fake.settings_overrides()` (or `fake.env()` for a subprocess):

    CALBOT_GOOGLE_AUTH_URL  = {fake.url}/o/oauth2/v2/auth
    CALBOT_GOOGLE_TOKEN_URL = {fake.url}/token
    CALBOT_GOOGLE_API_URL   = {fake.url}/calendar/v3

What it speaks (wire formats from the Calendar v3 discovery document and Google's OAuth docs):

- OAuth: the consent endpoint (PKCE S256 required, consenting user configurable with `next_login`,
  `deny_next_consent()`, granular consent with `next_granted_scopes`), the token endpoint
  (authorization_code with PKCE check, refresh_token, Google's `{"error": "invalid_grant"}` bodies),
  `/revoke`, an `id_token` JWT (HS256, signed with the client secret) carrying `email`.
- Calendar v3: calendarList (list/get), events (list with singleEvents/timeMin/timeMax/paging/
  syncToken/showDeleted/orderBy, get, watch), calendars.get, channels.stop; errors in Google's JSON
  shape (401 authError, 403 insufficientPermissions / rate limits, 404 notFound, 410 fullSyncRequired).
  Every API call checks the access token's scopes against the method's scopes in the discovery doc.
- Push: watch channels get `sync`, then `exists` notifications with the real `X-Goog-*` headers,
  sent from a background thread. `push_mode` = deliver | drop | duplicate | reorder | delay.

State lives in plain objects under `self.lock`. Test helpers mutate it the way a user editing
their calendar would; each change bumps `updated`/`etag` (and `sequence` on a move), lands in the
next incremental sync and triggers one push per changed calendar. Guests who are accounts in the
fake get the organizer's event on their primary calendar (same id and iCalUID) and its changes.

    accounts:   add_account, add_calendar, delete_calendar
    events:     add_event, update_event, move_event, cancel_event, delete_event, respond, bulk_add
    series:     add_recurring, instances, move_instance, cancel_instance, update_series, split_series
    sync:       invalidate_sync_tokens, event, events
    OAuth:      next_login, next_granted_scopes, deny_next_consent, consent, grant, revoke,
                expire_access_tokens, advance (the fake's clock)
    push:       push_mode, push_delay, flush_pushes, pushes, wait_for_pushes, notify, active_channels
    faults:     rate_limit_next, fail_next_google (+ FakeService.fail_next)

    fake.add_account("ana@acme.com")
    ev = fake.add_event("ana@acme.com", summary="Acme demo", start=dt, conference="meet",
                        attendees=["bob@client.com"])
    fake.move_event("ana@acme.com", ev["id"], start=dt + timedelta(hours=1))
    series = fake.add_recurring("ana@acme.com", summary="Weekly", start=dt, count=10)
    fake.cancel_instance("ana@acme.com", fake.instances("ana@acme.com", series["id"])[2]["id"])
    tokens = fake.grant("ana@acme.com")          # skip the browser dance in engine tests
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import heapq
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import formatdate
from typing import Any, Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.base import FakeService

UTC = timezone.utc
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
USERINFO_PROFILE = "https://www.googleapis.com/auth/userinfo.profile"

# Scopes each emulated method accepts, copied from the discovery document (the fidelity test
# checks this table against it). A token needs at least one of them.
_CAL = lambda *names: frozenset(SCOPE_PREFIX + n for n in names)  # noqa: E731
_EVENT_READ = _CAL(
    "calendar", "calendar.app.created", "calendar.events", "calendar.events.freebusy",
    "calendar.events.owned", "calendar.events.owned.readonly", "calendar.events.public.readonly",
    "calendar.events.readonly", "calendar.readonly",
)
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "calendarList.list": _CAL("calendar", "calendar.calendarlist", "calendar.calendarlist.readonly", "calendar.readonly"),
    "calendarList.get": _CAL(
        "calendar", "calendar.app.created", "calendar.calendarlist", "calendar.calendarlist.readonly",
        "calendar.readonly",
    ),
    "calendars.get": _CAL(
        "calendar", "calendar.app.created", "calendar.calendars", "calendar.calendars.readonly", "calendar.readonly"
    ),
    "events.list": _EVENT_READ,
    "events.get": _EVENT_READ,
    "events.watch": _EVENT_READ,
    "channels.stop": _EVENT_READ | _CAL(
        "calendar.acls", "calendar.acls.readonly", "calendar.calendarlist", "calendar.calendarlist.readonly",
        "calendar.settings", "calendar.settings.readonly",
    ),
}
KNOWN_SCOPES = frozenset(
    {"openid", "email", "profile", USERINFO_EMAIL, USERINFO_PROFILE}
    | {SCOPE_PREFIX + n for n in (
        "calendar", "calendar.acls", "calendar.acls.readonly", "calendar.app.created", "calendar.calendarlist",
        "calendar.calendarlist.readonly", "calendar.calendars", "calendar.calendars.readonly", "calendar.events",
        "calendar.events.freebusy", "calendar.events.owned", "calendar.events.owned.readonly",
        "calendar.events.public.readonly", "calendar.events.readonly", "calendar.freebusy", "calendar.readonly",
        "calendar.settings", "calendar.settings.readonly",
    )}
)
DEFAULT_SCOPES = ("openid", USERINFO_EMAIL, SCOPE_PREFIX + "calendar.readonly")

_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43,128}$")
_SYNC_RESTRICTIONS = ("timeMin", "timeMax", "q", "orderBy", "iCalUID", "updatedMin",
                      "privateExtendedProperty", "sharedExtendedProperty")


# -- wire helpers ------------------------------------------------------------------------------

def google_error(status: int, reason: str, message: str, *, domain: str = "global",
                 location: str | None = None, location_type: str | None = None) -> dict:
    """An error body shaped like the Calendar API's (`{"error": {"errors": [...], "code", "message"}}`)."""
    item: dict[str, Any] = {"domain": domain, "reason": reason, "message": message}
    if location:
        item["locationType"] = location_type or "parameter"
        item["location"] = location
    body: dict[str, Any] = {"errors": [item], "code": status, "message": message}
    status_names = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED",
                    404: "NOT_FOUND", 400: "INVALID_ARGUMENT"}
    if status in status_names and domain != "calendar":
        body["status"] = status_names[status]
    return {"error": body}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        status_code=status, headers=headers, media_type="application/json; charset=UTF-8",
    )


def _api_error(status: int, reason: str, message: str, **kwargs) -> Response:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
    return _json(google_error(status, reason, message, **kwargs), status, headers)


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return _json({"error": error, "error_description": description}, status)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode()).digest())


def _rfc3339_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _render_dt(dt: datetime, cal_tz: ZoneInfo) -> str:
    """How Google renders an event time: in the calendar's zone, 'Z' when that zone is UTC."""
    local = dt.astimezone(cal_tz)
    text = local.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") and cal_tz.key in ("UTC", "Etc/UTC") else text


def _parse_rfc3339(value: str) -> datetime:
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", value):
        raise ValueError(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _random_id(n: int = 26) -> str:
    return "".join(secrets.choice(_BASE32HEX) for _ in range(n))


def _to_base32hex(number: int, width: int = 8) -> str:
    chars = []
    for _ in range(width):
        chars.append(_BASE32HEX[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def _bool_param(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() == "true"


def _scope_text(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))


def _normalize_scope(scope: str) -> str:
    return {"email": USERINFO_EMAIL, "profile": USERINFO_PROFILE}.get(scope, scope)


# -- state -------------------------------------------------------------------------------------

@dataclass
class _Account:
    email: str
    sub: str
    name: str
    calendar_ids: list[str] = field(default_factory=list)
    granted: dict[str, set[str]] = field(default_factory=dict)  # client_id -> scopes
    refreshed_once: set[str] = field(default_factory=set)         # clients that already got a refresh token

    @property
    def primary(self) -> str:
        return self.email


class _Event:
    """One stored event: the full resource as Google returns it, plus indexing facts."""

    __slots__ = ("raw", "seq", "start_ts", "end_ts", "kind", "master_id", "exception", "wire", "ord")

    def __init__(self, raw: dict, kind: str = "single", master_id: str | None = None):
        self.raw = raw
        self.kind = kind            # single | master | instance
        self.master_id = master_id
        self.exception = False      # an instance changed on its own
        self.seq = 0
        self.start_ts = 0.0
        self.end_ts = 0.0
        self.wire = raw
        self.ord = -1               # position in the calendar's storage order

    @property
    def cancelled(self) -> bool:
        return self.raw.get("status") == "cancelled"


@dataclass
class _Calendar:
    id: str
    summary: str
    time_zone: str
    owner: str
    description: str = ""
    access_role: str = "owner"
    color_id: str = "14"
    background: str = "#9fe1e7"
    foreground: str = "#000000"
    events: dict[str, _Event] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)   # storage order of ids (listing order)
    seq: int = 0
    epoch: int = 0
    deleted: bool = False
    resource_id: str = field(default_factory=lambda: _b64url(secrets.token_bytes(18)))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass
class _Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    address: str
    token: str | None
    expiration_ms: int
    account: str
    message_number: int = 0
    stopped: bool = False


@dataclass
class PushRecord:
    """One notification the fake sent (or dropped / held): what a test asserts on."""

    channel_id: str
    address: str
    state: str
    message_number: int
    headers: dict[str, str]
    status: int | None = None      # receiver's HTTP status; None when not delivered (yet)
    error: str | None = None       # connection error text
    outcome: str = "pending"       # pending | delivered | failed | dropped | held
    sent_at: float | None = None


@dataclass
class _Cursor:
    """Where a paged events listing stands. Pages are read live, as Google's are:

    - "live": a full listing in storage order; `position` indexes `_Calendar.order`. Events
      changed after the cursor passed them (or created before it in that order) are not in this
      listing, so the final sync token is the state at the listing's *start* (`sync_seq`), and the
      next incremental sync reports them (at least once, maybe twice).
    - "snapshot": orderBy listings, ordered once on the first page; `position` is an offset.
    - "changes": an incremental listing in change order; `position` is the last change returned.
    """

    calendar_id: str
    mode: str
    position: int
    sync_seq: int
    epoch: int
    single_events: bool
    include_cancelled: bool = False
    time_min: float | None = None
    time_max: float | None = None
    ids: list[str] | None = None


# -- the fake ----------------------------------------------------------------------------------

class FakeGoogle(FakeService):
    name = "google"

    def __init__(self, *, client_id: str = "calbot-test.apps.googleusercontent.com",
                 client_secret: str = "google-test-secret") -> None:
        # OAuth client registration
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris: set[str] | None = None   # None: any http(s) URI without a fragment
        self.require_pkce = True
        self.access_token_lifetime = 3600
        self.code_lifetime = 600
        # consent behaviour
        self.next_login: str | None = None
        self.next_granted_scopes: set[str] | None = None
        self._deny_next = 0
        # push behaviour
        # deliver: at once, in order | drop: never sent | duplicate: sent twice (same message number)
        # reorder: held until flush_pushes(), which sends them newest first | delay: after push_delay s
        self.push_mode = "deliver"
        self.push_delay = 0.5
        self.require_https = False
        self.max_channel_ttl = 30 * 86400
        self.default_channel_ttl = 7 * 86400
        self.pushes: list[PushRecord] = []
        # state
        self.accounts: dict[str, _Account] = {}
        self.calendars: dict[str, _Calendar] = {}
        self.channels: dict[str, _Channel] = {}
        self._codes: dict[str, dict] = {}
        self._refresh_tokens: dict[str, dict] = {}
        self._access_tokens: dict[str, dict] = {}
        self._sync_tokens: dict[str, tuple[str, int, int, bool]] = {}
        self._cursors: dict[str, _Cursor] = {}
        self._time_offset = 0.0
        self._last_us = 0
        self._ids = itertools.count(1)
        self._pending: dict[str, set[str]] = {}
        self._held: list[tuple[_Channel, PushRecord]] = []
        self._queue: list[tuple[float, int, PushRecord]] = []
        self._queue_cv = threading.Condition()
        self._queue_seq = itertools.count()
        self._worker: threading.Thread | None = None
        self._worker_stop = False
        super().__init__()

    # -- wiring ------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("/o/oauth2/v2/auth", self._authorize, methods=["GET"]),
            Route("/token", self._token, methods=["POST"]),
            Route("/revoke", self._revoke, methods=["POST", "GET"]),
            Route("/calendar/v3/{rest:path}", self._api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]

    def settings_overrides(self) -> dict[str, str]:
        """Keyword arguments for `load_settings(**...)` that point calbot at this fake."""
        return {
            "google_client_id": self.client_id,
            "google_client_secret": self.client_secret,
            "calbot_google_auth_url": f"{self.url}/o/oauth2/v2/auth",
            "calbot_google_token_url": f"{self.url}/token",
            "calbot_google_api_url": f"{self.url}/calendar/v3",
        }

    def env(self) -> dict[str, str]:
        """The same as environment variables, for a `calbot serve` subprocess."""
        return {k.upper(): v for k, v in self.settings_overrides().items()}

    def start(self) -> "FakeGoogle":
        super().start()
        self._worker_stop = False
        self._worker = threading.Thread(target=self._push_worker, name="google-fake-push", daemon=True)
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

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: access tokens, codes and channels expire accordingly."""
        with self.lock:
            self._time_offset += seconds

    def _stamp(self) -> tuple[str, str]:
        """A fresh (updated, etag) pair; strictly increasing even within one microsecond."""
        micros = max(int(self.now() * 1_000_000), self._last_us + 1)
        self._last_us = micros
        return _rfc3339_ms(micros / 1_000_000), f'"{micros}"'

    # -- accounts and calendars ----------------------------------------------------------------

    def add_account(self, email: str, *, calendars: Iterable[str | dict] = (), time_zone: str = "UTC",
                    name: str | None = None) -> _Account:
        """An account with its primary calendar (id = email) and optional other calendars.

        `calendars` items are ids or dicts (`id`, `summary`, `timeZone`, `accessRole`); an id that
        already exists (a shared calendar) is added to this account's list with its access role.
        """
        with self.lock:
            account = self.accounts.get(email)
            if account is None:
                account = _Account(email=email, sub=str(100000000000000000000 + len(self.accounts) * 7919 + 17),
                                   name=name or email.split("@")[0].title())
                self.accounts[email] = account
                if email not in self.calendars:
                    self.calendars[email] = _Calendar(id=email, summary=email, time_zone=time_zone, owner=email)
                account.calendar_ids.append(email)
            for spec in calendars:
                self.add_calendar(email, **({"calendar_id": spec} if isinstance(spec, str) else _calendar_kwargs(spec)))
            return account

    def add_calendar(self, account: str, calendar_id: str | None = None, *, summary: str | None = None,
                     time_zone: str | None = None, access_role: str = "owner", description: str = "") -> str:
        """A secondary calendar on `account`'s list (new, or an existing one shared with it)."""
        with self.lock:
            owner = self._account(account)
            calendar_id = calendar_id or f"{_random_id(26)}@group.calendar.google.com"
            calendar = self.calendars.get(calendar_id)
            if calendar is None:
                calendar = _Calendar(
                    id=calendar_id, summary=summary or calendar_id.split("@")[0],
                    time_zone=time_zone or self.calendars[owner.primary].time_zone, owner=account,
                    access_role=access_role, description=description,
                )
                self.calendars[calendar_id] = calendar
            if calendar_id not in owner.calendar_ids:
                owner.calendar_ids.append(calendar_id)
            return calendar_id

    def delete_calendar(self, calendar_id: str) -> None:
        """The calendar disappears: API calls 404 and its channels get a `not_exists` push."""
        with self.lock:
            calendar = self._calendar(calendar_id)
            calendar.deleted = True
            for account in self.accounts.values():
                if calendar_id in account.calendar_ids:
                    account.calendar_ids.remove(calendar_id)
            self._notify(calendar, "not_exists")

    def _account(self, email: str) -> _Account:
        try:
            return self.accounts[email]
        except KeyError:
            raise KeyError(f"no Google account {email!r} in the fake (add_account first)") from None

    def _calendar(self, calendar_id: str) -> _Calendar:
        if calendar_id in self.accounts:
            calendar_id = self.accounts[calendar_id].primary
        try:
            return self.calendars[calendar_id]
        except KeyError:
            raise KeyError(f"no calendar {calendar_id!r} in the fake") from None

    # -- events: test helpers ------------------------------------------------------------------

    def add_event(self, calendar_id: str, summary: str | None = "Meeting", start: Any = None, end: Any = None, *,
                  duration: timedelta = timedelta(minutes=30), time_zone: str | None = None,
                  description: str | None = None, location: str | None = None,
                  attendees: Iterable[str | dict] | None = None, organizer: str | dict | None = None,
                  conference: str | bool | None = None, response: str | None = None,
                  status: str = "confirmed", id: str | None = None, notify: bool = True,
                  **fields: Any) -> dict:
        """Create a single event and return it as the API would (a copy).

        `start`/`end`: aware or naive datetime (naive = in `time_zone` or the calendar's zone),
        `date` for all-day, ISO string, or a wire dict. `conference`: "meet", "zoom", "teams" or a
        join URL, which fills `conferenceData` (and `hangoutLink` for Meet) as Google does.
        `attendees`: emails or wire dicts; attendees who are accounts in this fake get the event on
        their primary calendar too (same id and iCalUID, `self` on their own entry), and keep
        getting the organizer's changes, as in Google. `organizer`: someone else's email makes this
        an invitation seen on this calendar only (the owner appears as an attendee with
        `self: true`, responding `response`). Other keyword arguments are wire fields copied as
        given (e.g. `hangoutLink`, `conferenceData`, `visibility`, `eventType`, `iCalUID`).
        """
        with self.lock:
            calendar = self._calendar(calendar_id)
            raw = self._build_event(calendar, id or _random_id(), summary, start, end, duration, time_zone,
                                    description, location, attendees, organizer, conference, response,
                                    status, fields)
            event = _Event(raw)
            self._store(calendar, event)
            self._commit(notify)
            return _copy(event.raw)

    def update_event(self, calendar_id: str, event_id: str, **changes: Any) -> dict:
        """Change fields of an event (wire names, plus `start`/`end`/`conference`/`attendees` shorthands).

        A wire field set to None is removed. Changing an instance makes it an exception.
        """
        with self.lock:
            calendar = self._calendar(calendar_id)
            event = self._event(calendar, event_id)
            raw = self._apply_changes(calendar, event.raw, changes)
            self._replace(calendar, event, raw)
            self._commit()
            return _copy(event.raw)

    def move_event(self, calendar_id: str, event_id: str, start: Any, end: Any = None) -> dict:
        """Move an event (or one instance) to `start`, keeping its duration unless `end` is given."""
        with self.lock:
            calendar = self._calendar(calendar_id)
            event = self._event(calendar, event_id)
            if end is None:
                new_start = self._as_time(start, calendar, event.raw["start"].get("timeZone"))
                duration = event.end_ts - event.start_ts
                if "date" in new_start:
                    end = date.fromisoformat(new_start["date"]) + timedelta(days=max(1, round(duration / 86400)))
                else:
                    end = _parse_rfc3339(new_start["dateTime"]) + timedelta(seconds=duration)
            return self.update_event(calendar_id, event_id, start=start, end=end)

    move_instance = move_event

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        """The organizer cancels (or deletes) the event: it becomes `status: cancelled`.

        On an instance this cancels one occurrence (an exception); on a recurring master it
        cancels the whole series, every instance included.
        """
        with self.lock:
            calendar = self._calendar(calendar_id)
            event = self._event(calendar, event_id)
            if event.kind == "master":
                for instance in self._instances_of(calendar, event_id):
                    if not instance.cancelled:
                        self._replace(calendar, instance, {**instance.raw, "status": "cancelled"})
            self._replace(calendar, event, {**event.raw, "status": "cancelled"})
            self._commit()

    cancel_instance = cancel_event

    def delete_event(self, calendar_id: str, event_id: str, *, purge: bool = False) -> None:
        """Delete: like Google, a tombstone (`status: cancelled`) that incremental syncs report.

        `purge=True` removes it without a trace (as when Google forgets old tombstones), which is
        only consistent if followed by `invalidate_sync_tokens`.
        """
        with self.lock:
            if not purge:
                self.cancel_event(calendar_id, event_id)
                return
            calendar = self._calendar(calendar_id)
            event = self._event(calendar, event_id)
            for instance in self._instances_of(calendar, event_id) if event.kind == "master" else ():
                del calendar.events[instance.raw["id"]]
            del calendar.events[event_id]

    def respond(self, calendar_id: str, event_id: str, response: str, email: str | None = None) -> dict:
        """An attendee (default: the calendar's owner) answers accepted/declined/tentative/needsAction.

        Every copy of the event in the fake (organizer's and guests') shows the new answer.
        """
        with self.lock:
            calendar = self._calendar(calendar_id)
            self._event(calendar, event_id)
            who = email or calendar.id
            copies = [(c, c.events[event_id]) for c in self.calendars.values() if event_id in c.events]
            for owner, event in copies:
                attendees = [dict(a) for a in event.raw.get("attendees", [])]
                found = [a for a in attendees if a.get("email") == who]
                if not found:
                    if owner is calendar:
                        raise KeyError(f"{who} is not an attendee of {event_id}")
                    continue
                found[0]["responseStatus"] = response
                self._replace(owner, event, {**event.raw, "attendees": attendees})
            self._commit(propagate=False)
            return _copy(calendar.events[event_id].raw)

    def add_recurring(self, calendar_id: str, summary: str | None = "Recurring meeting", start: Any = None,
                      end: Any = None, *, count: int = 10, interval: timedelta = timedelta(days=7),
                      **kwargs: Any) -> dict:
        """A recurring series, expanded into instances exactly as `singleEvents=true` lists them.

        Takes `add_event`'s keyword arguments. Returns the master (with `recurrence`);
        `instances(calendar_id, master["id"])` gives the occurrences: ids
        `<masterId>_<YYYYMMDDTHHMMSSZ>` (UTC start; `<masterId>_<YYYYMMDD>` all-day), each with
        `recurringEventId` and `originalStartTime`.
        """
        with self.lock:
            calendar = self._calendar(calendar_id)
            notify = kwargs.pop("notify", True)
            master_id = kwargs.pop("id", None) or _random_id()
            raw = self._build_event(
                calendar, master_id, summary, start, end, kwargs.pop("duration", timedelta(minutes=30)),
                kwargs.pop("time_zone", None), kwargs.pop("description", None), kwargs.pop("location", None),
                kwargs.pop("attendees", None), kwargs.pop("organizer", None), kwargs.pop("conference", None),
                kwargs.pop("response", None), kwargs.pop("status", "confirmed"), kwargs,
            )
            raw["recurrence"] = [_rrule(interval, count=count)]
            master = _Event(raw, kind="master")
            self._store(calendar, master)
            self._generate_instances(calendar, master, count, interval)
            self._commit(notify)
            return _copy(master.raw)

    def instances(self, calendar_id: str, master_id: str, *, include_cancelled: bool = False) -> list[dict]:
        """A series' instances in start order, as the API would return them."""
        with self.lock:
            calendar = self._calendar(calendar_id)
            found = [e for e in self._instances_of(calendar, master_id) if include_cancelled or not e.cancelled]
            found.sort(key=lambda e: e.start_ts)
            return [_copy(e.raw) for e in found]

    def update_series(self, calendar_id: str, master_id: str, *, shift: timedelta | None = None,
                      **changes: Any) -> dict:
        """Edit "all events" of a series: field changes reach every instance; a `shift` moves the
        whole series, which (as in Google) cancels the old instances and creates new ids."""
        with self.lock:
            calendar = self._calendar(calendar_id)
            master = self._event(calendar, master_id)
            raw = self._apply_changes(calendar, master.raw, changes)
            if shift:
                raw["start"] = self._shifted(calendar, raw["start"], shift)
                raw["end"] = self._shifted(calendar, raw["end"], shift)
            self._replace(calendar, master, raw)
            if shift:
                count, interval = _parse_rrule(raw["recurrence"][0])
                for instance in self._instances_of(calendar, master_id):
                    if not instance.cancelled:
                        self._replace(calendar, instance, {**instance.raw, "status": "cancelled"})
                self._generate_instances(calendar, master, count, interval)
            else:
                for instance in self._instances_of(calendar, master_id):
                    if not instance.cancelled:
                        self._replace(calendar, instance, self._apply_changes(calendar, instance.raw, changes),
                                      keep_exception=True)
            self._commit()
            return _copy(master.raw)

    def split_series(self, calendar_id: str, master_id: str, from_start: datetime, *,
                     shift: timedelta = timedelta(0), count: int | None = None, **changes: Any) -> dict:
        """Edit "this and following events" from the occurrence originally at `from_start`.

        The old series ends before it (RRULE UNTIL; its later instances are cancelled) and a new
        series `<masterId>_R<YYYYMMDDTHHMMSS>` takes over, moved by `shift` and with `changes`.
        Returns the new master.
        """
        with self.lock:
            calendar = self._calendar(calendar_id)
            master = self._event(calendar, master_id)
            _, interval = _parse_rrule(master.raw["recurrence"][0])
            split_ts = from_start.timestamp()
            later = [e for e in self._instances_of(calendar, master_id)
                     if _original_ts(e.raw, calendar) >= split_ts]
            remaining = count if count is not None else len(later)
            for instance in later:
                if not instance.cancelled:
                    self._replace(calendar, instance, {**instance.raw, "status": "cancelled"})
            until = datetime.fromtimestamp(split_ts - 1, UTC).strftime("%Y%m%dT%H%M%SZ")
            rule = re.sub(r";?COUNT=\d+", "", master.raw["recurrence"][0]) + f";UNTIL={until}"
            self._replace(calendar, master, {**master.raw, "recurrence": [rule]})

            new_id = f"{master_id}_R{datetime.fromtimestamp(split_ts, UTC):%Y%m%dT%H%M%S}"
            first = datetime.fromtimestamp(split_ts, UTC)
            duration = master.end_ts - master.start_ts
            base = {k: v for k, v in master.raw.items()
                    if k not in ("id", "recurrence", "iCalUID", "etag", "updated", "created", "htmlLink", "sequence")}
            zone = master.raw["start"].get("timeZone")
            base["start"] = self._as_time(first + shift, calendar, zone)
            base["end"] = self._as_time(first + shift + timedelta(seconds=duration), calendar, zone)
            raw = self._apply_changes(calendar, base, changes)
            created, _ = self._stamp()
            raw.update(id=new_id, iCalUID=f"{new_id}@google.com", created=created, sequence=0,
                       htmlLink=_html_link(new_id, calendar.id), recurrence=[_rrule(interval, count=remaining)])
            new_master = _Event(raw, kind="master")
            self._store(calendar, new_master)
            self._generate_instances(calendar, new_master, remaining, interval)
            self._commit()
            return _copy(new_master.raw)

    def bulk_add(self, calendar_id: str, n: int, *, start: datetime | None = None,
                 spacing: timedelta = timedelta(minutes=45), duration: timedelta = timedelta(minutes=30),
                 summary: str = "Bulk meeting {i}", conference: bool = True) -> list[str]:
        """Add `n` single events fast (100,000 in a few seconds) for paging and benchmark tests."""
        with self.lock:
            calendar = self._calendar(calendar_id)
            cal_tz = calendar.tz
            start = start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            start_ts = start.timestamp()
            step = spacing.total_seconds()
            length = duration.total_seconds()
            updated, _ = self._stamp()
            batch = next(self._ids)
            prefix = "bk" + _to_base32hex(batch, 4)
            organizer = {"email": calendar.id, "self": True}
            zone = calendar.time_zone
            ids = []
            for i in range(n):
                begin = start_ts + i * step
                event_id = f"{prefix}{i:07x}"  # hex digits are base32hex too
                calendar.seq += 1
                self._last_us += 1
                raw = {
                    "kind": "calendar#event", "etag": f'"{self._last_us}"', "id": event_id,
                    "status": "confirmed", "htmlLink": _html_link(event_id, calendar.id),
                    "created": updated, "updated": updated, "summary": summary.format(i=i),
                    "creator": organizer, "organizer": organizer,
                    "start": {"dateTime": _render_dt(datetime.fromtimestamp(begin, UTC), cal_tz), "timeZone": zone},
                    "end": {"dateTime": _render_dt(datetime.fromtimestamp(begin + length, UTC), cal_tz),
                            "timeZone": zone},
                    "iCalUID": f"{event_id}@google.com", "sequence": 0,
                    "reminders": {"useDefault": True}, "eventType": "default",
                }
                if conference:
                    raw.update(_meet_conference(_meet_code(batch * 1_000_003 + i)))
                event = _Event(raw)
                event.seq = calendar.seq
                event.start_ts = begin
                event.end_ts = begin + length
                event.ord = len(calendar.order)
                calendar.order.append(event_id)
                calendar.events[event_id] = event
                ids.append(event_id)
            self._pending.setdefault(calendar.id, set())
            self._commit(propagate=False)
            return ids

    def invalidate_sync_tokens(self, calendar_id: str) -> None:
        """Every sync token (and page token) issued for this calendar now gets 410 fullSyncRequired."""
        with self.lock:
            self._calendar(calendar_id).epoch += 1

    def event(self, calendar_id: str, event_id: str) -> dict:
        with self.lock:
            return _copy(self._event(self._calendar(calendar_id), event_id).raw)

    def events(self, calendar_id: str, *, include_cancelled: bool = False) -> list[dict]:
        """What a full `singleEvents=true` listing holds (no masters), in storage order."""
        with self.lock:
            calendar = self._calendar(calendar_id)
            return [_copy(e.raw) for e in calendar.events.values()
                    if e.kind != "master" and (include_cancelled or not e.cancelled)]

    # -- events: internals ---------------------------------------------------------------------

    def _event(self, calendar: _Calendar, event_id: str) -> _Event:
        try:
            return calendar.events[event_id]
        except KeyError:
            raise KeyError(f"no event {event_id!r} on {calendar.id}") from None

    def _instances_of(self, calendar: _Calendar, master_id: str) -> list[_Event]:
        return [e for e in calendar.events.values() if e.master_id == master_id]

    def _as_time(self, value: Any, calendar: _Calendar, zone: str | None) -> dict:
        """A test's notion of a time → Google's EventDateTime (rendered in the calendar's zone)."""
        if isinstance(value, dict):
            return dict(value)
        if isinstance(value, str):
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        if isinstance(value, date) and not isinstance(value, datetime):
            return {"date": value.isoformat()}
        zone = zone or calendar.time_zone
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(zone))
        return {"dateTime": _render_dt(value, calendar.tz), "timeZone": zone}

    def _shifted(self, calendar: _Calendar, when: dict, shift: timedelta) -> dict:
        if "date" in when:
            return {"date": (date.fromisoformat(when["date"]) + shift).isoformat()}
        zone = when.get("timeZone") or calendar.time_zone
        local = _parse_rfc3339(when["dateTime"]).astimezone(ZoneInfo(zone)).replace(tzinfo=None) + shift
        return self._as_time(local.replace(tzinfo=ZoneInfo(zone)), calendar, zone)

    def _build_event(self, calendar: _Calendar, event_id: str, summary, start, end, duration, time_zone,
                     description, location, attendees, organizer, conference, response, status,
                     fields: dict) -> dict:
        if start is None:
            start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        start_wire = self._as_time(start, calendar, time_zone)
        if end is None:
            if "date" in start_wire:
                end = date.fromisoformat(start_wire["date"]) + timedelta(days=1)
            else:
                end = _parse_rfc3339(start_wire["dateTime"]) + duration
        end_wire = self._as_time(end, calendar, start_wire.get("timeZone"))
        created, _ = self._stamp()
        if isinstance(organizer, dict):
            organizer_wire = dict(organizer)
        else:
            organizer_wire = {"email": organizer or calendar.id}
        if organizer_wire["email"] == calendar.id:
            organizer_wire["self"] = True
        owner_account = self.accounts.get(calendar.id)
        if owner_account is not None and organizer_wire.get("self"):
            organizer_wire.setdefault("displayName", owner_account.name)
        raw: dict[str, Any] = {
            "kind": "calendar#event", "etag": "", "id": event_id, "status": status,
            "htmlLink": _html_link(event_id, calendar.id), "created": created, "updated": created,
        }
        if summary is not None:
            raw["summary"] = summary
        if description is not None:
            raw["description"] = description
        if location is not None:
            raw["location"] = location
        raw["creator"] = {k: v for k, v in organizer_wire.items() if k in ("email", "self", "displayName")}
        raw["organizer"] = organizer_wire
        raw["start"] = start_wire
        raw["end"] = end_wire
        raw["iCalUID"] = f"{event_id}@google.com"
        raw["sequence"] = 0
        if attendees is not None or (organizer and not organizer_wire.get("self")):
            raw["attendees"] = self._attendees(calendar, attendees or [], organizer_wire, response)
        if conference:
            raw.update(_conference(conference))
        raw["reminders"] = {"useDefault": True}
        raw["eventType"] = "default"
        for key, value in fields.items():
            if value is None:
                raw.pop(key, None)
            else:
                raw[key] = value
        return raw

    def _attendees(self, calendar: _Calendar, attendees: Iterable[str | dict], organizer: dict,
                   response: str | None) -> list[dict]:
        result = []
        emails = set()
        for item in attendees:
            attendee = {"email": item} if isinstance(item, str) else dict(item)
            emails.add(attendee["email"])
            result.append(attendee)
        if organizer["email"] not in emails:
            result.insert(0, {"email": organizer["email"]})
        if calendar.id not in emails | {organizer["email"]}:
            result.append({"email": calendar.id})
        for attendee in result:
            email = attendee["email"]
            if email == organizer["email"]:
                attendee["organizer"] = True
                attendee.setdefault("responseStatus", "accepted")
            if email == calendar.id:
                attendee["self"] = True
                if response is not None:
                    attendee["responseStatus"] = response
            if email.endswith("@resource.calendar.google.com"):
                attendee["resource"] = True
                attendee.setdefault("responseStatus", "accepted")
            account = self.accounts.get(email)
            if account is not None:
                attendee.setdefault("displayName", account.name)
            attendee.setdefault("responseStatus", "needsAction")
        return result

    def _apply_changes(self, calendar: _Calendar, raw: dict, changes: dict) -> dict:
        raw = dict(raw)
        zone = raw.get("start", {}).get("timeZone")
        for key, value in changes.items():
            if key in ("start", "end"):
                raw[key] = self._as_time(value, calendar, zone)
            elif key == "conference":
                for name in ("hangoutLink", "conferenceData"):
                    raw.pop(name, None)
                if value:
                    raw.update(_conference(value))
            elif key == "attendees" and value is not None:
                raw["attendees"] = self._attendees(calendar, value, raw["organizer"], None)
            elif value is None:
                raw.pop(key, None)
            else:
                raw[key] = value
        if ("start" in changes or "end" in changes) and raw.get("status") != "cancelled":
            raw["sequence"] = raw.get("sequence", 0) + 1
        return raw

    def _generate_instances(self, calendar: _Calendar, master: _Event, count: int, interval: timedelta) -> None:
        raw = master.raw
        all_day = "date" in raw["start"]
        zone = raw["start"].get("timeZone") or calendar.time_zone
        if all_day:
            first_day = date.fromisoformat(raw["start"]["date"])
            length_days = (date.fromisoformat(raw["end"]["date"]) - first_day).days
        else:
            first = _parse_rfc3339(raw["start"]["dateTime"]).astimezone(ZoneInfo(zone))
            length = _parse_rfc3339(raw["end"]["dateTime"]) - _parse_rfc3339(raw["start"]["dateTime"])
        template = {k: v for k, v in raw.items() if k not in ("recurrence", "id", "htmlLink", "etag", "updated")}
        for i in range(count):
            if all_day:
                day = first_day + interval * i
                start_wire = {"date": day.isoformat()}
                end_wire = {"date": (day + timedelta(days=length_days)).isoformat()}
                instance_id = f"{raw['id']}_{day:%Y%m%d}"
            else:
                # wall-clock arithmetic in the event's zone, as RRULE expansion does across DST
                local = (first.replace(tzinfo=None) + interval * i).replace(tzinfo=ZoneInfo(zone))
                start_wire = self._as_time(local, calendar, zone)
                end_wire = self._as_time(local + length, calendar, zone)
                instance_id = f"{raw['id']}_{local.astimezone(UTC):%Y%m%dT%H%M%SZ}"
            existing = calendar.events.get(instance_id)
            instance_raw = {**template, "id": instance_id, "htmlLink": _html_link(instance_id, calendar.id),
                            "start": start_wire, "end": end_wire, "recurringEventId": raw["id"],
                            "originalStartTime": dict(start_wire), "status": raw.get("status", "confirmed")}
            if existing is not None:
                self._replace(calendar, existing, instance_raw)
                existing.exception = False
            else:
                self._store(calendar, _Event(instance_raw, kind="instance", master_id=raw["id"]))

    def _index(self, calendar: _Calendar, event: _Event) -> None:
        raw = event.raw
        event.start_ts = _time_ts(raw["start"], calendar)
        event.end_ts = _time_ts(raw["end"], calendar)
        if raw.get("status") == "cancelled":
            wire = {"kind": "calendar#event", "etag": raw["etag"], "id": raw["id"], "status": "cancelled"}
            if "recurringEventId" in raw:
                wire["recurringEventId"] = raw["recurringEventId"]
                wire["originalStartTime"] = raw["originalStartTime"]
            event.wire = wire
        else:
            event.wire = raw

    def _store(self, calendar: _Calendar, event: _Event) -> None:
        updated, etag = self._stamp()
        event.raw["updated"] = updated
        event.raw["etag"] = etag
        calendar.seq += 1
        event.seq = calendar.seq
        self._index(calendar, event)
        previous = calendar.events.get(event.raw["id"])
        if previous is not None:
            event.ord = previous.ord
        else:
            event.ord = len(calendar.order)
            calendar.order.append(event.raw["id"])
        calendar.events[event.raw["id"]] = event
        self._pending.setdefault(calendar.id, set()).add(event.raw["id"])

    def _replace(self, calendar: _Calendar, event: _Event, raw: dict, *, keep_exception: bool = False) -> None:
        """Copy-on-write: responses being serialised keep the dict they took."""
        updated, etag = self._stamp()
        event.raw = {**raw, "updated": updated, "etag": etag}
        if event.kind == "instance" and not keep_exception:
            event.exception = True
        calendar.seq += 1
        event.seq = calendar.seq
        self._index(calendar, event)
        self._pending.setdefault(calendar.id, set()).add(event.raw["id"])

    def _commit(self, notify: bool = True, *, propagate: bool = True) -> None:
        """End of one user action: copy the organizer's changes to guests' calendars, then push
        once per changed calendar."""
        changed, self._pending = self._pending, {}
        if propagate:
            for calendar_id, ids in changed.items():
                self._propagate(self.calendars[calendar_id], ids)
            for calendar_id, ids in self._pending.items():
                changed.setdefault(calendar_id, set()).update(ids)
            self._pending = {}
        if notify:
            for calendar_id in changed:
                self._notify(self.calendars[calendar_id])

    def _propagate(self, source: _Calendar, ids: Iterable[str]) -> None:
        """Guests who are accounts here see the organizer's event on their primary calendar."""
        for event_id in sorted(ids, key=lambda i: source.events[i].seq if i in source.events else 0):
            event = source.events.get(event_id)
            if event is None or not event.raw.get("organizer", {}).get("self"):
                continue
            guests = {a.get("email") for a in event.raw.get("attendees", ())} & self.accounts.keys()
            guests.discard(source.id)
            holders = {c.id for c in self.calendars.values() if c is not source and event_id in c.events
                       and c.events[event_id].raw.get("organizer", {}).get("email") == source.id}
            for email in guests | holders:
                target = self.calendars.get(self.accounts[email].primary if email in self.accounts else email)
                if target is None or target.deleted:
                    continue
                copy = _guest_copy(event.raw, target, invited=email in guests)
                existing = target.events.get(event_id)
                if existing is None:
                    if email not in guests:
                        continue
                    guest_event = _Event(copy, kind=event.kind, master_id=event.master_id)
                    guest_event.exception = event.exception
                    self._store(target, guest_event)
                else:
                    mine = next((a for a in existing.raw.get("attendees", ()) if a.get("self")), None)
                    if mine is not None:  # a guest's own answer is theirs, until the organizer resets it
                        for attendee in copy.get("attendees", ()):
                            if attendee.get("self") and "responseStatus" in mine:
                                attendee["responseStatus"] = mine["responseStatus"]
                    self._replace(target, existing, copy, keep_exception=True)
                    existing.exception = event.exception

    # -- OAuth: test helpers -------------------------------------------------------------------

    def deny_next_consent(self, times: int = 1) -> None:
        """The next consent screen(s) end with the user clicking Cancel: `?error=access_denied`."""
        with self.lock:
            self._deny_next += times

    def revoke(self, account: str) -> None:
        """The user removes calbot's access: refresh tokens give invalid_grant, access tokens 401."""
        with self.lock:
            for grant in self._refresh_tokens.values():
                if grant["account"] == account:
                    grant["revoked"] = True
            for token in [t for t, g in self._access_tokens.items() if g["account"] == account]:
                del self._access_tokens[token]
            acct = self.accounts.get(account)
            if acct is not None:
                acct.granted.clear()
                acct.refreshed_once.clear()

    def expire_access_tokens(self, account: str | None = None) -> None:
        """Make current access tokens (of one account, or all) expired; refresh tokens still work."""
        with self.lock:
            for grant in self._access_tokens.values():
                if account is None or grant["account"] == account:
                    grant["expires_at"] = self.now() - 1

    def grant(self, account: str, scopes: Iterable[str] = DEFAULT_SCOPES) -> dict:
        """Issue tokens for `account` directly (skipping consent): the token endpoint's JSON."""
        with self.lock:
            if account not in self.accounts:
                self.add_account(account)
            scope_set = {_normalize_scope(s) for s in scopes}
            self.accounts[account].granted[self.client_id] = set(scope_set)
            return self._issue_tokens(account, scope_set, refresh=True)

    def consent(self, authorization_url: str) -> str:
        """Play the browser: open the consent URL and return the redirect it answers with."""
        response = httpx.get(authorization_url, follow_redirects=False, timeout=10)
        if response.status_code != 302:
            raise AssertionError(f"consent failed: {response.status_code} {response.text[:300]}")
        return response.headers["location"]

    # -- OAuth: endpoints ----------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        client_id = q.get("client_id")
        if client_id != self.client_id:
            return _error_page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = q.get("redirect_uri") or ""
        parts = urlsplit(redirect_uri)
        if (not redirect_uri or parts.scheme not in ("http", "https") or parts.fragment
                or (self.redirect_uris is not None and redirect_uri not in self.redirect_uris)):
            return _error_page(400, "redirect_uri_mismatch",
                               f"The redirect URI in the request, {redirect_uri}, does not match the ones authorized for the OAuth client.")
        if q.get("response_type") != "code":
            return _error_page(400, "unsupported_response_type", f"Invalid response_type: {q.get('response_type')}")
        scope_text = q.get("scope")
        if not scope_text:
            return _error_page(400, "invalid_request", "Missing required parameter: scope")
        requested = set(scope_text.split())
        unknown = requested - KNOWN_SCOPES
        if unknown:
            return _error_page(400, "invalid_scope", f"Some requested scopes were invalid: {sorted(unknown)}")
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method")
        if challenge is None and self.require_pkce:
            return _error_page(400, "invalid_request", "Missing required parameter: code_challenge")
        if challenge is not None:
            if method != "S256":
                return _error_page(400, "invalid_request", "Invalid code_challenge_method (this client requires S256)")
            if not _CHALLENGE_RE.match(challenge):
                return _error_page(400, "invalid_request", "Invalid code_challenge")
        access_type = q.get("access_type", "online")
        if access_type not in ("online", "offline"):
            return _error_page(400, "invalid_request", f"Invalid access_type: {access_type}")
        prompts = set((q.get("prompt") or "").split())
        if not prompts <= {"none", "consent", "select_account"} or ("none" in prompts and len(prompts) > 1):
            return _error_page(400, "invalid_request", f"Invalid prompt: {q.get('prompt')}")
        state = q.get("state")

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            sep = "&" if parts.query else "?"
            return RedirectResponse(redirect_uri + sep + urlencode(params), status_code=302)

        with self.lock:
            if self._deny_next:
                self._deny_next -= 1
                return back(error="access_denied")
            # who is signed in: the test's choice, else the login_hint, else the first account
            email = self.next_login or q.get("login_hint") or next(iter(self.accounts), "user@example.com")
            self.next_login = None
            if email not in self.accounts:
                self.add_account(email)
            account = self.accounts[email]
            granted = {_normalize_scope(s) for s in requested}
            if self.next_granted_scopes is not None:
                keep = {_normalize_scope(s) for s in self.next_granted_scopes}
                granted = {s for s in granted if s in keep or s in ("openid", USERINFO_EMAIL)}
                self.next_granted_scopes = None
            previous = account.granted.get(client_id, set())
            if q.get("include_granted_scopes") == "true":
                granted |= previous
            if "none" in prompts and not granted <= previous:
                return back(error="consent_required")
            account.granted[client_id] = granted | previous
            issue_refresh = access_type == "offline" and (
                "consent" in prompts or client_id not in account.refreshed_once
            )
            code = "4/0" + _b64url(secrets.token_bytes(30))
            self._codes[code] = {
                "client_id": client_id, "redirect_uri": redirect_uri, "challenge": challenge,
                "account": email, "scopes": granted, "expires_at": self.now() + self.code_lifetime,
                "used": False, "refresh": issue_refresh,
            }
        return back(code=code, scope=_scope_text(granted), authuser="0",
                    prompt="consent" if "consent" in prompts else "none")

    def _client_from(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
                cid, _, secret = decoded.partition(":")
                return unquote(cid), unquote(secret)
            except (ValueError, UnicodeDecodeError):
                return None, None
        return form.get("client_id"), form.get("client_secret")

    async def _token(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return _oauth_error("invalid_request", "Invalid content type; expected application/x-www-form-urlencoded")
        form = dict(parse_qsl((await request.body()).decode()))
        client_id, client_secret = self._client_from(request, form)
        if client_id != self.client_id:
            return _oauth_error("invalid_client", "The OAuth client was not found.", 401)
        if client_secret != self.client_secret:
            return _oauth_error("invalid_client", "Unauthorized", 401)
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "authorization_code":
                return self._exchange_code(form)
            if grant_type == "refresh_token":
                grant = self._refresh_tokens.get(form.get("refresh_token", ""))
                if grant is None or grant["revoked"] or grant["client_id"] != client_id:
                    return _oauth_error("invalid_grant", "Token has been expired or revoked.")
                scopes = grant["scopes"]
                if form.get("scope"):
                    asked = {_normalize_scope(s) for s in form["scope"].split()}
                    if not asked <= scopes:
                        return _oauth_error("invalid_scope", "Bad Request")
                    scopes = asked
                return _json(self._issue_tokens(grant["account"], scopes, refresh=False))
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _exchange_code(self, form: dict[str, str]) -> Response:
        code = form.get("code", "")
        grant = self._codes.get(code)
        if grant is None:
            return _oauth_error("invalid_grant", "Malformed auth code.")
        if grant["used"] or grant["expires_at"] < self.now():
            return _oauth_error("invalid_grant", "Bad Request")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error("redirect_uri_mismatch", "Bad Request")
        if grant["challenge"] is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error("invalid_grant", "Missing code verifier.")
            if not _VERIFIER_RE.match(verifier) or not hmac.compare_digest(_s256(verifier), grant["challenge"]):
                return _oauth_error("invalid_grant", "Invalid code verifier.")
        grant["used"] = True
        account = self.accounts.get(grant["account"])
        if account is not None and grant["refresh"]:
            account.refreshed_once.add(grant["client_id"])
        return _json(self._issue_tokens(grant["account"], grant["scopes"], refresh=grant["refresh"]))

    def _issue_tokens(self, account: str, scopes: set[str], *, refresh: bool) -> dict:
        now = self.now()
        access = "ya29.fake-" + _b64url(secrets.token_bytes(24))
        self._access_tokens[access] = {"account": account, "scopes": set(scopes),
                                       "expires_at": now + self.access_token_lifetime}
        body: dict[str, Any] = {
            "access_token": access, "expires_in": self.access_token_lifetime - 1,
            "scope": _scope_text(scopes), "token_type": "Bearer",
        }
        if refresh:
            token = "1//fake-" + _b64url(secrets.token_bytes(30))
            self._refresh_tokens[token] = {"account": account, "client_id": self.client_id,
                                           "scopes": set(scopes), "revoked": False}
            body["refresh_token"] = token
        if "openid" in scopes:
            body["id_token"] = self._id_token(account, scopes, access, now)
        return body

    def _id_token(self, email: str, scopes: set[str], access_token: str, now: float) -> str:
        account = self.accounts[email]
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com", "azp": self.client_id, "aud": self.client_id,
            "sub": account.sub, "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            "iat": int(now), "exp": int(now) + 3600,
        }
        if USERINFO_EMAIL in scopes:
            claims["email"] = email
            claims["email_verified"] = True
        domain = email.rsplit("@", 1)[-1]
        if domain not in ("gmail.com", "googlemail.com"):
            claims["hd"] = domain
        header = {"alg": "HS256", "kid": "fake-google", "typ": "JWT"}
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        signature = hmac.new(self.client_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(signature)

    async def _revoke(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        token = request.query_params.get("token") or form.get("token")
        with self.lock:
            account = None
            if token in self._refresh_tokens:
                account = self._refresh_tokens[token]["account"]
            elif token in self._access_tokens:
                account = self._access_tokens[token]["account"]
            if account is None:
                return _oauth_error("invalid_token", "Token expired or revoked")
            self.revoke(account)
        return _json({})

    # -- faults --------------------------------------------------------------------------------

    def rate_limit_next(self, path: str = r"/calendar/v3/", *, reason: str = "rateLimitExceeded",
                        status: int | None = None, retry_after: float | None = None, times: int = 1,
                        method: str | None = None) -> None:
        """Answer the next matching API call(s) with a Google rate-limit error.

        `reason`: rateLimitExceeded | userRateLimitExceeded | quotaExceeded (403, domain usageLimits),
        or status=429 (reason rateLimitExceeded, "Too Many Requests"-style body).
        """
        status = status or 403
        messages = {"rateLimitExceeded": "Rate Limit Exceeded", "userRateLimitExceeded": "User Rate Limit Exceeded",
                    "quotaExceeded": "Calendar usage limits exceeded."}
        body = google_error(status, reason, messages.get(reason, "Rate Limit Exceeded"), domain="usageLimits")
        self.fail_next(path, status, body=body, retry_after=retry_after, times=times, method=method)

    def fail_next_google(self, path: str, status: int, reason: str, message: str, *, domain: str = "global",
                         times: int = 1, retry_after: float | None = None, method: str | None = None) -> None:
        """Any Google-shaped API error on the next matching call(s), e.g. 503 backendError."""
        self.fail_next(path, status, body=google_error(status, reason, message, domain=domain),
                       retry_after=retry_after, times=times, method=method)

    # -- Calendar API --------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(request.scope["path"])
        path = path.split("?", 1)[0]
        segments = [unquote(s) for s in path[len("/calendar/v3/"):].split("/")]
        method = request.method
        body = await request.body()
        q = request.query_params

        route = _route(method, segments)
        if route is None:
            return _api_error(404, "notFound", "Not Found")
        name, args = route
        with self.lock:
            grant, problem = self._authenticate(request, name)
            if problem is not None:
                return problem
            handler = getattr(self, "_api_" + name.replace(".", "_"))
            return handler(grant["account"], q, body, *args)

    def _authenticate(self, request: Request, method_name: str) -> tuple[dict | None, Response | None]:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else (
            request.query_params.get("access_token") or request.query_params.get("oauth_token"))
        if not token:
            return None, _api_error(401, "required", "Login Required.", location="Authorization",
                                    location_type="header")
        grant = self._access_tokens.get(token)
        if grant is None or grant["expires_at"] <= self.now():
            return None, _api_error(401, "authError", "Invalid Credentials", location="Authorization",
                                    location_type="header")
        if not grant["scopes"] & METHOD_SCOPES[method_name]:
            return None, _api_error(403, "insufficientPermissions", "Insufficient Permission")
        return grant, None

    def _visible_calendar(self, account: str, calendar_id: str) -> _Calendar | None:
        acct = self.accounts.get(account)
        if acct is None:
            return None
        if calendar_id == "primary":
            calendar_id = acct.primary
        if calendar_id not in acct.calendar_ids:
            return None
        calendar = self.calendars.get(calendar_id)
        return None if calendar is None or calendar.deleted else calendar

    def _list_entry(self, account: _Account, calendar: _Calendar) -> dict:
        entry: dict[str, Any] = {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{1600000000000000 + calendar.seq}"',
            "id": calendar.id, "summary": calendar.summary, "timeZone": calendar.time_zone,
            "colorId": calendar.color_id, "backgroundColor": calendar.background,
            "foregroundColor": calendar.foreground, "selected": True,
            "accessRole": calendar.access_role if calendar.owner != account.email else "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}] if calendar.owner == account.email else [],
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
        }
        if calendar.description:
            entry["description"] = calendar.description
        if calendar.id == account.primary:
            entry["primary"] = True
            entry["notificationSettings"] = {"notifications": [
                {"type": "eventCreation", "method": "email"}, {"type": "eventChange", "method": "email"},
                {"type": "eventCancellation", "method": "email"}, {"type": "eventResponse", "method": "email"},
            ]}
        elif calendar.owner != account.email:
            entry["dataOwner"] = calendar.owner
        return entry

    def _api_calendarList_list(self, account: str, q, body) -> Response:
        acct = self.accounts[account]
        entries = [self._list_entry(acct, self.calendars[cid]) for cid in acct.calendar_ids
                   if not self.calendars[cid].deleted]
        try:
            limit = min(int(q.get("maxResults", 100)), 250)
            offset = int(q.get("pageToken") or 0) if (q.get("pageToken") or "0").isdigit() else -1
        except ValueError:
            return _api_error(400, "invalid", "Invalid Value", location="maxResults")
        if offset < 0 or limit < 1:
            return _api_error(400, "invalid", "Invalid Value", location="pageToken" if offset < 0 else "maxResults")
        result: dict[str, Any] = {"kind": "calendar#calendarList", "etag": f'"{1600000000000000 + len(entries)}"',
                                  "items": entries[offset:offset + limit]}
        if offset + limit < len(entries):
            result["nextPageToken"] = str(offset + limit)
        else:
            result["nextSyncToken"] = "cl-" + _b64url(secrets.token_bytes(12))
        return _json(result)

    def _api_calendarList_get(self, account: str, q, body, calendar_id: str) -> Response:
        calendar = self._visible_calendar(account, calendar_id)
        if calendar is None:
            return _api_error(404, "notFound", "Not Found")
        return _json(self._list_entry(self.accounts[account], calendar))

    def _api_calendars_get(self, account: str, q, body, calendar_id: str) -> Response:
        calendar = self._visible_calendar(account, calendar_id)
        if calendar is None:
            return _api_error(404, "notFound", "Not Found")
        result = {"kind": "calendar#calendar", "etag": f'"{1600000000000000 + calendar.seq}"', "id": calendar.id,
                  "summary": calendar.summary, "timeZone": calendar.time_zone,
                  "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}}
        if calendar.description:
            result["description"] = calendar.description
        return _json(result)

    def _api_events_get(self, account: str, q, body, calendar_id: str, event_id: str) -> Response:
        calendar = self._visible_calendar(account, calendar_id)
        event = calendar.events.get(event_id) if calendar else None
        if event is None:
            return _api_error(404, "notFound", "Not Found")
        return _json(event.raw)

    def _api_events_list(self, account: str, q, body, calendar_id: str) -> Response:
        calendar = self._visible_calendar(account, calendar_id)
        if calendar is None:
            return _api_error(404, "notFound", "Not Found")
        try:
            max_results = int(q.get("maxResults", 250))
        except ValueError:
            return _api_error(400, "invalid", "Invalid value for: maxResults", location="maxResults")
        if max_results < 1:
            return _api_error(400, "invalid", "Invalid value for: maxResults", location="maxResults")
        max_results = min(max_results, 2500)
        single_events = _bool_param(q.get("singleEvents")) or False
        show_deleted = _bool_param(q.get("showDeleted"))
        sync_token = q.get("syncToken")
        page_token = q.get("pageToken")

        if sync_token is not None:
            restricted = [name for name in _SYNC_RESTRICTIONS if name in q]
            if restricted or show_deleted is False:
                return _api_error(400, "invalid", "Sync token cannot be used with other request restrictions.",
                                  location=restricted[0] if restricted else "showDeleted")
        time_min = time_max = None
        for name in ("timeMin", "timeMax"):
            if name in q:
                try:
                    value = _parse_rfc3339(q[name]).timestamp()
                except ValueError:
                    return _api_error(400, "badRequest", "Bad Request", location=name)
                if name == "timeMin":
                    time_min = value
                else:
                    time_max = value
        if time_min is not None and time_max is not None and time_max <= time_min:
            return _api_error(400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar",
                              location="timeMax")
        order_by = q.get("orderBy")
        if order_by not in (None, "startTime", "updated"):
            return _api_error(400, "invalid", "Invalid value for: orderBy", location="orderBy")
        if order_by == "startTime" and not single_events:
            return _api_error(400, "badRequest", "The requested ordering is not available for the particular query.")

        if page_token is not None:
            cursor = self._cursors.get(page_token)
            if cursor is None or cursor.calendar_id != calendar.id:
                return _api_error(400, "invalid", "Invalid Value", location="pageToken")
            if cursor.epoch != calendar.epoch:
                return _gone()
        elif sync_token is not None:
            known = self._sync_tokens.get(sync_token)
            if known is None or known[0] != calendar.id or known[2] != calendar.epoch:
                return _gone()
            cursor = _Cursor(calendar.id, "changes", known[1], calendar.seq, calendar.epoch, single_events)
        elif order_by is not None:
            ids = [eid for eid, e in calendar.events.items()
                   if _listed(e, single_events, bool(show_deleted)) and _in_window(e, time_min, time_max)]
            key = (lambda eid: calendar.events[eid].start_ts) if order_by == "startTime" \
                else (lambda eid: calendar.events[eid].seq)
            ids.sort(key=key)
            cursor = _Cursor(calendar.id, "snapshot", 0, calendar.seq, calendar.epoch, single_events, ids=ids)
        else:
            cursor = _Cursor(calendar.id, "live", 0, calendar.seq, calendar.epoch, single_events,
                             include_cancelled=bool(show_deleted), time_min=time_min, time_max=time_max)

        items, position, more = self._read_page(calendar, cursor, max_results)
        if more:
            token = _b64url(secrets.token_bytes(24))
            self._cursors[token] = _Cursor(**{**cursor.__dict__, "position": position})
            return _json(self._events_page(calendar, items, next_page=token))
        if cursor.mode == "changes":
            if not items and page_token is None:
                return _json(self._events_page(calendar, [], next_sync=sync_token))  # Google repeats it
            sync_seq = calendar.seq  # this listing returned every change up to now
        else:
            sync_seq = cursor.sync_seq
        sync = "CP" + _b64url(secrets.token_bytes(18))
        self._sync_tokens[sync] = (calendar.id, sync_seq, cursor.epoch, cursor.single_events)
        return _json(self._events_page(calendar, items, next_sync=sync))

    def _read_page(self, calendar: _Calendar, cursor: _Cursor, max_results: int) -> tuple[list[dict], int, bool]:
        """One page from the cursor: (items, the next position, whether there may be more)."""
        events = calendar.events
        if cursor.mode == "changes":
            changed = [e for e in events.values()
                       if e.seq > cursor.position and _listed(e, cursor.single_events, include_cancelled=True)]
            changed.sort(key=lambda e: e.seq)
            page = changed[:max_results]
            return [e.wire for e in page], (page[-1].seq if page else cursor.position), len(changed) > max_results
        if cursor.mode == "snapshot":
            chunk = cursor.ids[cursor.position:cursor.position + max_results]
            items = [events[eid].wire for eid in chunk if eid in events]
            end = cursor.position + max_results
            return items, end, end < len(cursor.ids)
        order = calendar.order
        items: list[dict] = []
        i, n = cursor.position, len(order)
        single, cancelled, lo, hi = cursor.single_events, cursor.include_cancelled, cursor.time_min, cursor.time_max
        while i < n and len(items) < max_results:
            event = events.get(order[i])
            if (event is not None and event.ord == i and _listed(event, single, cancelled)
                    and _in_window(event, lo, hi)):
                items.append(event.wire)
            i += 1
        return items, i, i < n

    def _events_page(self, calendar: _Calendar, items: list[dict], *, next_page: str | None = None,
                     next_sync: str | None = None) -> dict:
        latest = max((e.raw.get("updated", "") for e in calendar.events.values()), default=None) \
            if len(calendar.events) < 5000 else None
        page: dict[str, Any] = {
            "kind": "calendar#events", "etag": f'"p3{calendar.seq:013d}"', "summary": calendar.summary,
            "updated": latest or _rfc3339_ms(self.now()), "timeZone": calendar.time_zone,
            "accessRole": calendar.access_role, "defaultReminders": [{"method": "popup", "minutes": 10}],
        }
        if calendar.description:
            page["description"] = calendar.description
        if next_page:
            page["nextPageToken"] = next_page
        if next_sync:
            page["nextSyncToken"] = next_sync
        page["items"] = items
        return page

    def _api_events_watch(self, account: str, q, body, calendar_id: str) -> Response:
        calendar = self._visible_calendar(account, calendar_id)
        if calendar is None:
            return _api_error(404, "notFound", "Not Found")
        try:
            resource = json.loads(body or b"null")
        except ValueError:
            return _api_error(400, "parseError", "Parse Error")
        if not isinstance(resource, dict):
            return _api_error(400, "required", "Required")
        channel_id = resource.get("id")
        address = resource.get("address")
        if not channel_id or len(channel_id) > 64 or not re.match(r"^[A-Za-z0-9\-_+/=]+$", channel_id):
            return _api_error(400, "invalid" if channel_id else "required",
                              "Invalid channel id" if channel_id else "Required", location="id")
        if resource.get("type") not in ("web_hook", "webhook"):
            return _api_error(400, "invalid", f"Invalid value for: type: {resource.get('type')}", location="type")
        if not address or urlsplit(address).scheme not in (("https",) if self.require_https else ("http", "https")):
            return _api_error(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: " + str(address),
                              domain="push")
        if channel_id in self.channels:
            return _api_error(400, "channelIdNotUnique", f"Channel id {channel_id} not unique", domain="push")
        now_ms = int(self.now() * 1000)
        ttl = self.default_channel_ttl
        params = resource.get("params") or {}
        if "ttl" in params:
            try:
                ttl = int(params["ttl"])
            except (TypeError, ValueError):
                return _api_error(400, "invalid", "Invalid ttl", location="params.ttl")
        expiration = now_ms + min(ttl, self.max_channel_ttl) * 1000
        if resource.get("expiration"):
            expiration = min(expiration, int(resource["expiration"]))
        resource_uri = f"{self.url}/calendar/v3/calendars/{quote(calendar_id, safe='@')}/events?alt=json"
        channel = _Channel(id=channel_id, resource_id=calendar.resource_id, resource_uri=resource_uri,
                           calendar_id=calendar.id, address=address, token=resource.get("token"),
                           expiration_ms=expiration, account=account)
        self.channels[channel_id] = channel
        self._send_push(channel, "sync")
        result = {"kind": "api#channel", "id": channel.id, "resourceId": channel.resource_id,
                  "resourceUri": channel.resource_uri, "expiration": str(channel.expiration_ms)}
        if channel.token is not None:
            result["token"] = channel.token
        return _json(result)

    def _api_channels_stop(self, account: str, q, body) -> Response:
        try:
            resource = json.loads(body or b"null") or {}
        except ValueError:
            return _api_error(400, "parseError", "Parse Error")
        channel = self.channels.get(resource.get("id", ""))
        if channel is None or channel.stopped or channel.resource_id != resource.get("resourceId"):
            return _api_error(404, "notFound", f"Channel '{resource.get('id')}' not found for project")
        channel.stopped = True
        return Response(status_code=204)

    # -- push ----------------------------------------------------------------------------------

    def active_channels(self, calendar_id: str | None = None) -> list[_Channel]:
        with self.lock:
            now_ms = self.now() * 1000
            return [c for c in self.channels.values() if not c.stopped and c.expiration_ms > now_ms
                    and (calendar_id is None or c.calendar_id == self._calendar(calendar_id).id)]

    def _notify(self, calendar: _Calendar, state: str = "exists") -> None:
        now_ms = self.now() * 1000
        for channel in list(self.channels.values()):
            if channel.calendar_id == calendar.id and not channel.stopped and channel.expiration_ms > now_ms:
                self._send_push(channel, state)

    def notify(self, calendar_id: str) -> None:
        """Send an `exists` push for the calendar without changing anything (a spurious one)."""
        with self.lock:
            self._notify(self._calendar(calendar_id))

    def _send_push(self, channel: _Channel, state: str) -> None:
        channel.message_number += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": formatdate(channel.expiration_ms / 1000, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.message_number),
            "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        mode = self.push_mode
        record = PushRecord(channel.id, channel.address, state, channel.message_number, headers)
        self.pushes.append(record)
        if mode == "drop":
            record.outcome = "dropped"
        elif mode == "reorder":
            record.outcome = "held"
            self._held.append((channel, record))
        elif mode == "duplicate":
            self._enqueue(record, 0.0)
            twin = PushRecord(channel.id, channel.address, state, channel.message_number, dict(headers))
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
        for _, record in reversed(held):
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
                    response = client.post(record.address, content=b"", headers=record.headers)
                    record.status = response.status_code
                    record.outcome = "delivered" if response.status_code < 400 else "failed"
                except httpx.HTTPError as exc:
                    record.error = f"{type(exc).__name__}: {exc}"
                    record.outcome = "failed"
                record.sent_at = time.time()

    def wait_for_pushes(self, count: int, *, channel_id: str | None = None, state: str | None = None,
                        timeout: float = 10.0) -> list[PushRecord]:
        """Wait until `count` matching notifications have been delivered or failed; return them."""
        def done() -> list[PushRecord] | None:
            with self.lock:
                found = [p for p in self.pushes if p.outcome in ("delivered", "failed")
                         and (channel_id is None or p.channel_id == channel_id)
                         and (state is None or p.state == state)]
            return found if len(found) >= count else None
        return self.wait_for(done, timeout=timeout)


# -- module helpers ----------------------------------------------------------------------------

def _route(method: str, segments: list[str]) -> tuple[str, tuple] | None:
    match segments:
        case ["users", "me", "calendarList"] if method == "GET":
            return "calendarList.list", ()
        case ["users", "me", "calendarList", calendar_id] if method == "GET":
            return "calendarList.get", (calendar_id,)
        case ["calendars", calendar_id] if method == "GET":
            return "calendars.get", (calendar_id,)
        case ["calendars", calendar_id, "events"] if method == "GET":
            return "events.list", (calendar_id,)
        case ["calendars", calendar_id, "events", "watch"] if method == "POST":
            return "events.watch", (calendar_id,)
        case ["calendars", calendar_id, "events", event_id] if method == "GET":
            return "events.get", (calendar_id, event_id)
        case ["channels", "stop"] if method == "POST":
            return "channels.stop", ()
    return None


def _gone() -> Response:
    return _api_error(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.",
                      location="syncToken")


def _listed(event: _Event, single_events: bool, include_cancelled: bool) -> bool:
    if event.cancelled and not include_cancelled:
        return False
    if single_events:
        return event.kind != "master"
    return event.kind != "instance" or event.exception


def _in_window(event: _Event, time_min: float | None, time_max: float | None) -> bool:
    """Google's window test: ends after timeMin (a zero-length event may start on it), starts before timeMax."""
    if time_min is not None and not (event.end_ts > time_min or event.end_ts == event.start_ts >= time_min):
        return False
    return time_max is None or event.start_ts < time_max


def _time_ts(when: dict, calendar: _Calendar) -> float:
    if "dateTime" in when:
        return _parse_rfc3339(when["dateTime"]).timestamp()
    return datetime.combine(date.fromisoformat(when["date"]), datetime.min.time(), calendar.tz).timestamp()


def _original_ts(raw: dict, calendar: _Calendar) -> float:
    return _time_ts(raw.get("originalStartTime") or raw["start"], calendar)


def _html_link(event_id: str, calendar_id: str) -> str:
    eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).rstrip(b"=").decode()
    return f"https://www.google.com/calendar/event?eid={eid}"


def _rrule(interval: timedelta, *, count: int) -> str:
    seconds = int(interval.total_seconds())
    if seconds % (7 * 86400) == 0:
        freq, n = "WEEKLY", seconds // (7 * 86400)
    elif seconds % 86400 == 0:
        freq, n = "DAILY", seconds // 86400
    elif seconds % 3600 == 0:
        freq, n = "HOURLY", seconds // 3600
    else:
        freq, n = "MINUTELY", max(1, seconds // 60)
    return f"RRULE:FREQ={freq}" + (f";INTERVAL={n}" if n != 1 else "") + f";COUNT={count}"


def _parse_rrule(rule: str) -> tuple[int, timedelta]:
    parts = dict(p.split("=", 1) for p in rule.removeprefix("RRULE:").split(";"))
    unit = {"WEEKLY": timedelta(days=7), "DAILY": timedelta(days=1), "HOURLY": timedelta(hours=1),
            "MINUTELY": timedelta(minutes=1)}[parts["FREQ"]]
    return int(parts.get("COUNT", 0)), unit * int(parts.get("INTERVAL", 1))


def _meet_code(number: int) -> str:
    letters = []
    for _ in range(10):
        letters.append("abcdefghijklmnopqrstuvwxyz"[number % 26])
        number //= 26
    word = "".join(letters)
    return f"{word[:3]}-{word[3:7]}-{word[7:]}"


def _meet_conference(code: str) -> dict:
    uri = f"https://meet.google.com/{code}"
    return {
        "hangoutLink": uri,
        "conferenceData": {
            "entryPoints": [
                {"entryPointType": "video", "uri": uri, "label": f"meet.google.com/{code}"},
                {"entryPointType": "more", "uri": f"https://tel.meet/{code}?pin=4418309217123", "pin": "4418309217123"},
                {"entryPointType": "phone", "uri": "tel:+1-650-555-0134", "label": "+1 650-555-0134",
                 "pin": "123456789", "regionCode": "US"},
            ],
            "conferenceSolution": {
                "key": {"type": "hangoutsMeet"}, "name": "Google Meet",
                "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png",
            },
            "conferenceId": code,
        },
    }


def _conference(spec: str | bool) -> dict:
    """conferenceData (and hangoutLink) as Google fills them for Meet or a conferencing add-on."""
    if spec is True or spec == "meet":
        letters = "abcdefghijklmnopqrstuvwxyz"
        code = "-".join("".join(secrets.choice(letters) for _ in range(n)) for n in (3, 4, 3))
        return _meet_conference(code)
    if spec == "zoom":
        spec = f"https://us02web.zoom.us/j/8{secrets.randbelow(10**9):09d}?pwd=" + _b64url(secrets.token_bytes(12))
    elif spec == "teams":
        spec = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + _b64url(secrets.token_bytes(12))
                + "%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d")
    url = str(spec)
    host = urlsplit(url).hostname or ""
    if host == "meet.google.com":
        return _meet_conference(urlsplit(url).path.strip("/"))
    if host.endswith("zoom.us"):
        meeting_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        passcode = dict(parse_qsl(urlsplit(url).query)).get("pwd", "")[:6] or "123456"
        return {"conferenceData": {
            "entryPoints": [{"entryPointType": "video", "uri": url, "label": url.split("://", 1)[1].split("?")[0],
                             "meetingCode": meeting_id, "passcode": passcode}],
            "conferenceSolution": {"key": {"type": "addOn"}, "name": "Zoom Meeting",
                                   "iconUri": "https://lh3.googleusercontent.com/zoom-icon"},
            "conferenceId": meeting_id,
            "parameters": {"addOnParameters": {"parameters": {"meetingType": "2", "realMeetingId": meeting_id}}},
            "notes": "Meeting host: host@example.com<br /><br />Join Zoom Meeting: <br />" + url,
        }}
    name = "Microsoft Teams Meeting" if "teams" in host else host
    return {"conferenceData": {
        "entryPoints": [{"entryPointType": "video", "uri": url, "label": name}],
        "conferenceSolution": {"key": {"type": "addOn"}, "name": name, "iconUri": "https://lh3.googleusercontent.com/addon"},
        "conferenceId": _b64url(hashlib.sha256(url.encode()).digest()[:9]),
    }}


def _copy(raw: dict) -> dict:
    return json.loads(json.dumps(raw))


def _guest_copy(raw: dict, calendar: _Calendar, *, invited: bool) -> dict:
    """The organizer's event as it appears on a guest's calendar (times in the guest's zone)."""
    calendar_id = calendar.id
    copy = {**raw, "htmlLink": _html_link(raw["id"], calendar_id)}
    for name in ("start", "end", "originalStartTime"):
        when = raw.get(name)
        if when and "dateTime" in when:
            copy[name] = {**when, "dateTime": _render_dt(_parse_rfc3339(when["dateTime"]), calendar.tz)}
    copy["organizer"] = {k: v for k, v in raw["organizer"].items() if k != "self"}
    copy["creator"] = {k: v for k, v in raw.get("creator", raw["organizer"]).items() if k != "self"}
    attendees = []
    for attendee in raw.get("attendees", ()):
        attendee = {k: v for k, v in attendee.items() if k != "self"}
        if attendee.get("email") == calendar_id:
            attendee["self"] = True
        attendees.append(attendee)
    if attendees:
        copy["attendees"] = attendees
    if not invited:  # taken off the guest list: the event leaves their calendar
        copy["status"] = "cancelled"
    return copy


def _calendar_kwargs(spec: dict) -> dict:
    return {"calendar_id": spec.get("id"), "summary": spec.get("summary"), "time_zone": spec.get("timeZone"),
            "access_role": spec.get("accessRole", "owner"), "description": spec.get("description", "")}


def _error_page(status: int, error: str, description: str) -> Response:
    html = (f"<!doctype html><title>Error {status}: {error}</title><h1>Access blocked: "
            f"authorisation error</h1><p>Error {status}: {error}</p><p>{description}</p>")
    return HTMLResponse(html, status_code=status)
