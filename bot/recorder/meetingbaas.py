"""`Recorder` for Meeting BaaS v2 scheduled bots (reference/meetingbaas-openapi-v2.json).

- `schedule` → `POST /v2/bots/scheduled`; our idempotency key travels in `extra.calbot_key`, so
  `find_by_key` (`GET /v2/bots/scheduled?extra=calbot_key:<key>`) adopts a bot created just
  before a crash or a lost answer instead of creating a second one.
- `reschedule` → `PATCH /v2/bots/scheduled/{id}`; `cancel` → `DELETE`. Both are refused with 409
  once the bot is not `scheduled` any more or its join time is less than 4 minutes away: that is
  `RecorderLocked`, and the caller decides (delete + create, or live with it).
- Errors: 429 → `RecorderRateLimited` (retry_after from `Retry-After` or the body's `retryAfter`);
  5xx, timeouts and connection errors → transient `RecorderError`; 400/422 → `RecorderRejected`;
  401/403 → `RecorderAuthError` ("MEETINGBAAS_API_KEY was refused"); 404 → `RecorderNotFound`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.config import Settings
from bot.recorder.base import (
    BotConfig,
    RecorderError,
    RecorderLocked,
    RecorderNotFound,
    RecorderRateLimited,
    RecorderRejected,
    ScheduledBot,
)

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-meeting-baas-api-key"
SCHEDULED = "/v2/bots/scheduled"
KEY_FIELD = "calbot_key"
PAGE_SIZE = 100
MAX_PAGES = 50
BOT_NAME_MAX = 255
ENTRY_MESSAGE_MAX = 500
RECORDING_MODES = ("speaker_view", "gallery_view", "audio_only")
# The spec knows one transcription provider; anything the user names that means "on" maps to it.
TRANSCRIPTION_PROVIDER = "gladia"
TRANSCRIPTION_OFF = ("", "none", "off", "false", "no", "disabled")
# Which scheduled bot to adopt when several carry one key: a live one first.
STATUS_PREFERENCE = {"scheduled": 0, "completed": 1, "failed": 2}


class RecorderAuthError(RecorderError):
    """Meeting BaaS refused our API key (401/403), or none is configured. Retrying won't help."""

    transient = False


def join_at_text(moment: datetime) -> str:
    """The spec's join_at form: UTC with a 'Z' (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime:
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def config_fields(config: BotConfig) -> dict[str, Any]:
    """The bot's look and behaviour as Meeting BaaS fields (shared by create and update)."""
    fields: dict[str, Any] = {
        "bot_name": (config.bot_name or "").strip()[:BOT_NAME_MAX] or BotConfig.bot_name,
        "recording_mode": config.recording_mode if config.recording_mode in RECORDING_MODES else "speaker_view",
    }
    if config.recording_mode not in RECORDING_MODES:
        log.warning("unknown recording mode, using speaker_view", extra={"recording_mode": config.recording_mode})
    if config.entry_message:
        fields["entry_message"] = config.entry_message[:ENTRY_MESSAGE_MAX]
    if config.bot_image:
        fields["bot_image"] = config.bot_image
    stt = (config.speech_to_text or "").strip().lower()
    if stt in TRANSCRIPTION_OFF:
        fields["transcription_enabled"] = False
        fields["transcription_config"] = None      # an update that turns it off clears it too
    else:
        if stt not in (TRANSCRIPTION_PROVIDER, "default", "true", "on"):
            log.warning("speech-to-text provider not offered by Meeting BaaS, using gladia",
                        extra={"speech_to_text": config.speech_to_text})
        fields["transcription_enabled"] = True
        fields["transcription_config"] = {"provider": TRANSCRIPTION_PROVIDER}
    return fields


