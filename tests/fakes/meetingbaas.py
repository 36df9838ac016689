"""Meeting BaaS v2 scheduled bots, emulated on loopback — and the callbacks/webhooks it sends.

Follows `meetingbaas-openapi-v2.json` (checked by tests/integration/test_meetingbaas_fidelity.py):

- `POST /v2/bots/scheduled` → 201 `{"success": true, "data": {"bot_id"}}`; the body is validated
  against `CreateScheduledBotRequestBodyInput` (400 `ValidationErrorResponse` otherwise); `join_at`
  must be ≥ 1 minute ahead and ≤ 90 days; the meeting URL must be https Zoom / Meet / Teams.
- `GET /v2/bots/scheduled` — filters `status`, `scheduled_after|before`, `bot_id`, `bot_name`,
  `meeting_url`, `meeting_platform`, `extra=key:value,...`; ordered by `join_at`; cursor pages.
- `GET|PATCH|DELETE /v2/bots/scheduled/{bot_id}` — PATCH/DELETE only while `scheduled` and
  `join_at` ≥ 4 minutes ahead, else 409 `ErrorResponse`; unknown id → 404.
- Every call needs `x-meeting-baas-api-key` (else 401 in the `ErrorResponse` shape).

Stricter than the spec on purpose (each would be a silent no-op at the real service, i.e. a bug
in the caller): unknown top-level body fields, `callback_config` without `callback_enabled: true`,
and `transcription_config` without `transcription_enabled: true` are 400s.

"Now" is `fake.now()` = real UTC time + `fake.clock_offset` seconds (`fake.advance(minutes=3)`,
`fake.set_now(dt)`), so a test can walk up to a bot's join time.

Outbound, as the spec describes them:
- per-bot callbacks (`callback_config.url`, method POST/PUT, header `x-mb-secret: <secret>`)
  carry only `bot.completed` / `bot.failed` (schemas CallbackCompleted / CallbackFailed);
- account webhooks (`configure_account_webhook(url, svix_secret)`) carry `bot.status_change`,
  `bot.completed`, `bot.failed`, signed with SVIX headers `svix-id`, `svix-timestamp`,
  `svix-signature`. A redelivery keeps its `svix-id`.
`send_status`, `complete` and `fail` return the `Delivery`s; `deliver=False` holds them so a test
can send them later, twice, or in another order (`fake.deliver(reversed(held))`).
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from svix.webhooks import Webhook

from tests.fakes.base import FakeService
from tests.fakes.openapi_check import meetingbaas_spec

API_KEY_HEADER = "x-meeting-baas-api-key"
CALLBACK_SECRET_HEADER = "x-mb-secret"
SCHEDULED_STATUSES = ("scheduled", "cancelled", "completed", "failed")
LOCK_WINDOW = timedelta(minutes=4)
MIN_LEAD = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=90)

_CREATE_FIELDS = set(meetingbaas_spec().document["components"]["schemas"]["CreateBotRequestBodyInput"]["properties"]) | {"join_at"}
_UPDATE_FIELDS = set(meetingbaas_spec().document["components"]["schemas"]["UpdateScheduledBotRequestBodyInput"]["properties"])

_ERROR_NAMES = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
                404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error",
                502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

# Plain default messages for `fail()`, so tests need only name the code.
DEFAULT_FAILURE_MESSAGES = {
    "BOT_NOT_ACCEPTED": "The bot was not accepted into the meeting",
    "TIMEOUT_WAITING_TO_START": "Timeout waiting for the meeting to start",
    "CANNOT_JOIN_MEETING": "Cannot join the meeting",
    "MEETING_NOT_FOUND": "Meeting not found",
    "BOT_CRASHED": "The bot crashed",
    "INSUFFICIENT_TOKENS": "Insufficient tokens",
    "DAILY_BOT_CAP_REACHED": "Daily bot cap reached",
    "BOT_ALREADY_EXISTS": "A bot is already in this meeting",
    "EXITING_MEETING_BEFORE_RECORD": "The bot exited the meeting before recording",
}


def iso_z(moment: datetime, *, millis: bool = False) -> str:
    moment = moment.astimezone(timezone.utc)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_z(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text).astimezone(timezone.utc)


def meeting_platform(url: str) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        return None
    if host == "zoom.us" or host.endswith((".zoom.us", "zoomgov.com")):
        return "zoom"
    if host == "meet.google.com":
        return "meet"
    if host.endswith(("teams.microsoft.com", "teams.live.com")):
        return "teams"
    return None


@dataclass
class FakeBot:
    """One scheduled bot as the fake holds it."""

    bot_id: str
    body: dict                       # the accepted configuration, updated by PATCH
    join_at: datetime
    status: str = "scheduled"        # scheduled / cancelled / completed / failed (scheduled-bot status)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    cancelled_at: datetime | None = None
    bot_status: str | None = None    # the live bot's status once launched (joining_call, ...)
    error_code: str | None = None
    history: list[str] = field(default_factory=list)

    @property
    def meeting_url(self) -> str:
        return self.body["meeting_url"]

    @property
    def extra(self) -> dict | None:
        return self.body.get("extra")

    @property
    def callback(self) -> dict | None:
        if self.body.get("callback_enabled") and self.body.get("callback_config"):
            return self.body["callback_config"]
        return None

    @property
    def deleted(self) -> bool:
        return self.status == "cancelled"


@dataclass
class Delivery:
    """One outbound HTTP request the fake sends (a callback or a webhook), and how it went."""

    kind: str                       # "callback" or "webhook"
    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    error: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    def send(self, timeout: float = 10.0) -> "Delivery":
        try:
            with httpx.Client(timeout=timeout) as client:
                response = client.request(self.method, self.url, content=self.body, headers=self.headers)
            self.status = response.status_code
        except httpx.HTTPError as exc:
            self.error = repr(exc)
        return self

    async def asend(self, timeout: float = 10.0) -> "Delivery":
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.request(self.method, self.url, content=self.body, headers=self.headers)
            self.status = response.status_code
        except httpx.HTTPError as exc:
            self.error = repr(exc)
        return self


@dataclass
class Exchange:
    """A request a route handled and the answer it gave (faults injected by the base are not here)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    has_body: bool
    status: int
    response: Any


