"""Meeting BaaS callbacks and webhooks → `BotEvent`, and who may send them. Pure: no I/O.

What arrives at `POST /webhooks/meetingbaas` (meetingbaas-openapi-v2.json):

- **Per-bot callbacks** (`callback_config` at creation): `bot.completed` and `bot.failed` only
  (CallbackCompleted / CallbackFailed), with our per-bot secret in the `x-mb-secret` header.
- **Account webhooks** (delivered by SVIX, signed with `MEETINGBAAS_WEBHOOK_SECRET`):
  `bot.status_change` (BotWebhookStatusChange: `data.status.code` = joining_call, in_waiting_room,
  in_call_recording, bot_rejected, bot_removed, ...), `bot.completed`, `bot.failed`, and others
  (chat messages, calendar events) that calbot ignores.
- **v1-style webhooks** (`complete` / `failed` with `mp4`, `error`, `message`), authenticated by
  `x-meeting-baas-api-key` equal to our key.

`event_id` is derived from the content (not the delivery), so the same fact delivered twice — a
redelivery, or the callback and the webhook copy of one completion — has one id.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Callable, Mapping

from svix.webhooks import Webhook, WebhookVerificationError

from bot.recorder.base import BotEvent

CALLBACK_SECRET_HEADER = "x-mb-secret"
API_KEY_HEADER = "x-meeting-baas-api-key"
SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")


class MalformedEvent(ValueError):
    """The body is not a Meeting BaaS event calbot can read."""


# -- why a bot failed, in plain words ---------------------------------------------------------

FAILURE_REASONS: dict[str, str] = {
    # Nobody let the bot in / the meeting never happened
    "BOT_NOT_ACCEPTED": "the host did not let the bot in",
    "TIMEOUT_WAITING_TO_START": "the bot waited, but nobody let it in or started the meeting in time",
    "WAITING_FOR_HOST_TIMEOUT": "the host never started the meeting",
    "WAITING_FOR_AUTHORIZED_USER_TIMEOUT": "nobody from the host's organisation arrived to let the bot in",
    "NO_ATTENDEES": "nobody joined the meeting",
    "NO_SPEAKER": "nobody spoke, so the bot left",
    "MEETING_ENDED": "the meeting had already ended",
    "MEETING_ENDED_PREMATURELY": "the meeting ended before the bot could start recording",
    # The link
    "MEETING_NOT_FOUND": "the meeting could not be found — the link may be wrong or expired",
    "INVALID_MEETING_URL": "the meeting link is not valid",
    "INVALID_MEETING_PLATFORM": "the meeting link is not a Zoom, Google Meet or Teams meeting",
    "CANNOT_JOIN_MEETING": "the bot could not get into the meeting — check that the link works",
    "LOGIN_REQUIRED": "the meeting only admits signed-in users",
    "MEET_LOGIN_REQUIRED": "the meeting only admits signed-in users",
    "TEAMS_LOGIN_REQUIRED": "the meeting only admits signed-in users",
    "UNABLE_JOIN_EXTERNAL_MEETING": "the meeting does not admit guests from outside the host's organisation",
    "SET_ZOOM_ID_AND_PWD_TOGETHER": "the Zoom link is missing its passcode",
    # In the meeting
    "BOT_REMOVED": "someone removed the bot from the meeting",
    "BOT_REMOVED_TOO_EARLY": "someone removed the bot before it could record",
    "RECORDING_RIGHTS_NOT_GRANTED": "the host did not allow the bot to record",
    "CANNOT_REQUEST_RECORDING_RIGHT": "the bot could not ask the host for permission to record",
    "HOST_CLIENT_CANNOT_GRANT_PERMISSION": "the host's Zoom app cannot grant recording permission",
    "RECORDING_START_TIMEOUT": "the recording did not start in time",
    "RECORDING_TIMEOUT": "the recording reached its maximum length",
    "EXITING_MEETING_BEFORE_RECORD": "the bot was stopped before it started recording",
    "API_REQUEST": "the bot was stopped on request",
    "STREAMING_SETUP_FAILED": "the bot could not set up audio streaming",
    "TRANSCRIPTION_FAILED": "the recording worked but the transcript could not be made",
    # Zoom credentials
    "SDK_AUTH_FAILED": "Zoom refused the bot's credentials",
    "CANNOT_GET_JWT_TOKEN": "Zoom refused the bot's credentials",
    "ZOOM_ACCESS_TOKEN_ERROR": "Zoom refused the bot's credentials",
    "ZOOM_OBF_TOKEN_ERROR": "Zoom refused the bot's credentials",
    # The account
    "INSUFFICIENT_TOKENS": "the Meeting BaaS account has run out of tokens",
    "DAILY_BOT_CAP_REACHED": "the Meeting BaaS account reached its daily bot limit",
    "BOT_ALREADY_EXISTS": "another bot was already recording this meeting",
    "BYOK_TRANSCRIPTION_NOT_ENABLED_ON_PLAN": "the Meeting BaaS plan does not allow your own transcription key",
    # The recorder itself
    "BOT_CRASHED": "the recording bot crashed",
    "BOT_CREATE_FAILED": "Meeting BaaS could not start the bot",
    "INTERNAL_ERROR": "Meeting BaaS had an internal error",
    "GENERAL_ERROR": "the recording bot crashed",
    "OOM_KILLED": "the recording bot crashed",
    "SIGTERM": "the recording bot was stopped by Meeting BaaS",
    "FORCE_KILLED": "the recording bot was stopped by Meeting BaaS",
    "UNKNOWN_ERROR": "the recording failed for an unknown reason",
    # v1 webhook error names
    "ACCESS_DENIED": "the bot was denied access to the meeting",
    "AUTHENTICATION_ERROR": "the bot could not sign in to the meeting platform",
    "NETWORK_ERROR": "the bot lost its connection to the meeting",
}

# Live status codes of `bot.status_change` → (kind, plain words or None).
STATUS_KINDS: dict[str, tuple[str, str | None]] = {
    "joining_call": ("joining", "the bot is joining the meeting"),
    "in_waiting_room": ("joining", "the bot is waiting to be let in"),
    "in_waiting_for_host": ("joining", "the bot is waiting for the host to start the meeting"),
    "in_call_not_recording": ("in_call", "the bot is in the meeting"),
    "in_call_recording": ("in_call", "the bot is recording"),
    "recording_resumed": ("in_call", "the bot is recording again"),
    "recording_paused": ("status", "recording is paused"),
    "bot_rejected": ("refused", "the host refused to let the bot in"),
    "waiting_room_timeout": ("refused", "nobody let the bot in from the waiting room in time"),
    "bot_removed": ("removed", "someone removed the bot from the meeting"),
    "bot_removed_too_early": ("removed", "someone removed the bot before it could record"),
    "queued": ("status", None),
    "pickup_delayed": ("status", "the bot is starting late"),
    "call_ended": ("status", "the meeting ended"),
    "recording_succeeded": ("status", None),
    "transcribing": ("status", "the transcript is being made"),
    "api_request_stop": ("status", "the bot was stopped on request"),
    "recording_failed": ("status", "the recording failed"),
    "invalid_meeting_url": ("status", "the meeting link is not valid"),
    "meeting_error": ("status", "the meeting platform reported an error"),
    "completed": ("status", None),
    "failed": ("status", None),
}


def failure_reason(code: str | None, message: str | None = None) -> str:
    """Plain words for a failure code; the service's own message when the code is new to us."""
    if code and code.upper() in FAILURE_REASONS:
        return FAILURE_REASONS[code.upper()]
    if message:
        return f"the recording failed: {message.strip().rstrip('.')}"
    if code:
        return f"the recording failed ({code})"
    return "the recording failed for an unknown reason"