class MeetingBaasRecorder:
    name = "meetingbaas"

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None, *,
                 timeout: float | httpx.Timeout | None = None):
        self._base = settings.calbot_meetingbaas_api_url.rstrip("/")
        self._api_key = settings.meetingbaas_api_key
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0))
        self._timeout = timeout

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- the Recorder interface ------------------------------------------------------------

    async def schedule(self, *, meeting_url: str, join_at: datetime, config: BotConfig,
                       idempotency_key: str, callback_url: str, callback_secret: str) -> str:
        """Create a scheduled bot. After a transient error the request may still have been
        processed: call `find_by_key` before trying again."""
        body = {
            "meeting_url": meeting_url,
            "join_at": join_at_text(join_at),
            **config_fields(config),
            "allow_multiple_bots": False,
            # The key wins over a same-named extra, or adoption after a crash would break.
            "extra": {**(config.extra or {}), KEY_FIELD: idempotency_key},
            "callback_enabled": True,
            "callback_config": {"url": callback_url, "method": "POST", "secret": callback_secret},
        }
        answer = await self._call("POST", SCHEDULED, json=body)
        bot_id = (answer.get("data") or {}).get("bot_id") if isinstance(answer, dict) else None
        if not isinstance(bot_id, str) or not bot_id:
            raise RecorderError("Meeting BaaS accepted the bot but sent no bot_id")
        return bot_id

    async def reschedule(self, bot_id: str, *, join_at: datetime, meeting_url: str | None = None,
                         config: BotConfig | None = None) -> None:
        body: dict[str, Any] = {"join_at": join_at_text(join_at)}
        if meeting_url is not None:
            body["meeting_url"] = meeting_url
        if config is not None:
            # `extra` is left as it is: it holds our key, which this call does not know.
            body.update(config_fields(config))
        await self._call("PATCH", f"{SCHEDULED}/{bot_id}", json=body)

    async def cancel(self, bot_id: str) -> None:
        try:
            await self._call("DELETE", f"{SCHEDULED}/{bot_id}")
        except RecorderNotFound:
            return
        except RecorderLocked:
            # 409 also answers a bot that is already cancelled or failed: for us that is done.
            status = await self._status_or_none(bot_id)
            if status in ("cancelled", "failed"):
                return
            raise

    async def find_by_key(self, idempotency_key: str) -> ScheduledBot | None:
        found: list[dict] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            params = {"limit": str(PAGE_SIZE), "extra": f"{KEY_FIELD}:{idempotency_key}",
                      "status": "scheduled,completed,failed"}
            if cursor:
                params["cursor"] = cursor
            answer = await self._call("GET", SCHEDULED, params=params)
            page = answer.get("data") if isinstance(answer, dict) else None
            found += [b for b in (page or []) if isinstance(b, dict)]
            cursor = answer.get("cursor") if isinstance(answer, dict) else None
            if not cursor or cursor in seen:
                break
            seen.add(cursor)
        # The filter is the service's; check the key ourselves too.
        mine = [b for b in found if (b.get("extra") or {}).get(KEY_FIELD) == idempotency_key
                and b.get("status") in STATUS_PREFERENCE]
        if not mine:
            return None
        mine.sort(key=lambda b: (STATUS_PREFERENCE[b["status"]], _negated_time(b.get("created_at"))))
        best = mine[0]
        return ScheduledBot(bot_id=best["bot_id"], meeting_url=best.get("meeting_url", ""),
                            join_at=_parse_time(best["join_at"]), status=best["status"],
                            extra=dict(best.get("extra") or {}))

    # -- HTTP and error mapping -------------------------------------------------------------

    async def _status_or_none(self, bot_id: str) -> str | None:
        try:
            answer = await self._call("GET", f"{SCHEDULED}/{bot_id}")
        except RecorderError:
            return None
        data = answer.get("data") if isinstance(answer, dict) else None
        return data.get("status") if isinstance(data, dict) else None

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        if not self._api_key:
            raise RecorderAuthError("MEETINGBAAS_API_KEY is not set", code="no_api_key")
        url = self._base + path
        kwargs: dict[str, Any] = {"headers": {API_KEY_HEADER: self._api_key, "accept": "application/json"}}
        if json is not None:
            kwargs["json"] = json
        if params:
            kwargs["params"] = params
        if self._timeout is not None:
            kwargs["timeout"] = self._timeout
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise RecorderError(f"Meeting BaaS did not answer {method} {path} in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise RecorderError(f"cannot reach Meeting BaaS for {method} {path}: {exc!r}") from exc
        if response.is_success:
            try:
                return response.json() if response.content else {}
            except ValueError:
                raise RecorderError(f"Meeting BaaS answered {method} {path} with something that is not JSON",
                                    status=response.status_code) from None
        raise self._error(method, path, response)

    @staticmethod
    def _error(method: str, path: str, response: httpx.Response) -> RecorderError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        code = body.get("code") if isinstance(body.get("code"), str) else None
        said = body.get("message") or body.get("error") or response.reason_phrase or ""
        said = said if isinstance(said, str) else str(said)
        where = f"{method} {path}"
        if status == 429:
            retry_after = _retry_after(response.headers.get("retry-after"), body.get("retryAfter"))
            return RecorderRateLimited(f"Meeting BaaS rate limit on {where}", status=status,
                                       retry_after=retry_after, code=code)
        if status in (401, 403):
            return RecorderAuthError(f"MEETINGBAAS_API_KEY was refused by Meeting BaaS (HTTP {status} on {where})",
                                     status=status, code=code)
        if status == 404:
            return RecorderNotFound(f"Meeting BaaS has no such bot ({where})", status=status, code=code)
        if status == 409 and method in ("PATCH", "DELETE"):
            return RecorderLocked(f"Meeting BaaS will not change this bot any more: {said}", status=status, code=code)
        if status in (400, 422):
            return RecorderRejected(f"Meeting BaaS rejected {where}: {said}", status=status, code=code)
        if status >= 500:
            return RecorderError(f"Meeting BaaS failed on {where} (HTTP {status}): {said}", status=status, code=code)
        error = RecorderError(f"Meeting BaaS refused {where} (HTTP {status}): {said}", status=status, code=code)
        error.transient = False
        return error


def _retry_after(header: str | None, body_value: Any) -> float | None:
    """Seconds to wait: the `Retry-After` header (seconds or an HTTP date), else the body's `retryAfter`."""
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                moment = parsedate_to_datetime(header)
                return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())
            except (TypeError, ValueError):
                pass
    if isinstance(body_value, (int, float)) and not isinstance(body_value, bool) and body_value >= 0:
        return float(body_value)
    return None


def _negated_time(text: Any) -> float:
    """Sort key putting the newest first."""
    try:
        return -_parse_time(text).timestamp()
    except (TypeError, ValueError, AttributeError):
        return 0.0