class FakeMeetingBaas(FakeService):
    name = "meetingbaas"

    def __init__(self, api_key: str = "mb-test-key") -> None:
        self.api_key = api_key
        self.bots: dict[str, FakeBot] = {}
        self.clock_offset: float = 0.0
        self.lock_window = LOCK_WINDOW
        self.exchanges: list[Exchange] = []
        self.deliveries: list[Delivery] = []
        self.account_webhook_url: str | None = None
        self.account_webhook_secret: str | None = None
        super().__init__()

    def reset(self) -> None:
        """Forget every bot, call, delivery, fault, clock offset and webhook (reuse one server)."""
        with self.lock:
            self.bots.clear()
            self.exchanges.clear()
            self.deliveries.clear()
            self.requests.clear()
            self._faults.clear()
        self.clock_offset = 0.0
        self.lock_window = LOCK_WINDOW
        self.account_webhook_url = self.account_webhook_secret = None

    # -- clock -----------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_offset)

    def set_now(self, moment: datetime) -> None:
        self.clock_offset = (moment - datetime.now(timezone.utc)).total_seconds()

    def advance(self, **delta: float) -> None:
        self.clock_offset += timedelta(**delta).total_seconds()

    # -- state helpers ---------------------------------------------------------------------

    def active_bots(self, meeting_url: str | None = None) -> list[FakeBot]:
        """Bots still waiting to join (status `scheduled`), optionally for one meeting URL."""
        with self.lock:
            found = [b for b in self.bots.values() if b.status == "scheduled"]
        if meeting_url is not None:
            found = [b for b in found if b.meeting_url == meeting_url]
        return sorted(found, key=lambda b: (b.join_at, b.bot_id))

    def bot(self, bot_id: str) -> FakeBot:
        return self.bots[bot_id]

    def transition_due(self, *, notify: bool = True) -> list[FakeBot]:
        """Launch bots whose join time has come: `scheduled` → `completed` (= queued to join).

        As at the real service, deduplication happens here, not at creation: a bot with
        `allow_multiple_bots: false` for a meeting URL another bot launched for within 5 minutes
        goes to `failed` (and, with `notify`, sends `bot.failed` BOT_ALREADY_EXISTS).
        """
        now = self.now()
        launched: list[FakeBot] = []
        duplicates: list[FakeBot] = []
        with self.lock:
            due = sorted((b for b in self.bots.values() if b.status == "scheduled" and b.join_at <= now),
                         key=lambda b: (b.join_at, b.created_at))
            for bot in due:
                recent = [b for b in self.bots.values() if b is not bot and b.status == "completed"
                          and b.meeting_url == bot.meeting_url and abs((b.join_at - bot.join_at).total_seconds()) < 300]
                bot.updated_at = now
                if recent and not bot.body.get("allow_multiple_bots", True):
                    bot.status, bot.bot_status, bot.error_code = "failed", "failed", "BOT_ALREADY_EXISTS"
                    duplicates.append(bot)
                else:
                    bot.status, bot.bot_status = "completed", "queued"
                    launched.append(bot)
                bot.history.append(bot.status)
        if notify:
            for bot in duplicates:
                self.fail(bot.bot_id, error_code="BOT_ALREADY_EXISTS")
        return launched

    # -- outbound: callbacks and webhooks --------------------------------------------------

    def configure_account_webhook(self, url: str, svix_secret: str | None = None) -> str:
        """Set the account-level webhook endpoint; returns its SVIX signing secret (`whsec_...`)."""
        self.account_webhook_url = url
        self.account_webhook_secret = svix_secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        return self.account_webhook_secret

    def send_status(self, bot_id: str, code: str, *, error_message: str | None = None,
                    deliver: bool = True, copies: int = 1, svix_timestamp: datetime | None = None,
                    also_callback: bool = False) -> list[Delivery]:
        """A `bot.status_change` (joining_call, in_waiting_room, in_call_recording, bot_rejected,
        bot_removed, ...). Per the spec it goes to the account webhook only — callbacks carry just
        completed/failed; `also_callback=True` sends it to the callback URL too (off-spec, to test
        robustness)."""
        bot = self.bots[bot_id]
        now = self.now()
        with self.lock:
            if bot.status == "scheduled":
                bot.status = "completed"           # a bot with a live status has been launched
            bot.bot_status = code
            bot.updated_at = now
            bot.history.append(code)
        status: dict[str, Any] = {"code": code, "created_at": iso_z(now, millis=True)}
        if code == "in_call_recording":
            status["start_time"] = int(now.timestamp())
        if code == "recording_failed":
            status["error_message"] = error_message or "Recording failed"
        payload = {"event": "bot.status_change",
                   "data": {"bot_id": bot_id, "event_id": None, "status": status},
                   "extra": bot.extra}
        deliveries = self._webhook_deliveries(payload, copies, svix_timestamp)
        if also_callback:
            deliveries += self._callback_deliveries(bot, payload, copies)
        return self._dispatch(deliveries, deliver)

    def complete(self, bot_id: str, *, video_url: str | None = "https://storage.example.com/video.mp4",
                 transcript: str | None = None, audio_url: str | None = "https://storage.example.com/audio.flac",
                 diarization_url: str | None = None, raw_transcript: str | None = None,
                 participants: list[str] | None = None, duration_seconds: int | None = 1800,
                 deliver: bool = True, copies: int = 1, svix_timestamp: datetime | None = None) -> list[Delivery]:
        """The bot finished: `bot.completed` to the callback (x-mb-secret) and the account webhook."""
        bot = self.bots[bot_id]
        now = self.now()
        with self.lock:
            bot.status = "completed"
            bot.bot_status = "completed"
            bot.updated_at = now
            bot.history.append("completed")
        people = [{"name": name, "id": i + 1} for i, name in enumerate(participants or ["Ana", "Ben"])]
        joined = bot.join_at + timedelta(seconds=30)
        data = {
            "bot_id": bot_id,
            "event_id": None,
            "participants": people,
            "speakers": people,
            "duration_seconds": duration_seconds,
            "joined_at": iso_z(joined),
            "exited_at": iso_z(joined + timedelta(seconds=duration_seconds or 0)),
            "data_deleted": False,
            "video": video_url,
            "audio": audio_url,
            "diarization": diarization_url,
            "raw_transcription": raw_transcript,
            "transcription": transcript,
            "transcription_provider": "gladia" if transcript else None,
            "transcription_ids": [str(uuid.uuid4())] if transcript else None,
            "sent_at": iso_z(now, millis=True),
        }
        payload = {"event": "bot.completed", "data": data, "extra": bot.extra}
        deliveries = self._callback_deliveries(bot, payload, copies) + self._webhook_deliveries(payload, copies, svix_timestamp)
        return self._dispatch(deliveries, deliver)

    def fail(self, bot_id: str, *, error_code: str = "BOT_NOT_ACCEPTED", message: str | None = None,
             deliver: bool = True, copies: int = 1, svix_timestamp: datetime | None = None) -> list[Delivery]:
        """The bot failed: `bot.failed` with `error_code` / `error_message` to callback and webhook."""
        bot = self.bots[bot_id]
        now = self.now()
        with self.lock:
            if bot.status == "scheduled":
                bot.status = "completed"
            bot.bot_status = "failed"
            bot.error_code = error_code
            bot.updated_at = now
            bot.history.append(f"failed:{error_code}")
        data = {
            "bot_id": bot_id,
            "event_id": None,
            "error_message": message or DEFAULT_FAILURE_MESSAGES.get(error_code, error_code.replace("_", " ").capitalize()),
            "error_code": error_code,
            "sent_at": iso_z(now, millis=True),
        }
        payload = {"event": "bot.failed", "data": data, "extra": bot.extra}
        deliveries = self._callback_deliveries(bot, payload, copies) + self._webhook_deliveries(payload, copies, svix_timestamp)
        return self._dispatch(deliveries, deliver)

    def deliver(self, deliveries: Iterable[Delivery]) -> list[Delivery]:
        """Send held deliveries now, in the order given (reverse or repeat them to test that)."""
        sent = []
        for delivery in deliveries:
            fresh = Delivery(delivery.kind, delivery.url, delivery.method, dict(delivery.headers), delivery.body)
            fresh.send()
            with self.lock:
                self.deliveries.append(fresh)
            sent.append(fresh)
        return sent

    async def adeliver(self, deliveries: Iterable[Delivery]) -> list[Delivery]:
        """`deliver` for tests whose receiving app runs in the test's own event loop."""
        sent = []
        for delivery in deliveries:
            fresh = Delivery(delivery.kind, delivery.url, delivery.method, dict(delivery.headers), delivery.body)
            await fresh.asend()
            with self.lock:
                self.deliveries.append(fresh)
            sent.append(fresh)
        return sent

    def _callback_deliveries(self, bot: FakeBot, payload: dict, copies: int) -> list[Delivery]:
        callback = bot.callback
        if callback is None:
            return []
        headers = {"content-type": "application/json"}
        if callback.get("secret"):
            headers[CALLBACK_SECRET_HEADER] = callback["secret"]
        body = json.dumps(payload).encode()
        return [Delivery("callback", callback["url"], callback.get("method") or "POST", dict(headers), body)
                for _ in range(copies)]

    def _webhook_deliveries(self, payload: dict, copies: int, timestamp: datetime | None) -> list[Delivery]:
        if not self.account_webhook_url or not self.account_webhook_secret:
            return []
        body = json.dumps(payload)
        msg_id = "msg_" + secrets.token_urlsafe(18)
        signed_at = timestamp or datetime.now(timezone.utc)   # SVIX signs with real time, not the fake clock
        signature = Webhook(self.account_webhook_secret).sign(msg_id, signed_at, body)
        headers = {
            "content-type": "application/json",
            "svix-id": msg_id,
            "svix-timestamp": str(int(signed_at.timestamp())),
            "svix-signature": signature,
        }
        return [Delivery("webhook", self.account_webhook_url, "POST", dict(headers), body.encode())
                for _ in range(copies)]

    def _dispatch(self, deliveries: list[Delivery], deliver: bool) -> list[Delivery]:
        if deliver:
            return self.deliver(deliveries)
        return deliveries

    # -- faults ----------------------------------------------------------------------------

    def fail_next(self, path: str, status: int | None = 500, *, method: str | None = None, body: Any = None,
                  headers: dict[str, str] | None = None, retry_after: float | None = None,
                  delay: float = 0.0, times: int = 1) -> None:
        """As the base, but an error without a `body` gets the spec's error shape (429: with retryAfter)."""
        if status is not None and status >= 400 and body is None:
            body = self.error_body(status, retry_after=retry_after)
        super().fail_next(path, status, method=method, body=body, headers=headers,
                          retry_after=retry_after, delay=delay, times=times)

    def rate_limit_next(self, path: str = r"^/v2/bots/scheduled", *, retry_after: int = 5,
                        header: bool = True, method: str | None = None, times: int = 1) -> None:
        """429 as the spec shapes it: body `retryAfter`, and (unless `header=False`) `Retry-After`."""
        body = self.error_body(429, retry_after=retry_after)
        super().fail_next(path, 429, method=method, body=body, retry_after=retry_after if header else None, times=times)

    @staticmethod
    def error_body(status: int, message: str | None = None, code: str | None = None,
                   retry_after: float | None = None) -> dict:
        body: dict[str, Any] = {
            "success": False,
            "error": _ERROR_NAMES.get(status, "Error"),
            "code": code or {400: "FST_ERR_VALIDATION", 401: "FST_ERR_UNAUTHORIZED", 404: "FST_ERR_NOT_FOUND",
                             409: "FST_ERR_BOT_STATUS", 429: "FST_ERR_RATE_LIMITED"}.get(status, "FST_ERR_INTERNAL"),
            "statusCode": status,
            "message": message or _ERROR_NAMES.get(status, "Error"),
        }
        if status == 429:
            body["retryAfter"] = max(1, int(retry_after or 1))
        elif status != 400:
            body["details"] = None
        return body

    # -- routes ----------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("/v2/bots/scheduled", self._create, methods=["POST"]),
            Route("/v2/bots/scheduled", self._list, methods=["GET"]),
            Route("/v2/bots/scheduled/{bot_id}", self._get, methods=["GET"]),
            Route("/v2/bots/scheduled/{bot_id}", self._update, methods=["PATCH"]),
            Route("/v2/bots/scheduled/{bot_id}", self._delete, methods=["DELETE"]),
        ]

    async def _begin(self, request: Request) -> tuple[Any, bool, JSONResponse | None]:
        """Read the body and check the key; an error response if either is wrong."""
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return None, True, self._reply(request, None, True, 400, self.error_body(400, "Body is not valid JSON"))
        provided = request.headers.get(API_KEY_HEADER)
        if not provided or not secrets.compare_digest(provided.encode(), self.api_key.encode()):
            return body, bool(raw), self._reply(request, body, bool(raw), 401,
                                                self.error_body(401, "Invalid or missing API key"))
        return body, bool(raw), None

    def _reply(self, request: Request, body: Any, has_body: bool, status: int, payload: Any) -> JSONResponse:
        # The query as validated: with the spec's defaults filled in (see _list).
        query = request.scope.get("effective_query") or dict(request.query_params)
        exchange = Exchange(request.method, request.url.path, query, body, has_body, status, payload)
        with self.lock:
            self.exchanges.append(exchange)
        return JSONResponse(payload, status_code=status)

    def _invalid(self, request: Request, body: Any, has_body: bool, message: str, code: str = "FST_ERR_VALIDATION"):
        return self._reply(request, body, has_body, 400, self.error_body(400, message, code))

    def _spec_problems(self, request: Request, body: Any, has_body: bool, query: dict | None = None) -> list[str]:
        return meetingbaas_spec().request_errors(request.method, request.url.path, body,
                                                 query if query is not None else dict(request.query_params),
                                                 has_body=has_body)

    def _check_config(self, body: dict, allowed: set[str]) -> str | None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            return f"body has unknown properties: {', '.join(unknown)}"
        if body.get("callback_config") is not None and body.get("callback_enabled") is not True:
            return "callback_config is only used when callback_enabled is true"
        if body.get("callback_enabled") is True and not body.get("callback_config"):
            return "callback_config is required when callback_enabled is true"
        if body.get("transcription_config") is not None and body.get("transcription_enabled") is not True:
            return "transcription_config is only used when transcription_enabled is true"
        if body.get("streaming_config") is not None and body.get("streaming_enabled") is not True:
            return "streaming_config is only used when streaming_enabled is true"
        if "meeting_url" in body and meeting_platform(body["meeting_url"]) is None:
            return "meeting_url must be an https Zoom, Google Meet or Microsoft Teams link"
        return None

    async def _create(self, request: Request):
        body, has_body, error = await self._begin(request)
        if error:
            return error
        problems = self._spec_problems(request, body, has_body)
        if not has_body or not isinstance(body, dict):
            problems.append("body must be a JSON object")
        if problems:
            return self._invalid(request, body, has_body, "; ".join(problems))
        problem = self._check_config(body, _CREATE_FIELDS)
        if problem:
            code = "INVALID_MEETING_PLATFORM" if problem.startswith("meeting_url") else "FST_ERR_VALIDATION"
            return self._invalid(request, body, has_body, problem, code)
        now = self.now()
        join_at = parse_z(body["join_at"])
        if join_at < now + MIN_LEAD:
            return self._invalid(request, body, has_body, "join_at must be at least 1 minute in the future")
        if join_at > now + MAX_AHEAD:
            return self._invalid(request, body, has_body, "join_at cannot be more than 90 days in the future")
        bot = FakeBot(bot_id=str(uuid.uuid4()), body=dict(body), join_at=join_at, created_at=now, updated_at=now)
        bot.history.append("scheduled")
        with self.lock:
            self.bots[bot.bot_id] = bot
        return self._reply(request, body, has_body, 201, {"success": True, "data": {"bot_id": bot.bot_id}})

    async def _list(self, request: Request):
        body, has_body, error = await self._begin(request)
        if error:
            return error
        query = dict(request.query_params)
        query.setdefault("limit", "50")          # the spec's default for a "required" parameter
        request.scope["effective_query"] = query
        problems = self._spec_problems(request, body, has_body, query)
        if problems:
            return self._invalid(request, body, has_body, "; ".join(problems))
        now = self.now()
        limit = int(query["limit"])
        with self.lock:
            bots = list(self.bots.values())
        for name in ("scheduled_after", "scheduled_before"):
            if query.get(name) and abs(parse_z(query[name]) - now) > MAX_AHEAD:
                return self._invalid(request, body, has_body, f"{name} must be within ±90 days from today")
        if query.get("status"):
            wanted = {s.strip() for s in query["status"].split(",") if s.strip()}
            if wanted - set(SCHEDULED_STATUSES):
                return self._invalid(request, body, has_body, f"status must be among {', '.join(SCHEDULED_STATUSES)}")
            bots = [b for b in bots if b.status in wanted]
        if query.get("scheduled_after"):
            after = parse_z(query["scheduled_after"])
            bots = [b for b in bots if b.join_at > after]
        if query.get("scheduled_before"):
            before = parse_z(query["scheduled_before"])
            bots = [b for b in bots if b.join_at < before]
        for name, getter in (("bot_id", lambda b: b.bot_id), ("bot_name", lambda b: b.body.get("bot_name", "")),
                             ("meeting_url", lambda b: b.meeting_url)):
            if query.get(name):
                needle = query[name].lower()
                bots = [b for b in bots if needle in getter(b).lower()]
        if query.get("meeting_platform"):
            platforms = {p.strip() for p in query["meeting_platform"].split(",")}
            bots = [b for b in bots if meeting_platform(b.meeting_url) in platforms]
        if query.get("extra"):
            conditions = []
            for condition in query["extra"].split(","):
                key, sep, value = condition.partition(":")
                if not sep or not key:
                    return self._invalid(request, body, has_body, "extra must be key:value[,key:value]")
                conditions.append((key, value))
            bots = [b for b in bots if all(_extra_text(b.extra, k) == v for k, v in conditions)]
        bots.sort(key=lambda b: (b.join_at, b.bot_id))

        cursor = query.get("cursor")
        backward = False
        if cursor:
            backward = cursor.startswith("-")
            try:
                position = _decode_cursor(cursor.lstrip("-"))
            except ValueError:
                return self._invalid(request, body, has_body, "cursor is not valid")
            if backward:
                earlier = [b for b in bots if (b.join_at, b.bot_id) < position]
                page = earlier[-limit:]
                start = len(earlier) - len(page)
            else:
                start = next((i for i, b in enumerate(bots) if (b.join_at, b.bot_id) > position), len(bots))
                page = bots[start:start + limit]
        else:
            start, page = 0, bots[:limit]
        next_cursor = _encode_cursor(page[-1]) if page and start + len(page) < len(bots) else None
        prev_cursor = "-" + _encode_cursor(page[0]) if page and start > 0 else None
        payload = {"success": True, "data": [self._summary(b) for b in page],
                   "cursor": next_cursor, "prev_cursor": prev_cursor}
        return self._reply(request, body, has_body, 200, payload)

    def _find(self, request: Request, body: Any, has_body: bool) -> tuple[FakeBot | None, JSONResponse | None]:
        problems = self._spec_problems(request, body, has_body)
        if problems:
            return None, self._invalid(request, body, has_body, "; ".join(problems))
        bot = self.bots.get(request.path_params["bot_id"].lower())
        if bot is None:
            return None, self._reply(request, body, has_body, 404,
                                     self.error_body(404, "Scheduled bot not found", "SCHEDULED_BOT_NOT_FOUND"))
        return bot, None

    def _locked(self, bot: FakeBot, verb: str) -> str | None:
        if bot.status != "scheduled":
            return f"Scheduled bot is {bot.status}; it can no longer be {verb}"
        if bot.join_at - self.now() < self.lock_window:
            return f"Join time is less than {int(self.lock_window.total_seconds() // 60)} minutes away; the bot can no longer be {verb}"
        return None

    async def _get(self, request: Request):
        body, has_body, error = await self._begin(request)
        if error:
            return error
        bot, error = self._find(request, body, has_body)
        if error:
            return error
        return self._reply(request, body, has_body, 200, {"success": True, "data": self._details(bot)})

    async def _update(self, request: Request):
        body, has_body, error = await self._begin(request)
        if error:
            return error
        bot, error = self._find(request, body, has_body)
        if error:
            return error
        if not isinstance(body, dict):
            return self._invalid(request, body, has_body, "body must be a JSON object")
        unknown = sorted(set(body) - _UPDATE_FIELDS)
        merged = {**bot.body, **body}
        problem = (f"body has unknown properties: {', '.join(unknown)}" if unknown
                   else self._check_config(merged, _CREATE_FIELDS))
        if problem:
            return self._invalid(request, body, has_body, problem)
        now = self.now()
        if "join_at" in body:
            new_join = parse_z(body["join_at"])
            if new_join <= now:
                return self._invalid(request, body, has_body, "join_at must be in the future")
            if new_join > now + MAX_AHEAD:
                return self._invalid(request, body, has_body, "join_at cannot be more than 90 days in the future")
        conflict = self._locked(bot, "updated")
        if conflict is None and "join_at" in body and parse_z(body["join_at"]) - now < self.lock_window:
            conflict = "The new join time is less than 4 minutes away"
        if conflict:
            return self._reply(request, body, has_body, 409, self.error_body(409, conflict, "FST_ERR_BOT_STATUS"))
        with self.lock:
            bot.body = merged
            if "join_at" in body:
                bot.join_at = parse_z(body["join_at"])
            bot.updated_at = now
            bot.history.append("updated")
        return self._reply(request, body, has_body, 200,
                           {"success": True, "data": {"message": "Scheduled bot updated successfully"}})

    async def _delete(self, request: Request):
        body, has_body, error = await self._begin(request)
        if error:
            return error
        bot, error = self._find(request, body, has_body)
        if error:
            return error
        conflict = self._locked(bot, "deleted")
        if conflict:
            return self._reply(request, body, has_body, 409, self.error_body(409, conflict, "FST_ERR_BOT_STATUS"))
        now = self.now()
        with self.lock:
            bot.status = "cancelled"
            bot.cancelled_at = now
            bot.updated_at = now
            bot.history.append("cancelled")
        return self._reply(request, body, has_body, 200,
                           {"success": True, "data": {"message": "Scheduled bot deleted successfully"}})

    # -- response shapes -------------------------------------------------------------------

    def _summary(self, bot: FakeBot) -> dict:
        return {
            "bot_id": bot.bot_id,
            "bot_name": bot.body["bot_name"],
            "meeting_url": bot.meeting_url,
            "meeting_platform": meeting_platform(bot.meeting_url),
            "join_at": iso_z(bot.join_at),
            "status": bot.status,
            "extra": bot.extra,
            "created_at": iso_z(bot.created_at, millis=True),
            "updated_at": iso_z(bot.updated_at, millis=True),
        }

    def _details(self, bot: FakeBot) -> dict:
        body = bot.body
        image = body.get("bot_image")
        if isinstance(image, list):
            image = image[0] if image else None
        timeouts = body.get("timeout_config") or {}
        transcription = None
        if body.get("transcription_enabled"):
            config = body.get("transcription_config") or {}
            transcription = {"enabled": True, "provider": config.get("provider", "gladia"),
                             "custom_params": config.get("custom_params")}
        streaming = None
        if body.get("streaming_enabled"):
            config = body.get("streaming_config") or {}
            streaming = {"enabled": True, "input_url": config.get("input_url"), "output_url": config.get("output_url"),
                         "audio_frequency": config.get("audio_frequency", 24000)}
        callback = None
        if bot.callback:
            callback = {"enabled": True, "url": bot.callback["url"], "secret": bot.callback.get("secret"),
                        "method": bot.callback.get("method", "POST")}
        zoom = body.get("zoom_config")
        if zoom is not None:
            zoom = {k: zoom.get(k) for k in ("credential_id", "credential_user_id", "obf_token_url", "zak_token_url")}
        return {
            "bot_id": bot.bot_id,
            "bot_name": body["bot_name"],
            "bot_image": image,
            "meeting_url": bot.meeting_url,
            "meeting_platform": meeting_platform(bot.meeting_url),
            "recording_mode": body.get("recording_mode", "speaker_view"),
            "join_at": iso_z(bot.join_at),
            "status": bot.status,
            "created_at": iso_z(bot.created_at, millis=True),
            "updated_at": iso_z(bot.updated_at, millis=True),
            "cancelled_at": iso_z(bot.cancelled_at, millis=True) if bot.cancelled_at else None,
            "allow_multiple_bots": body.get("allow_multiple_bots", True),
            "entry_message": body.get("entry_message"),
            "timeout_config": {"waiting_room_timeout": timeouts.get("waiting_room_timeout", 600),
                               "no_one_joined_timeout": timeouts.get("no_one_joined_timeout", 600)},
            "transcription_config": transcription,
            "streaming_config": streaming,
            "callback_config": callback,
            "extra": bot.extra,
            "zoom_config": zoom,
        }


def _extra_text(extra: dict | None, key: str) -> str | None:
    """An `extra` value as the service's SQL filter sees it (JSON text of non-strings)."""
    if not extra or key not in extra:
        return None
    value = extra[key]
    return value if isinstance(value, str) else json.dumps(value)


def _encode_cursor(bot: FakeBot) -> str:
    return base64.b64encode(f"{iso_z(bot.join_at)}::{bot.bot_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        moment, sep, bot_id = text.partition("::")
        if not sep:
            raise ValueError("no separator")
        return parse_z(moment), bot_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"bad cursor: {exc}") from None