# -- parsing ------------------------------------------------------------------------------------

def parse_event(body: bytes | str | Mapping[str, Any]) -> BotEvent | None:
    """A callback or webhook body as a `BotEvent`; None for events calbot does not use."""
    payload = _load(body)
    event = payload.get("event")
    data = payload.get("data")
    if not isinstance(event, str) or not isinstance(data, dict):
        raise MalformedEvent("expected an object with 'event' and 'data'")
    extra = payload.get("extra")
    if extra is None:
        extra = data.get("extra")          # v1 puts extra inside data
    extra = dict(extra) if isinstance(extra, dict) else {}
    bot_id = data.get("bot_id")
    if event.startswith("calendar.") or event in ("bot.chat_message", "transcription_complete"):
        return None
    if not isinstance(bot_id, str) or not bot_id:
        raise MalformedEvent(f"{event} without data.bot_id")

    if event == "bot.status_change":
        status = data.get("status")
        if not isinstance(status, dict) or not isinstance(status.get("code"), str):
            raise MalformedEvent("bot.status_change without data.status.code")
        code = status["code"]
        kind, words = STATUS_KINDS.get(code, ("status", None))
        if code == "recording_failed" and status.get("error_message"):
            words = f"the recording failed: {status['error_message']}"
        return BotEvent(bot_id=bot_id, kind=kind, status_code=code, reason=words, extra=extra,
                        event_id=f"bot.status_change:{bot_id}:{code}:{status.get('created_at', '')}")

    if event in ("bot.completed", "complete"):
        return BotEvent(
            bot_id=bot_id, kind="completed", status_code="completed",
            video_url=_url(data.get("video")) or _url(data.get("mp4")),
            transcript_url=_url(data.get("transcription")) or _url(data.get("raw_transcription")),
            audio_url=_url(data.get("audio")),
            extra=extra, event_id=f"bot.completed:{bot_id}",
        )

    if event in ("bot.failed", "failed"):
        code = data.get("error_code") or data.get("error")
        message = data.get("error_message") or data.get("message")
        code = code if isinstance(code, str) else None
        return BotEvent(bot_id=bot_id, kind="failed", status_code=code,
                        reason=failure_reason(code, message if isinstance(message, str) else None),
                        extra=extra, event_id=f"bot.failed:{bot_id}")

    return None


def _load(body: bytes | str | Mapping[str, Any]) -> dict:
    if isinstance(body, Mapping):
        return dict(body)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedEvent("body is not a JSON object")
    return payload


def _url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


# -- authentication ----------------------------------------------------------------------------

def authenticate(headers: Mapping[str, str], body: bytes | str, *, settings: Any,
                 secret_lookup: Callable[[str], str | None]) -> bool | str:
    """Who sent this? The name of the proof that held, or False.

    - ``"callback_secret"``: `x-mb-secret` equals the secret we gave this bot at creation
      (`secret_lookup(bot_id)`; the bot id comes from the body);
    - ``"svix"``: `MEETINGBAAS_WEBHOOK_SECRET` is set and the SVIX signature verifies (svix
      also rejects timestamps more than 5 minutes away, i.e. replays);
    - ``"api_key"``: `x-meeting-baas-api-key` equals `MEETINGBAAS_API_KEY` (v1 style).

    Anything else is False (the route answers 401).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw = body.encode() if isinstance(body, str) else bytes(body)

    provided_secret = lowered.get(CALLBACK_SECRET_HEADER)
    if provided_secret:
        bot_id = _bot_id_of(raw)
        expected = secret_lookup(bot_id) if bot_id else None
        if expected and hmac.compare_digest(provided_secret.encode(), expected.encode()):
            return "callback_secret"

    webhook_secret = getattr(settings, "meetingbaas_webhook_secret", None)
    if webhook_secret and all(lowered.get(h) for h in SVIX_HEADERS):
        try:
            Webhook(webhook_secret).verify(raw, {h: lowered[h] for h in SVIX_HEADERS})
            return "svix"
        except WebhookVerificationError:
            pass
        except Exception:                    # a mangled signature header or secret: fail closed
            pass

    api_key = getattr(settings, "meetingbaas_api_key", None)
    provided_key = lowered.get(API_KEY_HEADER)
    if api_key and provided_key and hmac.compare_digest(provided_key.encode(), api_key.encode()):
        return "api_key"

    return False


def _bot_id_of(raw: bytes) -> str | None:
    try:
        data = json.loads(raw).get("data")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    bot_id = data.get("bot_id") if isinstance(data, dict) else None
    return bot_id if isinstance(bot_id, str) and bot_id else None
