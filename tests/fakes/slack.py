"""A loopback Slack: the Web API (`/api/<method>`), the OAuth authorize page and `response_url`s.

calbot's slack-sdk client is pointed at `{fake.url}/api/` (CALBOT_SLACK_API_URL). The fake speaks
Slack's wire format: arguments as query string, form body or JSON body, the token in
`Authorization: Bearer` (or a `token` argument), answers `{"ok": true, ...}` or
`{"ok": false, "error": "..."}` with HTTP 200, and 429 + `Retry-After` when a rate limit is
injected (`rate_limit_next`). What Slack validates cheaply, the fake validates too: tokens
(`not_authed`, `invalid_auth`, `token_revoked`, `token_expired`), scopes of OAuth-installed tokens
(`missing_scope`), channels (`channel_not_found`, `not_in_channel`, `is_archived`), message content
(`no_text`, `msg_too_long`, `invalid_blocks` via slack-sdk's Block Kit models, 50 blocks per message,
100 per view), triggers (`invalid_trigger_id`, `expired_trigger_id`, `exchanged_trigger_id`) and
view hashes (`hash_conflict`).

Like Slack, it assigns a `block_id` to blocks that have none and an `action_id` to interactive
elements that have none, so the app can rely only on ids it set itself.

The other half of Slack — sending slash commands, clicks, submissions and events to the app — is
`tests.fakes.slack_driver.SlackDriver`, which works on this fake's state (triggers, response URLs,
the messages and views the app actually produced).

Socket Mode: `apps.connections.open` (app-level `xapp-` token) returns the URL of a websocket
server the fake runs beside its HTTP one (aiohttp); the driver with `transport="socket"` sends
envelopes over it and waits for the app's ack, as Slack does.

Tokens: the default workspace (T0001) accepts its `bot_token` and, unless `adopt_unknown_bot_tokens`
is off, any other well-formed `xoxb-` token on first use (so a test may pick its own token, as the
e2e harness does). Such tokens carry every scope; tokens issued by `oauth.v2.access` carry exactly
the scopes that were granted.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import asyncio
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web
from slack_sdk.models.blocks import Block, BlockElement
from slack_sdk.models.views import View
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.base import FakeService

TRIGGER_TTL_SECONDS = 30.0          # real Slack: 3 s; generous here so slow CI does not flake
RESPONSE_URL_TTL_SECONDS = 30 * 60  # Slack: a response_url works for 30 minutes...
RESPONSE_URL_MAX_USES = 5           # ...and up to 5 times
OAUTH_CODE_TTL_SECONDS = 600
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_VIEW_STACK = 3
MAX_TEXT_LENGTH = 40_000
SCHEDULE_LIMIT_SECONDS = 120 * 24 * 3600

DEFAULT_TEAM_ID = "T0001"
DEFAULT_BOT_TOKEN = "xoxb-fake-bot-token"
DEFAULT_CLIENT_ID = "1111111111.2222222222"
DEFAULT_CLIENT_SECRET = "fake-client-secret"
DEFAULT_APP_ID = "A0001"

INTERACTIVE_TYPES = {
    "button", "static_select", "external_select", "users_select", "conversations_select",
    "channels_select", "multi_static_select", "multi_external_select", "multi_users_select",
    "multi_conversations_select", "multi_channels_select", "overflow", "datepicker", "timepicker",
    "datetimepicker", "checkboxes", "radio_buttons", "plain_text_input", "email_text_input",
    "url_text_input", "number_input", "file_input", "rich_text_input", "workflow_button",
}

_TZ_LABELS = {
    "CET": "Central European Time", "CEST": "Central European Summer Time",
    "EET": "Eastern European Time", "EEST": "Eastern European Summer Time",
    "WET": "Western European Time", "WEST": "Western European Summer Time",
    "GMT": "Greenwich Mean Time", "BST": "British Summer Time", "UTC": "Coordinated Universal Time",
    "PST": "Pacific Standard Time", "PDT": "Pacific Daylight Time",
    "MST": "Mountain Standard Time", "MDT": "Mountain Daylight Time",
    "CST": "Central Standard Time", "CDT": "Central Daylight Time",
    "EST": "Eastern Standard Time", "EDT": "Eastern Daylight Time",
    "JST": "Japan Standard Time", "IST": "India Standard Time", "KST": "Korea Standard Time",
    "AEST": "Australian Eastern Standard Time", "AEDT": "Australian Eastern Daylight Time",
}


class SlackError(Exception):
    """A Web API method failed: answered as `{"ok": false, "error": error, **extra}`."""

    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Workspace:
    team_id: str
    name: str
    domain: str
    bot_user_id: str
    bot_id: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    installed: bool = True

    @property
    def url(self) -> str:
        return f"https://{self.domain}.slack.com/"


@dataclass
class SlackApp:
    client_id: str
    client_secret: str
    app_id: str
    token_rotation: bool = False
    expires_in: int = 43_200
    redirect_urls: list[str] = field(default_factory=list)   # the app config's "Redirect URLs"


@dataclass
class Token:
    value: str
    team_id: str
    kind: str                         # "bot", "user", or "app" (app-level xapp- token, Socket Mode)
    user_id: str                      # the bot user, or the user who granted a user token
    app_id: str = DEFAULT_APP_ID
    scopes: frozenset[str] | None = None   # None: every scope (tokens a test made up)
    revoked: bool = False
    expires_at: float | None = None


@dataclass
class Channel:
    id: str
    team_id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    user: str | None = None           # the other party of a DM
    members: set[str] = field(default_factory=set)
    bot_member: bool = False
    is_archived: bool = False
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class _Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    token: Token | None = None

    @property
    def team_id(self) -> str:
        assert self.token is not None
        return self.token.team_id

    def flag(self, name: str) -> bool:
        value = self.args.get(name)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes") if value is not None else False


# --------------------------------------------------------------------------------------------
# Block Kit helpers (also used by the driver and by tests)
# --------------------------------------------------------------------------------------------

def _element_slots(block: dict) -> list[dict]:
    """The interactive/element dicts a block holds directly."""
    found: list[dict] = []
    kind = block.get("type")
    if kind == "section" and isinstance(block.get("accessory"), dict):
        found.append(block["accessory"])
    elif kind in ("actions", "context_actions") and isinstance(block.get("elements"), list):
        found.extend(e for e in block["elements"] if isinstance(e, dict))
    elif kind == "input" and isinstance(block.get("element"), dict):
        found.append(block["element"])
    return found


def iter_elements(source: dict | list) -> Iterable[tuple[dict, dict]]:
    """(block, element) for every interactive element in a message, view or list of blocks."""
    for block in _blocks_of(source):
        for element in _element_slots(block):
            yield block, element


def _blocks_of(source: dict | list | None) -> list[dict]:
    if source is None:
        return []
    if isinstance(source, list):
        return source
    return list(source.get("blocks") or [])


def buttons(source: dict | list) -> list[dict]:
    """Every button in a message/view, each with the `block_id` of its block added."""
    found = []
    for block, element in iter_elements(source):
        if element.get("type") == "button":
            found.append({**element, "block_id": block.get("block_id")})
    return found


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return "" if obj is None else str(obj)


def find_button(source: dict | list, text: str | None = None, action_id: str | None = None,
                value: str | None = None, block_id: str | None = None) -> dict:
    """The one button matching all given criteria (text: exact, else case-insensitive substring).

    Raises AssertionError when none or several match, listing what the message does offer.
    """
    candidates = buttons(source)

    def keep(button: dict, loose: bool) -> bool:
        if action_id is not None and button.get("action_id") != action_id:
            return False
        if value is not None and button.get("value") != value:
            return False
        if block_id is not None and button.get("block_id") != block_id:
            return False
        if text is not None:
            label = _text(button.get("text"))
            if loose:
                return text.lower() in label.lower()
            return label == text
        return True

    matches = [b for b in candidates if keep(b, loose=False)]
    if not matches and text is not None:
        matches = [b for b in candidates if keep(b, loose=True)]
    wanted = {k: v for k, v in dict(text=text, action_id=action_id, value=value, block_id=block_id).items()
              if v is not None}
    offered = [dict(text=_text(b.get("text")), action_id=b.get("action_id"), value=b.get("value"),
                    block_id=b.get("block_id")) for b in candidates]
    if not matches:
        raise AssertionError(f"no button {wanted} in this message/view; buttons offered: {offered}")
    if len(matches) > 1:
        raise AssertionError(f"{len(matches)} buttons match {wanted}; be more specific. Offered: {offered}")
    return matches[0]


def find_element(source: dict | list, action_id: str | None = None, type: str | None = None,
                 block_id: str | None = None) -> tuple[dict, dict]:
    """(block, element) of the one interactive element matching the criteria."""
    matches = [(b, e) for b, e in iter_elements(source)
               if (action_id is None or e.get("action_id") == action_id)
               and (type is None or e.get("type") == type)
               and (block_id is None or b.get("block_id") == block_id)]
    if len(matches) != 1:
        offered = [(b.get("block_id"), e.get("type"), e.get("action_id")) for b, e in iter_elements(source)]
        raise AssertionError(f"{len(matches)} elements match action_id={action_id!r} type={type!r} "
                             f"block_id={block_id!r}; elements offered (block_id, type, action_id): {offered}")
    return matches[0]


def find_block(source: dict | list, block_id: str | None = None, type: str | None = None) -> dict | None:
    for block in _blocks_of(source):
        if (block_id is None or block.get("block_id") == block_id) and (type is None or block.get("type") == type):
            return block
    return None


def text_of(source: dict | list | None) -> str:
    """All human-readable text of a message or view (fallback text, blocks, button labels), joined by newlines."""
    if source is None:
        return ""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn", "text") and isinstance(node.get("text"), str):
                parts.append(node["text"])
                return
            if node.get("type") == "link" and isinstance(node.get("url"), str):
                parts.append(node.get("text") or node["url"])
                return
            for key, value in node.items():
                if key not in ("type", "block_id", "action_id", "value", "url", "style", "image_url"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    if isinstance(source, dict):
        if isinstance(source.get("text"), str):
            parts.append(source["text"])
        if isinstance(source.get("title"), dict):
            walk(source["title"])
    walk(_blocks_of(source))
    return "\n".join(p for p in parts if p)


def block_problems(blocks: Any) -> list[str]:
    """What Slack would object to in a list of blocks, as `[ERROR] ...` lines (empty when valid).

    Every block is parsed with slack-sdk's Block Kit models and serialised with `to_dict()`, which
    runs the validators of the block and of every element it holds; plus the checks those models
    skip (unknown element types, empty `actions`, header text type, duplicate ids).
    """
    if not isinstance(blocks, list):
        return ["[ERROR] must provide an array [json-pointer:/blocks]"]
    problems: list[str] = []
    block_ids: set[str] = set()
    for index, raw in enumerate(blocks):
        where = f"[json-pointer:/blocks/{index}]"
        if not isinstance(raw, dict) or not raw.get("type"):
            problems.append(f"[ERROR] missing required field: type {where}")
            continue
        try:
            parsed = Block.parse(copy.deepcopy(raw))
            if parsed is None:
                problems.append(f"[ERROR] unsupported type: {raw['type']} {where}")
                continue
            parsed.to_dict()
        except Exception as exc:  # SlackObjectFormationError, TypeError for missing arguments...
            problems.append(f"[ERROR] {exc} {where}")
            continue
        kind = raw["type"]
        if kind == "actions" and not raw.get("elements"):
            problems.append(f"[ERROR] must provide at least 1 element {where}")
        if kind == "header" and (raw.get("text") or {}).get("type") != "plain_text":
            problems.append(f"[ERROR] header text must be plain_text {where}")
        block_id = raw.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                problems.append(f"[ERROR] duplicate block_id: {block_id} {where}")
            block_ids.add(block_id)
        action_ids: set[str] = set()
        for element in _element_slots(raw):
            if BlockElement.parse(copy.deepcopy(element)) is None:
                problems.append(f"[ERROR] unsupported element type: {element.get('type')} {where}")
                continue
            if element.get("type") == "button" and (element.get("text") or {}).get("type") != "plain_text":
                problems.append(f"[ERROR] button text must be plain_text {where}")
            action_id = element.get("action_id")
            if action_id is not None:
                if action_id in action_ids:
                    problems.append(f"[ERROR] duplicate action_id: {action_id} {where}")
                action_ids.add(action_id)
    return problems


def view_problems(view: Any) -> list[str]:
    """What Slack would object to in a view (`invalid_arguments`), as `[ERROR] ...` lines."""
    if not isinstance(view, dict):
        return ["[ERROR] view must be an object [json-pointer:/view]"]
    problems: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.append("[ERROR] type must be modal or home [json-pointer:/view/type]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        problems.append("[ERROR] missing required field: blocks [json-pointer:/view/blocks]")
        return problems
    if len(blocks) > MAX_VIEW_BLOCKS:
        problems.append(f"[ERROR] no more than {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]")
        return problems
    if kind == "modal":
        if not view.get("title"):
            problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
        if any(b.get("type") == "input" for b in blocks if isinstance(b, dict)) and not view.get("submit"):
            problems.append("[ERROR] submit is required when an input block is present [json-pointer:/view/submit]")
    try:
        parsed = View(**{k: v for k, v in view.items() if k in (
            "type", "id", "callback_id", "external_id", "team_id", "bot_id", "app_id", "root_view_id",
            "previous_view_id", "title", "submit", "close", "blocks", "private_metadata", "state",
            "hash", "clear_on_close", "notify_on_close", "submit_disabled")})
        parsed.validate_json()
    except Exception as exc:
        problems.append(f"[ERROR] {exc} [json-pointer:/view]")
    problems.extend(p.replace("json-pointer:/blocks", "json-pointer:/view/blocks") for p in block_problems(blocks))
    return problems


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------

class FakeSlack(FakeService):
    name = "slack"

    def __init__(self, team_id: str = DEFAULT_TEAM_ID, team_name: str = "Acme", *,
                 bot_token: str = DEFAULT_BOT_TOKEN, adopt_unknown_bot_tokens: bool = True,
                 client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 app_id: str = DEFAULT_APP_ID, token_rotation: bool = False):
        self.lock = threading.RLock()   # FakeService sets its own; state set-up below needs one now
        self.default_team_id = team_id
        self.bot_token = bot_token
        self.adopt_unknown_bot_tokens = adopt_unknown_bot_tokens
        self.clock: Callable[[], float] = time.time
        # Slack "Retry-After" pacing that the fake enforces by itself: when set, a second post to
        # the same channel within this many seconds answers 429 (off by default; see post_times).
        self.enforce_channel_pace: float | None = None

        self.workspaces: dict[str, Workspace] = {}
        self.apps: dict[str, SlackApp] = {}
        self.tokens: dict[str, Token] = {}
        self._refresh_tokens: dict[str, Token] = {}
        self.users: dict[str, dict] = {}
        self.channels: dict[str, Channel] = {}
        self._messages: dict[str, list[dict]] = {}
        self._versions: dict[tuple[str, str], list[dict]] = {}
        self._deleted: dict[str, list[dict]] = {}
        self._post_times: dict[str, list[float]] = {}
        self._ephemerals: dict[str, list[dict]] = {}
        self._scheduled: dict[str, dict] = {}
        self._views: dict[str, dict] = {}
        self._view_owner: dict[str, str] = {}
        self._homes: dict[str, str] = {}
        self._stacks: dict[str, list[str]] = {}
        self._view_errors: dict[str, dict] = {}
        self._triggers: dict[str, dict] = {}
        self._response_urls: dict[str, dict] = {}
        self._codes: dict[str, dict] = {}
        self.installer: tuple[str, str | None] = (team_id, None)
        self._socket_server: _SocketModeServer | None = None
        self._socket_tickets: dict[str, str] = {}   # ticket -> app_id
        self.deny_next_authorization = False
        self._seq = itertools.count(1)
        self._last_ts = 0.0

        self.add_app(client_id, client_secret, app_id=app_id, token_rotation=token_rotation)
        self.add_workspace(team_id, team_name)
        self._add_token(Token(bot_token, team_id, "bot", self.workspaces[team_id].bot_user_id, app_id))
        self._methods: dict[str, Callable[[_Call], dict]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "auth.revoke": self._auth_revoke,
            "apps.uninstall": self._apps_uninstall,
            "apps.connections.open": self._apps_connections_open,
            "oauth.v2.access": self._oauth_v2_access,
            "team.info": self._team_info,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.history": self._conversations_history,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.scheduleMessage": self._chat_schedule_message,
            "chat.deleteScheduledMessage": self._chat_delete_scheduled_message,
            "chat.scheduledMessages.list": self._chat_scheduled_messages_list,
            "chat.getPermalink": self._chat_get_permalink,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
        }
        super().__init__()

    # ----------------------------------------------------------------------------------------
    # routes
    # ----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("/api/{method:path}", self._api, methods=["GET", "POST"]),
            Route("/oauth/v2/authorize", self._authorize_page, methods=["GET"]),
            Route("/response/{response_id}", self._response_url_post, methods=["POST"]),
        ]

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            args = await _read_args(request)
        except ValueError:
            return JSONResponse({"ok": False, "error": "invalid_json"})
        handler = self._methods.get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method", "req_method": method})
        call = _Call(method, args, {k.lower(): v for k, v in request.headers.items()})
        headers: dict[str, str] = {}
        try:
            with self.lock:
                if method not in ("api.test", "oauth.v2.access"):
                    call.token = self._authenticate(call)
                    if call.token.scopes is not None:
                        headers["x-oauth-scopes"] = ",".join(sorted(call.token.scopes))
                result = handler(call)
        except _RateLimited as limited:
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                headers={"Retry-After": str(limited.retry_after)})
        except SlackError as exc:
            return JSONResponse({"ok": False, "error": exc.error, **exc.extra}, headers=headers)
        return JSONResponse({"ok": True, **result}, headers=headers)

    # ----------------------------------------------------------------------------------------
    # state set-up
    # ----------------------------------------------------------------------------------------

    def add_workspace(self, team_id: str, name: str | None = None, *, domain: str | None = None,
                      enterprise_id: str | None = None, enterprise_name: str | None = None) -> Workspace:
        with self.lock:
            suffix = re.sub(r"[^A-Z0-9]", "", team_id.upper())[-6:] or "0"
            workspace = Workspace(
                team_id=team_id, name=name or team_id, domain=domain or re.sub(r"[^a-z0-9-]", "-", (name or team_id).lower()),
                bot_user_id=f"UBOT{suffix}", bot_id=f"BBOT{suffix}",
                enterprise_id=enterprise_id, enterprise_name=enterprise_name,
            )
            self.workspaces[team_id] = workspace
            self.users[workspace.bot_user_id] = self._user_record(
                workspace.bot_user_id, team_id, name="calbot", real_name="calbot", email=None,
                tz="America/Los_Angeles", is_admin=False, is_owner=False, is_bot=True)
            return workspace

    def add_app(self, client_id: str, client_secret: str, *, app_id: str | None = None,
                token_rotation: bool = False, expires_in: int = 43_200,
                redirect_urls: Iterable[str] = ()) -> SlackApp:
        """Register an app for the OAuth install flow (client id/secret, optional token rotation).

        `redirect_urls` are the app's configured Redirect URLs: the authorize page uses the first
        when the request names none, and refuses a `redirect_uri` outside them (when any are set).
        """
        with self.lock:
            app = SlackApp(client_id, client_secret, app_id or f"A{len(self.apps) + 1:04d}", token_rotation,
                           expires_in, list(redirect_urls))
            self.apps[client_id] = app
            return app

    def add_user(self, user_id: str, team_id: str | None = None, tz: str = "Europe/Paris", is_admin: bool = False,
                 email: str | None = None, name: str | None = None, *, real_name: str | None = None,
                 is_owner: bool = False, is_bot: bool = False, deleted: bool = False,
                 locale: str = "en-US") -> dict:
        """Add a member. `name` is the person's name ("Ana"); their handle is its lowercase form."""
        team_id = team_id or self.default_team_id
        with self.lock:
            if team_id not in self.workspaces:
                self.add_workspace(team_id)
            handle = re.sub(r"[^a-z0-9._-]", ".", (name or user_id).lower())
            domain = self.workspaces[team_id].domain
            user = self._user_record(user_id, team_id, name=handle, real_name=real_name or name or user_id,
                                     email=email if email is not None else f"{handle}@{domain}.example.com",
                                     tz=tz, is_admin=is_admin or is_owner, is_owner=is_owner, is_bot=is_bot,
                                     deleted=deleted, locale=locale)
            self.users[user_id] = user
            return copy.deepcopy(user)

    def ensure_user(self, user_id: str, team_id: str | None = None) -> dict:
        """The user, added with defaults when unknown (someone acting in Slack exists in Slack)."""
        with self.lock:
            if user_id in self.users:
                return copy.deepcopy(self.users[user_id])
        return self.add_user(user_id, team_id=team_id)

    def update_user(self, user_id: str, **fields: Any) -> dict:
        """Change a member (tz, is_admin, deleted, email, real_name...)."""
        with self.lock:
            user = self.users[user_id]
            for key, value in fields.items():
                if key == "email":
                    user["profile"]["email"] = value
                elif key == "real_name":
                    user["real_name"] = user["profile"]["real_name"] = value
                else:
                    user[key] = value
            return copy.deepcopy(user)

    def add_channel(self, channel_id: str, name: str, team_id: str | None = None, *, is_private: bool = False,
                    members: Iterable[str] = (), bot_member: bool = False, is_archived: bool = False) -> Channel:
        with self.lock:
            channel = Channel(channel_id, team_id or self.default_team_id, name.lstrip("#"), is_private=is_private,
                              members=set(members), bot_member=bot_member, is_archived=is_archived)
            self.channels[channel_id] = channel
            return channel

    def ensure_channel(self, channel_id: str, team_id: str | None = None, member: str | None = None) -> Channel:
        with self.lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                channel = self.add_channel(channel_id, channel_id.lower(), team_id)
            if member and not channel.is_im:
                channel.members.add(member)
            return channel

    def dm_channel(self, user_id: str, team_id: str | None = None) -> str:
        """The id of the app's DM with this user (stable; opened if needed)."""
        with self.lock:
            user = self.users.get(user_id)
            team_id = team_id or (user["team_id"] if user else self.default_team_id)
            channel_id = "D" + hashlib.sha1(f"{team_id}:{user_id}".encode()).hexdigest()[:10].upper()
            if channel_id not in self.channels:
                self.channels[channel_id] = Channel(channel_id, team_id, "directmessage", is_im=True, user=user_id,
                                                    members={user_id}, bot_member=True)
            return channel_id

    def workspace(self, team_id: str | None = None) -> Workspace:
        return self.workspaces[team_id or self.default_team_id]

    def add_app_token(self, token: str, app_id: str = DEFAULT_APP_ID) -> Token:
        """Register an app-level token (xapp-...) for Socket Mode."""
        with self.lock:
            return self._add_token(Token(token, self.default_team_id, "app", "", app_id,
                                         scopes=frozenset({"connections:write"})))

    def bot_token_for(self, team_id: str | None = None) -> str | None:
        """A live bot token of this workspace (e.g. the one an OAuth install produced)."""
        team_id = team_id or self.default_team_id
        with self.lock:
            live = [t.value for t in self.tokens.values()
                    if t.team_id == team_id and t.kind == "bot" and not t.revoked]
            return live[-1] if live else None

    # ----------------------------------------------------------------------------------------
    # Socket Mode
    # ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        if self._socket_server is not None:
            self._socket_server.stop()
        super().stop()

    def socket_connections(self) -> int:
        """How many Socket Mode connections the app holds open now."""
        return len(self._socket_server.connections) if self._socket_server else 0

    def socket_connects(self) -> int:
        """How many Socket Mode connections the app has opened so far (reconnects included)."""
        return self._socket_server.accepted if self._socket_server else 0

    def wait_for_socket(self, connects: int = 1, timeout: float = 10.0) -> None:
        """Wait until the app has opened `connects` connections in all and holds one open."""
        self.wait_for(lambda: self.socket_connects() >= connects and self.socket_connections() > 0, timeout=timeout)

    def socket_send(self, envelope_type: str, payload: dict, *, accepts_response_payload: bool = False,
                    retry_attempt: int = 0, retry_reason: str = "", timeout: float = 10.0) -> dict:
        """Deliver one envelope over the app's newest Socket Mode connection and wait for its ack.

        Returns the ack (`{"envelope_id": ..., "payload"?: ...}`); AssertionError when none comes.
        """
        if self.socket_connections() == 0:
            raise AssertionError("the app holds no Socket Mode connection")
        envelope_id = secrets.token_hex(16)
        envelope = {"envelope_id": envelope_id, "payload": payload, "type": envelope_type,
                    "accepts_response_payload": accepts_response_payload}
        if envelope_type == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        server = self._socket_server
        server.send(server.connections[-1], envelope)
        deadline = time.time() + timeout
        while envelope_id not in server.acks:
            if time.time() > deadline:
                raise AssertionError(f"the app did not ack {envelope_type} envelope {envelope_id} in {timeout}s")
            time.sleep(0.005)
        return server.acks.pop(envelope_id)

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, as Slack does every few hours (`type: disconnect`)."""
        server = self._socket_server
        if server and server.connections:
            server.send(server.connections[-1], {"type": "disconnect", "reason": reason,
                                                 "debug_info": {"host": "fake-slack"}})

    def _apps_connections_open(self, call: _Call) -> dict:
        if self._socket_server is None:
            self._socket_server = _SocketModeServer(self).start()
        ticket = secrets.token_hex(16)
        self._socket_tickets[ticket] = call.token.app_id
        return {"url": f"ws://127.0.0.1:{self._socket_server.port}/link/?ticket={ticket}"}

    # ----------------------------------------------------------------------------------------
    # faults and token life
    # ----------------------------------------------------------------------------------------

    def rate_limit_next(self, method: str, retry_after: float = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer 429 ratelimited with Retry-After."""
        self.fail_next(rf"^/api/{re.escape(method)}$", 429, body={"ok": False, "error": "ratelimited"},
                       retry_after=retry_after, times=times)

    def fail_method(self, method: str, error: str, times: int = 1, **extra: Any) -> None:
        """The next `times` calls of `method` answer HTTP 200 `{"ok": false, "error": error}`."""
        self.fail_next(rf"^/api/{re.escape(method)}$", 200, body={"ok": False, "error": error, **extra}, times=times)

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self.tokens[token].revoked = True

    def expire_token(self, token: str) -> None:
        with self.lock:
            self.tokens[token].expires_at = self.clock() - 1

    def uninstall(self, team_id: str | None = None, app_id: str | None = None) -> list[Token]:
        """The app is removed from the workspace: its tokens there are revoked. Returns them."""
        team_id = team_id or self.default_team_id
        with self.lock:
            revoked = [t for t in self.tokens.values()
                       if t.team_id == team_id and not t.revoked and (app_id is None or t.app_id == app_id)]
            for token in revoked:
                token.revoked = True
            for refresh in self._refresh_tokens.values():
                if refresh.team_id == team_id and (app_id is None or refresh.app_id == app_id):
                    refresh.revoked = True
            self.workspaces[team_id].installed = False
            return revoked

    # ----------------------------------------------------------------------------------------
    # what the driver needs: triggers, response URLs, recording what Slack shows
    # ----------------------------------------------------------------------------------------

    def issue_trigger_id(self, user_id: str, team_id: str | None = None, issued_at: float | None = None) -> str:
        with self.lock:
            trigger = f"{next(self._seq)}{secrets.randbelow(10**6)}.{int(self.clock())}.{secrets.token_hex(8)}"
            self._triggers[trigger] = {"user_id": user_id, "team_id": team_id or self._team_of(user_id),
                                       "issued_at": self.clock() if issued_at is None else issued_at,
                                       "used": False}
            return trigger

    def new_response_url(self, team_id: str | None = None, user_id: str | None = None,
                         channel_id: str | None = None, message_ts: str | None = None,
                         is_ephemeral: bool = False) -> str:
        """A response_url; when bound to a message, replace_original/delete_original act on it."""
        with self.lock:
            response_id = f"{next(self._seq)}-{secrets.token_hex(6)}"
            self._response_urls[response_id] = {
                "team_id": team_id or (self._team_of(user_id) if user_id else self.default_team_id),
                "user_id": user_id, "channel_id": channel_id, "message_ts": message_ts,
                "is_ephemeral": is_ephemeral, "created": self.clock(), "posts": [],
            }
            return f"{self.url}/response/{response_id}"

    def responses(self, response_url_or_id: str) -> list[dict]:
        """The bodies POSTed to a response_url, in order (each also carries `_status` we answered)."""
        response_id = response_url_or_id.rstrip("/").rsplit("/", 1)[-1]
        with self.lock:
            return copy.deepcopy(self._response_urls[response_id]["posts"])

    def all_responses(self) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(p) for r in self._response_urls.values() for p in r["posts"]]

    def post_as_app(self, channel_id: str, *, text: str | None = None, blocks: list | None = None,
                    team_id: str | None = None, thread_ts: str | None = None) -> dict:
        """Post as the app's bot user without an API call (what an `in_channel` reply becomes)."""
        with self.lock:
            team_id = team_id or self.channels[channel_id].team_id
            return self._store_message(team_id, channel_id, text=text or "", blocks=blocks, thread_ts=thread_ts)

    def add_ephemeral(self, user_id: str, channel_id: str | None, *, text: str | None = None,
                      blocks: list | None = None, source: str = "chat.postEphemeral",
                      thread_ts: str | None = None) -> dict:
        with self.lock:
            ts = self._next_ts()
            ephemeral = {"type": "message", "user": user_id, "channel": channel_id, "text": text or "",
                         "blocks": _with_ids(blocks or [], ts) if blocks else [], "ts": ts, "message_ts": ts,
                         "is_ephemeral": True, "source": source, "deleted": False}
            if thread_ts:
                ephemeral["thread_ts"] = thread_ts
            self._ephemerals.setdefault(user_id, []).append(ephemeral)
            return copy.deepcopy(ephemeral)

    # ----------------------------------------------------------------------------------------
    # inspection
    # ----------------------------------------------------------------------------------------

    # Block Kit look-ups, also reachable from the fixture: slack_fake.find_button(message, text="Record")
    find_button = staticmethod(find_button)
    find_element = staticmethod(find_element)
    find_block = staticmethod(find_block)
    buttons = staticmethod(buttons)
    text_of = staticmethod(text_of)

    def _resolve_channel_id(self, channel_or_user: str) -> str:
        if channel_or_user in self.users and channel_or_user not in self.channels:
            return self.dm_channel(channel_or_user)
        return channel_or_user

    def messages(self, channel: str) -> list[dict]:
        """The channel's messages in order, as they are now (edits applied, deletions gone).

        `channel` may be a user id: then the app's DM with that user. Each message carries its
        `channel` so it can be clicked (`driver.click`) or looked up again.
        """
        with self.lock:
            channel_id = self._resolve_channel_id(channel)
            return [_public_message(m, channel_id) for m in self._messages.get(channel_id, [])]

    def message(self, channel: str, ts: str) -> dict | None:
        with self.lock:
            channel_id = self._resolve_channel_id(channel)
            for stored in self._messages.get(channel_id, []):
                if stored["ts"] == ts:
                    return _public_message(stored, channel_id)
            return None

    def message_versions(self, channel: str, ts: str) -> list[dict]:
        """Every version of a message, first post to latest edit."""
        with self.lock:
            channel_id = self._resolve_channel_id(channel)
            return [_public_message(m, channel_id) for m in self._versions.get((channel_id, ts), [])]

    def deleted_messages(self, channel: str) -> list[dict]:
        with self.lock:
            channel_id = self._resolve_channel_id(channel)
            return [_public_message(m, channel_id) for m in self._deleted.get(channel_id, [])]

    def all_messages(self) -> list[dict]:
        with self.lock:
            everything = [_public_message(m, c) for c, ms in self._messages.items() for m in ms]
        return sorted(everything, key=lambda m: float(m["ts"]))

    def dms(self, user_id: str) -> list[dict]:
        """Messages in the app's DM with this user."""
        return self.messages(self.dm_channel(user_id))

    def last_dm(self, user_id: str) -> dict | None:
        found = self.dms(user_id)
        return found[-1] if found else None

    def ephemerals(self, user_id: str) -> list[dict]:
        """Ephemeral messages shown to this user (chat.postEphemeral, response_url, slash acks)."""
        with self.lock:
            return [copy.deepcopy(e) for e in self._ephemerals.get(user_id, []) if not e["deleted"]]

    def ephemeral(self, user_id: str, message_ts: str) -> dict | None:
        with self.lock:
            for stored in self._ephemerals.get(user_id, []):
                if stored["message_ts"] == message_ts and not stored["deleted"]:
                    return copy.deepcopy(stored)
            return None

    def post_times(self, channel: str) -> list[float]:
        """Wall-clock times (time.time()) of successful chat.postMessage calls into the channel."""
        with self.lock:
            return list(self._post_times.get(self._resolve_channel_id(channel), []))

    def scheduled_messages(self, channel: str | None = None) -> list[dict]:
        with self.lock:
            found = [copy.deepcopy(s) for s in self._scheduled.values()
                     if channel is None or s["channel"] == self._resolve_channel_id(channel)]
        return sorted(found, key=lambda s: s["post_at"])

    def deliver_scheduled(self, until: float | None = None) -> list[dict]:
        """Post the scheduled messages that are due (post_at <= until, default now). Returns them."""
        until = self.clock() if until is None else until
        delivered = []
        with self.lock:
            for scheduled_id, item in sorted(self._scheduled.items(), key=lambda kv: kv[1]["post_at"]):
                if item["post_at"] <= until:
                    del self._scheduled[scheduled_id]
                    delivered.append(self._store_message(item["team_id"], item["channel"], text=item["text"],
                                                         blocks=item["blocks"], thread_ts=item.get("thread_ts")))
        return delivered

    def home_view(self, user_id: str) -> dict | None:
        with self.lock:
            view_id = self._homes.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def open_views(self, user_id: str) -> list[dict]:
        """The user's modal stack, bottom first (the last one is the one on screen)."""
        with self.lock:
            return [copy.deepcopy(self._views[v]) for v in self._stacks.get(user_id, [])]

    def top_view(self, user_id: str) -> dict | None:
        stack = self.open_views(user_id)
        return stack[-1] if stack else None

    def view(self, view_id: str) -> dict | None:
        with self.lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def view_owner(self, view_id: str) -> str | None:
        with self.lock:
            return self._view_owner.get(view_id)

    def view_errors(self, view_id: str) -> dict:
        """The `response_action: errors` the app last returned for this view ({} when none)."""
        with self.lock:
            return dict(self._view_errors.get(view_id, {}))

    # the driver applies what the app answered to a view_submission through these:

    def close_view(self, user_id: str, view_id: str | None = None) -> None:
        with self.lock:
            stack = self._stacks.get(user_id, [])
            if view_id is None and stack:
                stack.pop()
            elif view_id in stack:
                del stack[stack.index(view_id):]

    def clear_views(self, user_id: str) -> None:
        with self.lock:
            self._stacks[user_id] = []

    def set_view_errors(self, view_id: str, errors: dict) -> None:
        with self.lock:
            self._view_errors[view_id] = dict(errors)

    def set_view_state(self, view_id: str, values: dict) -> None:
        with self.lock:
            self._views[view_id]["state"] = {"values": copy.deepcopy(values)}

    def replace_view(self, view_id: str, view: dict) -> dict:
        """Replace a view's content in place (response_action: update). Raises SlackError if invalid."""
        with self.lock:
            return copy.deepcopy(self._replace_view(self._views[view_id], view, self._view_owner[view_id]))

    def push_view(self, user_id: str, view: dict, team_id: str | None = None) -> dict:
        """Push a modal onto the user's stack (response_action: push). Raises SlackError if invalid."""
        with self.lock:
            return copy.deepcopy(self._push_modal(team_id or self._team_of(user_id), user_id, view))

    # ----------------------------------------------------------------------------------------
    # internals
    # ----------------------------------------------------------------------------------------

    def _user_record(self, user_id: str, team_id: str, *, name: str, real_name: str, email: str | None,
                     tz: str, is_admin: bool, is_owner: bool, is_bot: bool, deleted: bool = False,
                     locale: str = "en-US") -> dict:
        profile = {
            "real_name": real_name, "real_name_normalized": real_name, "display_name": real_name,
            "display_name_normalized": real_name, "first_name": real_name.split(" ")[0],
            "last_name": " ".join(real_name.split(" ")[1:]), "title": "", "phone": "", "skype": "",
            "status_text": "", "status_emoji": "", "avatar_hash": "g" + hashlib.md5(user_id.encode()).hexdigest()[:11],
            "image_24": f"https://secure.gravatar.com/avatar/{user_id}.jpg?s=24",
            "image_48": f"https://secure.gravatar.com/avatar/{user_id}.jpg?s=48",
            "image_72": f"https://secure.gravatar.com/avatar/{user_id}.jpg?s=72",
            "team": team_id,
        }
        if email:
            profile["email"] = email
        return {
            "id": user_id, "team_id": team_id, "name": name, "deleted": deleted, "color": "9f69e7",
            "real_name": real_name, "tz": tz, "profile": profile, "is_admin": is_admin, "is_owner": is_owner,
            "is_primary_owner": is_owner, "is_restricted": False, "is_ultra_restricted": False,
            "is_bot": is_bot, "is_app_user": False, "updated": int(self.clock()), "is_email_confirmed": True,
            "who_can_share_contact_card": "EVERYONE", "locale": locale,
        }

    def _add_token(self, token: Token) -> Token:
        self.tokens[token.value] = token
        return token

    def _team_of(self, user_id: str | None) -> str:
        user = self.users.get(user_id or "")
        return user["team_id"] if user else self.default_team_id

    def _next_ts(self) -> str:
        with self.lock:
            now = max(self.clock(), self._last_ts + 0.000001)
            self._last_ts = now
            return f"{now:.6f}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._seq):08d}{secrets.token_hex(1).upper()}"

    def _authenticate(self, call: _Call) -> Token:
        value = None
        authorization = call.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            value = authorization[7:].strip()
        value = value or call.args.get("token")
        if not value:
            raise SlackError("not_authed")
        token = self.tokens.get(value)
        if token is None:
            workspace = self.workspaces[self.default_team_id]
            if self.adopt_unknown_bot_tokens and re.fullmatch(r"xoxb-[A-Za-z0-9-]+", value):
                token = self._add_token(Token(value, workspace.team_id, "bot", workspace.bot_user_id))
            elif self.adopt_unknown_bot_tokens and re.fullmatch(r"xapp-[A-Za-z0-9-]+", value):
                token = self._add_token(Token(value, workspace.team_id, "app", "", scopes=frozenset({"connections:write"})))
            else:
                raise SlackError("invalid_auth")
        if token.revoked:
            raise SlackError("token_revoked")
        if token.expires_at is not None and token.expires_at <= self.clock():
            raise SlackError("token_expired")
        if (token.kind == "app") != (call.method == "apps.connections.open"):
            raise SlackError("not_allowed_token_type")
        return token

    @staticmethod
    def _require_scope(call: _Call, *any_of: str) -> None:
        scopes = call.token.scopes if call.token else None
        if scopes is None or any(s in scopes for s in any_of):
            return
        raise SlackError("missing_scope", needed=",".join(any_of), provided=",".join(sorted(scopes)))

    def _bot_user(self, call: _Call) -> str:
        return self.workspaces[call.team_id].bot_user_id

    def _user_in_team(self, call: _Call, user_id: str | None) -> dict:
        user = self.users.get(user_id or "")
        if user is None or user["team_id"] != call.team_id:
            raise SlackError("user_not_found")
        return user

    def _channel_for_call(self, call: _Call, channel_arg: Any, *, allow_user: bool = False,
                          need_history: bool = False) -> Channel:
        """Resolve a `channel` argument as Slack does for this token, or raise channel_not_found."""
        if not channel_arg:
            raise SlackError("channel_not_found")
        channel_arg = str(channel_arg)
        channel = self.channels.get(channel_arg)
        if channel is None and allow_user and channel_arg[:1] in ("U", "W"):
            user = self.users.get(channel_arg)
            if user is not None and user["team_id"] == call.team_id and not user["is_bot"]:
                channel = self.channels[self.dm_channel(channel_arg, call.team_id)]
        if channel is None and allow_user and channel_arg.startswith("#"):
            channel = next((c for c in self.channels.values()
                            if c.team_id == call.team_id and c.name == channel_arg[1:]), None)
        if channel is None or channel.team_id != call.team_id:
            raise SlackError("channel_not_found")
        if channel.is_im:
            if call.token.kind == "bot" and not channel.bot_member:
                raise SlackError("channel_not_found")
            if call.token.kind == "user" and channel.user != call.token.user_id:
                raise SlackError("channel_not_found")
        elif channel.is_private and not channel.bot_member:
            raise SlackError("channel_not_found")
        if need_history and not channel.is_im and not channel.bot_member:
            raise SlackError("not_in_channel")
        return channel

    @staticmethod
    def _history_scope(channel: Channel, kind: str) -> tuple[str, ...]:
        if channel.is_im:
            return (f"im:{kind}",)
        if channel.is_mpim:
            return (f"mpim:{kind}",)
        return (f"groups:{kind}",) if channel.is_private else (f"channels:{kind}",)

    def _content(self, call: _Call, *, required: bool = True) -> tuple[str | None, list | None]:
        text = call.args.get("text")
        blocks = _json_arg(call.args.get("blocks"), "invalid_blocks_format")
        attachments = call.args.get("attachments")
        if required and not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and len(str(text)) > MAX_TEXT_LENGTH:
            raise SlackError("msg_too_long")
        if blocks is not None:
            _check_message_blocks(blocks)
        return (None if text is None else str(text)), blocks

    def _store_message(self, team_id: str, channel_id: str, *, text: str, blocks: list | None,
                       thread_ts: str | None = None, metadata: dict | None = None,
                       extra: dict | None = None) -> dict:
        workspace = self.workspaces[team_id]
        ts = self._next_ts()
        message = {
            "type": "message", "text": text, "user": workspace.bot_user_id, "bot_id": workspace.bot_id,
            "app_id": DEFAULT_APP_ID, "ts": ts, "team": team_id,
            "bot_profile": {"id": workspace.bot_id, "app_id": DEFAULT_APP_ID, "name": "calbot", "deleted": False,
                            "team_id": team_id},
        }
        if blocks:
            message["blocks"] = _with_ids(blocks, ts)
        if thread_ts:
            message["thread_ts"] = thread_ts
        if metadata:
            message["metadata"] = metadata
        message.update(extra or {})
        self._messages.setdefault(channel_id, []).append(message)
        self._versions[(channel_id, ts)] = [copy.deepcopy(message)]
        return _public_message(message, channel_id)

    def _find_stored(self, channel_id: str, ts: Any) -> dict:
        for stored in self._messages.get(channel_id, []):
            if stored["ts"] == str(ts):
                return stored
        raise SlackError("message_not_found")

    # ---------------------------------------------------------------------------- api, auth

    def _api_test(self, call: _Call) -> dict:
        if call.args.get("error"):
            raise SlackError(str(call.args["error"]))
        return {"args": {k: v for k, v in call.args.items() if k != "token"}}

    def _auth_test(self, call: _Call) -> dict:
        token = call.token
        workspace = self.workspaces[token.team_id]
        user = self.users.get(token.user_id) or {"name": "calbot"}
        result = {"url": workspace.url, "team": workspace.name, "user": user["name"], "team_id": workspace.team_id,
                  "user_id": token.user_id, "is_enterprise_install": False}
        if token.kind == "bot":
            result["bot_id"] = workspace.bot_id
        if workspace.enterprise_id:
            result["enterprise_id"] = workspace.enterprise_id
        return result

    def _auth_revoke(self, call: _Call) -> dict:
        if not call.flag("test"):
            call.token.revoked = True
        return {"revoked": True}

    def _client_credentials(self, call: _Call) -> SlackApp:
        client_id, client_secret = call.args.get("client_id"), call.args.get("client_secret")
        authorization = call.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except Exception:
                raise SlackError("invalid_client_id")
        app = self.apps.get(client_id or "")
        if app is None:
            raise SlackError("invalid_client_id")
        if client_secret != app.client_secret:
            raise SlackError("bad_client_secret")
        return app

    def _apps_uninstall(self, call: _Call) -> dict:
        app = self._client_credentials(call)
        self.uninstall(call.team_id, app_id=app.app_id)
        return {}

    def _oauth_v2_access(self, call: _Call) -> dict:
        app = self._client_credentials(call)
        grant_type = call.args.get("grant_type") or "authorization_code"
        if grant_type == "refresh_token":
            return self._refresh(app, call.args.get("refresh_token"))
        if grant_type != "authorization_code":
            raise SlackError("invalid_grant_type")
        grant = self._codes.get(call.args.get("code") or "")
        if grant is None or grant["used"] or grant["client_id"] != app.client_id \
                or self.clock() - grant["created"] > OAUTH_CODE_TTL_SECONDS:
            raise SlackError("invalid_code")
        if grant["redirect_uri"] and call.args.get("redirect_uri") not in (None, grant["redirect_uri"]):
            raise SlackError("bad_redirect_uri")
        grant["used"] = True
        workspace = self.workspaces[grant["team_id"]]
        workspace.installed = True
        result: dict[str, Any] = {"app_id": app.app_id, "authed_user": {"id": grant["user_id"]},
                                  "team": {"id": workspace.team_id, "name": workspace.name},
                                  "enterprise": ({"id": workspace.enterprise_id, "name": workspace.enterprise_name}
                                                 if workspace.enterprise_id else None),
                                  "is_enterprise_install": False}
        if grant["scopes"]:
            bot = self._issue(app, workspace.team_id, "bot", workspace.bot_user_id, grant["scopes"])
            result.update(bot)
            result["bot_user_id"] = workspace.bot_user_id
        if grant["user_scopes"]:
            user_grant = self._issue(app, workspace.team_id, "user", grant["user_id"], grant["user_scopes"])
            result["authed_user"].update(user_grant)
        return result

    def _issue(self, app: SlackApp, team_id: str, kind: str, user_id: str, scopes: frozenset[str]) -> dict:
        prefix = "xoxb" if kind == "bot" else "xoxp"
        if not app.token_rotation:
            for token in self.tokens.values():   # reinstalling keeps the same long-lived token
                if (token.team_id, token.kind, token.user_id, token.app_id) == (team_id, kind, user_id, app.app_id) \
                        and not token.revoked and token.expires_at is None:
                    token.scopes = frozenset(token.scopes or ()) | scopes
                    return {"access_token": token.value, "token_type": kind, "scope": ",".join(sorted(token.scopes))}
            value = f"{prefix}-{team_id}-{next(self._seq)}-{secrets.token_hex(12)}"
            self._add_token(Token(value, team_id, kind, user_id, app.app_id, scopes))
            return {"access_token": value, "token_type": kind, "scope": ",".join(sorted(scopes))}
        value = f"xoxe.{prefix}-1-{team_id}-{next(self._seq)}-{secrets.token_hex(12)}"
        self._add_token(Token(value, team_id, kind, user_id, app.app_id, scopes,
                              expires_at=self.clock() + app.expires_in))
        refresh = f"xoxe-1-{next(self._seq)}-{secrets.token_hex(16)}"
        self._refresh_tokens[refresh] = Token(refresh, team_id, kind, user_id, app.app_id, scopes)
        return {"access_token": value, "token_type": kind, "scope": ",".join(sorted(scopes)),
                "refresh_token": refresh, "expires_in": app.expires_in}

    def _refresh(self, app: SlackApp, refresh_token: str | None) -> dict:
        grant = self._refresh_tokens.get(refresh_token or "")
        if grant is None or grant.revoked or grant.app_id != app.app_id:
            raise SlackError("invalid_refresh_token")
        workspace = self.workspaces[grant.team_id]
        issued = self._issue(app, grant.team_id, grant.kind, grant.user_id, grant.scopes or frozenset())
        result = {"app_id": app.app_id, **issued,
                  "team": {"id": workspace.team_id, "name": workspace.name},
                  "enterprise": ({"id": workspace.enterprise_id, "name": workspace.enterprise_name}
                                 if workspace.enterprise_id else None),
                  "is_enterprise_install": False}
        if grant.kind == "bot":
            result["bot_user_id"] = workspace.bot_user_id
        else:
            result["user_id"] = grant.user_id
        return result

    def authorize_as(self, team_id: str, user_id: str | None = None) -> None:
        """Who is "signed in" on the authorize page (the installer), unless the request says otherwise."""
        self.installer = (team_id, user_id)

    async def _authorize_page(self, request: Request) -> Response:
        params = request.query_params
        with self.lock:
            app = self.apps.get(params.get("client_id", ""))
            if app is None:
                return HTMLResponse("<h1>Invalid client_id parameter</h1>", status_code=400)
            redirect_uri = params.get("redirect_uri")
            if redirect_uri and app.redirect_urls and not any(redirect_uri.startswith(u) for u in app.redirect_urls):
                return HTMLResponse("<h1>redirect_uri did not match any configured URIs</h1>", status_code=400)
            if not redirect_uri and not app.redirect_urls:
                return HTMLResponse("<h1>No redirect_uri, and the app has no Redirect URL configured</h1>",
                                    status_code=400)
            state = params.get("state")
            if self.deny_next_authorization:
                self.deny_next_authorization = False
                return RedirectResponse(_add_query(redirect_uri or app.redirect_urls[0], error="access_denied",
                                                   state=state), status_code=302)
            team_id = request.headers.get("x-fake-slack-team") or params.get("team") or self.installer[0]
            if team_id not in self.workspaces:
                self.add_workspace(team_id)
            user_id = request.headers.get("x-fake-slack-user") or self.installer[1]
            if user_id is None:
                admins = [u["id"] for u in self.users.values()
                          if u["team_id"] == team_id and u["is_admin"] and not u["is_bot"]]
                user_id = admins[0] if admins else "UINSTALLER"
            if user_id not in self.users:
                self.add_user(user_id, team_id=team_id, is_admin=True, name="installer")
            code = f"{next(self._seq)}.{int(self.clock())}.{secrets.token_hex(16)}"
            self._codes[code] = {
                "client_id": app.client_id, "team_id": team_id, "user_id": user_id,
                "scopes": _scope_set(params.get("scope")), "user_scopes": _scope_set(params.get("user_scope")),
                "redirect_uri": redirect_uri, "created": self.clock(), "used": False,
            }
        return RedirectResponse(_add_query(redirect_uri or app.redirect_urls[0], code=code, state=state),
                                status_code=302)

    # ---------------------------------------------------------------------------- team, users

    def _team_info(self, call: _Call) -> dict:
        self._require_scope(call, "team:read")
        team_id = call.args.get("team") or call.team_id
        workspace = self.workspaces.get(team_id)
        if workspace is None or team_id != call.team_id:
            raise SlackError("team_not_found")
        team = {"id": workspace.team_id, "name": workspace.name, "url": workspace.url, "domain": workspace.domain,
                "email_domain": "", "is_verified": False,
                "icon": {"image_default": True, "image_34": "https://a.slack-edge.com/80588/img/avatars-teams/ava_0001-34.png"},
                "avatar_base_url": "https://ca.slack-edge.com/"}
        if workspace.enterprise_id:
            team.update(enterprise_id=workspace.enterprise_id, enterprise_name=workspace.enterprise_name)
        return {"team": team}

    def _user_json(self, call: _Call, user: dict) -> dict:
        shown = copy.deepcopy(user)
        if not call.flag("include_locale"):
            shown.pop("locale", None)
        scopes = call.token.scopes
        if scopes is not None and "users:read.email" not in scopes:
            shown["profile"].pop("email", None)
        zone = ZoneInfo(user["tz"])
        now = datetime.now(zone)
        shown["tz_offset"] = int(now.utcoffset().total_seconds())
        shown["tz_label"] = _TZ_LABELS.get(now.tzname() or "", user["tz"])
        return shown

    def _users_info(self, call: _Call) -> dict:
        self._require_scope(call, "users:read")
        return {"user": self._user_json(call, self._user_in_team(call, call.args.get("user")))}

    def _users_list(self, call: _Call) -> dict:
        self._require_scope(call, "users:read")
        members = [self._user_json(call, u) for u in self.users.values() if u["team_id"] == call.team_id]
        page, cursor = _paginate(members, call)
        return {"members": page, "cache_ts": int(self.clock()), "response_metadata": {"next_cursor": cursor}}

    def _users_lookup_by_email(self, call: _Call) -> dict:
        self._require_scope(call, "users:read.email")
        email = str(call.args.get("email") or "").lower()
        for user in self.users.values():
            if user["team_id"] == call.team_id and (user["profile"].get("email") or "").lower() == email and email:
                return {"user": self._user_json(call, user)}
        raise SlackError("users_not_found")

    # ---------------------------------------------------------------------------- conversations

    def _conversations_open(self, call: _Call) -> dict:
        users = [u for u in str(call.args.get("users") or "").split(",") if u]
        channel_arg = call.args.get("channel")
        if not users and not channel_arg:
            raise SlackError("users_list_not_supplied")
        if channel_arg:
            channel = self._channel_for_call(call, channel_arg)
            return {"channel": {"id": channel.id}, "no_op": True, "already_open": True}
        if len(users) > 8:
            raise SlackError("too_many_users")
        for user_id in users:
            user = self._user_in_team(call, user_id)
            if user["is_bot"]:
                raise SlackError("cannot_dm_bot")
        if len(users) == 1:
            self._require_scope(call, "im:write")
            channel_id = "D" + hashlib.sha1(f"{call.team_id}:{users[0]}".encode()).hexdigest()[:10].upper()
            already = channel_id in self.channels
            self.dm_channel(users[0], call.team_id)
        else:
            self._require_scope(call, "mpim:write")
            key = ",".join(sorted(users))
            channel_id = "G" + hashlib.sha1(f"{call.team_id}:{key}".encode()).hexdigest()[:10].upper()
            already = channel_id in self.channels
            if not already:
                self.channels[channel_id] = Channel(channel_id, call.team_id, "mpdm-" + "--".join(users) + "-1",
                                                    is_private=True, is_mpim=True, members=set(users),
                                                    bot_member=True)
        result: dict[str, Any] = {"channel": {"id": channel_id}}
        if already:
            result.update(no_op=True, already_open=True)
        if call.flag("return_im"):
            result["channel"] = self._channel_json(self.channels[channel_id], call)
        return result

    def _channel_json(self, channel: Channel, call: _Call) -> dict:
        if channel.is_im:
            user = self.users.get(channel.user or "") or {}
            return {"id": channel.id, "created": channel.created, "is_im": True, "is_org_shared": False,
                    "user": channel.user, "is_user_deleted": bool(user.get("deleted")), "priority": 0,
                    "context_team_id": channel.team_id}
        return {
            "id": channel.id, "name": channel.name, "name_normalized": channel.name,
            "is_channel": not channel.is_private and not channel.is_mpim, "is_group": channel.is_private and not channel.is_mpim,
            "is_im": False, "is_mpim": channel.is_mpim, "is_private": channel.is_private, "created": channel.created,
            "is_archived": channel.is_archived, "is_general": channel.name == "general", "unlinked": 0,
            "is_shared": False, "is_org_shared": False, "is_ext_shared": False, "is_pending_ext_shared": False,
            "pending_shared": [], "context_team_id": channel.team_id, "shared_team_ids": [channel.team_id],
            "creator": "", "is_member": channel.bot_member, "previous_names": [],
            "topic": {"value": "", "creator": "", "last_set": 0}, "purpose": {"value": "", "creator": "", "last_set": 0},
            "num_members": len(channel.members),
        }

    def _conversations_info(self, call: _Call) -> dict:
        channel = self._channel_for_call(call, call.args.get("channel"))
        self._require_scope(call, *self._history_scope(channel, "read"))
        return {"channel": self._channel_json(channel, call)}

    def _conversations_list(self, call: _Call) -> dict:
        wanted = set(str(call.args.get("types") or "public_channel").split(","))
        found = []
        for channel in self.channels.values():
            if channel.team_id != call.team_id or (call.flag("exclude_archived") and channel.is_archived):
                continue
            kind = ("im" if channel.is_im else "mpim" if channel.is_mpim
                    else "private_channel" if channel.is_private else "public_channel")
            if kind not in wanted or (kind in ("private_channel", "mpim") and not channel.bot_member):
                continue
            self._require_scope(call, *self._history_scope(channel, "read"))
            found.append(self._channel_json(channel, call))
        page, cursor = _paginate(found, call)
        return {"channels": page, "response_metadata": {"next_cursor": cursor}}

    def _conversations_history(self, call: _Call) -> dict:
        channel = self._channel_for_call(call, call.args.get("channel"), need_history=True)
        self._require_scope(call, *self._history_scope(channel, "history"))
        oldest = float(call.args.get("oldest") or 0)
        latest = float(call.args.get("latest") or "inf")
        inclusive = call.flag("inclusive")
        with_metadata = call.flag("include_all_metadata")
        found = []
        for stored in reversed(self._messages.get(channel.id, [])):
            ts = float(stored["ts"])
            if stored.get("thread_ts") not in (None, stored["ts"]):
                continue
            if (oldest < ts < latest) or (inclusive and ts in (oldest, latest)):
                shown = copy.deepcopy(stored)
                if not with_metadata:
                    shown.pop("metadata", None)
                found.append(shown)
        page, cursor = _paginate(found, call)
        return {"messages": page, "has_more": bool(cursor), "pin_count": 0,
                "response_metadata": {"next_cursor": cursor}}

    # ---------------------------------------------------------------------------- chat

    def _chat_post_message(self, call: _Call) -> dict:
        self._require_scope(call, "chat:write")
        channel = self._channel_for_call(call, call.args.get("channel"), allow_user=True)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.is_im and not channel.bot_member and not channel.is_private:
            self._require_scope_or(call, "chat:write.public", "not_in_channel")
        text, blocks = self._content(call)
        if self.enforce_channel_pace is not None:
            times = self._post_times.get(channel.id, [])
            if times and self.clock() - times[-1] < self.enforce_channel_pace:
                raise _RateLimited(1)
        metadata = _json_arg(call.args.get("metadata"), "invalid_metadata_format")
        extra = {k: call.args[k] for k in ("username", "icon_emoji", "icon_url") if call.args.get(k)}
        attachments = _json_arg(call.args.get("attachments"), "invalid_attachments")
        if attachments:
            extra["attachments"] = attachments
        thread_ts = call.args.get("thread_ts") or None
        message = self._store_message(call.team_id, channel.id, text=text or "", blocks=blocks,
                                      thread_ts=thread_ts, metadata=metadata, extra=extra)
        self._post_times.setdefault(channel.id, []).append(self.clock())
        message.pop("channel")
        return {"channel": channel.id, "ts": message["ts"], "message": message}

    def _require_scope_or(self, call: _Call, scope: str, error: str) -> None:
        scopes = call.token.scopes
        if scopes is not None and scope not in scopes:
            raise SlackError(error)

    def _chat_update(self, call: _Call) -> dict:
        self._require_scope(call, "chat:write")
        channel = self._channel_for_call(call, call.args.get("channel"))
        stored = self._find_stored(channel.id, call.args.get("ts"))
        if stored["user"] != self._bot_user(call):
            raise SlackError("cant_update_message")
        text, blocks = self._content(call, required=False)
        if text is None and blocks is None and not call.args.get("attachments"):
            raise SlackError("no_text")
        if blocks is not None:
            if blocks:
                stored["blocks"] = _with_ids(blocks, self._next_ts())
            else:
                stored.pop("blocks", None)
        elif text is not None:
            stored.pop("blocks", None)   # text without blocks: Slack renders the text alone
            stored["edited"] = {"user": stored["user"], "ts": self._next_ts()}
        if text is not None:
            stored["text"] = text
        metadata = _json_arg(call.args.get("metadata"), "invalid_metadata_format")
        if metadata is not None:
            stored["metadata"] = metadata
        self._versions.setdefault((channel.id, stored["ts"]), []).append(copy.deepcopy(stored))
        shown = copy.deepcopy(stored)
        return {"channel": channel.id, "ts": stored["ts"], "text": stored["text"], "message": shown}

    def _chat_delete(self, call: _Call) -> dict:
        self._require_scope(call, "chat:write")
        channel = self._channel_for_call(call, call.args.get("channel"))
        stored = self._find_stored(channel.id, call.args.get("ts"))
        if stored["user"] != self._bot_user(call):
            raise SlackError("cant_delete_message")
        self._messages[channel.id].remove(stored)
        self._deleted.setdefault(channel.id, []).append(stored)
        return {"channel": channel.id, "ts": stored["ts"]}

    def _chat_post_ephemeral(self, call: _Call) -> dict:
        self._require_scope(call, "chat:write")
        channel = self._channel_for_call(call, call.args.get("channel"), allow_user=True)
        user = self._user_in_team(call, call.args.get("user"))
        in_channel = (channel.user == user["id"]) if channel.is_im else (
            not channel.members or user["id"] in channel.members)
        if not in_channel:
            raise SlackError("user_not_in_channel")
        text, blocks = self._content(call)
        ephemeral = self.add_ephemeral(user["id"], channel.id, text=text, blocks=blocks,
                                       thread_ts=call.args.get("thread_ts") or None)
        return {"message_ts": ephemeral["message_ts"]}

    def _chat_schedule_message(self, call: _Call) -> dict:
        self._require_scope(call, "chat:write")
        channel = self._channel_for_call(call, call.args.get("channel"), allow_user=True)
        text, blocks = self._content(call)
        try:
            post_at = int(float(call.args.get("post_at")))
        except (TypeError, ValueError):
            raise SlackError("invalid_time")
        now = self.clock()
        if post_at < now:
            raise SlackError("time_in_past")
        if post_at > now + SCHEDULE_LIMIT_SECONDS:
            raise SlackError("time_too_far")
        scheduled_id = self._new_id("Q")
        self._scheduled[scheduled_id] = {"id": scheduled_id, "channel": channel.id, "team_id": call.team_id,
                                         "post_at": post_at, "date_created": int(now), "text": text or "",
                                         "blocks": blocks, "thread_ts": call.args.get("thread_ts") or None}
        workspace = self.workspaces[call.team_id]
        message = {"text": text or "", "bot_id": workspace.bot_id, "type": "delayed_message",
                   "subtype": "bot_message", "team": call.team_id, "user": workspace.bot_user_id}
        if blocks:
            message["blocks"] = blocks
        return {"channel": channel.id, "scheduled_message_id": scheduled_id, "post_at": post_at, "message": message}

    def _chat_delete_scheduled_message(self, call: _Call) -> dict:
        self._require_scope(call, "chat:write")
        channel = self._channel_for_call(call, call.args.get("channel"))
        item = self._scheduled.get(str(call.args.get("scheduled_message_id")))
        if item is None or item["channel"] != channel.id:
            raise SlackError("invalid_scheduled_message_id")
        del self._scheduled[item["id"]]
        return {}

    def _chat_scheduled_messages_list(self, call: _Call) -> dict:
        channel_arg = call.args.get("channel")
        found = [{"id": s["id"], "channel_id": s["channel"], "post_at": s["post_at"],
                  "date_created": s["date_created"], "text": s["text"]}
                 for s in sorted(self._scheduled.values(), key=lambda s: s["post_at"])
                 if s["team_id"] == call.team_id and (not channel_arg or s["channel"] == channel_arg)]
        page, cursor = _paginate(found, call)
        return {"scheduled_messages": page, "response_metadata": {"next_cursor": cursor}}

    def _chat_get_permalink(self, call: _Call) -> dict:
        channel = self._channel_for_call(call, call.args.get("channel"))
        stored = self._find_stored(channel.id, call.args.get("message_ts"))
        domain = self.workspaces[call.team_id].domain
        return {"channel": channel.id,
                "permalink": f"https://{domain}.slack.com/archives/{channel.id}/p{stored['ts'].replace('.', '')}"}

    # ---------------------------------------------------------------------------- views

    def _view_arg(self, call: _Call) -> dict:
        view = _json_arg(call.args.get("view"), "invalid_arguments")
        if view is None:
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]})
        problems = view_problems(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        return view

    def _exchange_trigger(self, call: _Call) -> dict:
        trigger_id = call.args.get("trigger_id") or call.args.get("interactivity_pointer")
        trigger = self._triggers.get(str(trigger_id or ""))
        if trigger is None or trigger["team_id"] != call.team_id:
            raise SlackError("invalid_trigger_id")
        if self.clock() - trigger["issued_at"] > TRIGGER_TTL_SECONDS:
            raise SlackError("expired_trigger_id")
        if trigger["used"]:
            raise SlackError("exchanged_trigger_id")
        trigger["used"] = True
        return trigger

    def _new_view(self, team_id: str, user_id: str, view: dict, *, root_view_id: str | None = None,
                  previous_view_id: str | None = None) -> dict:
        workspace = self.workspaces[team_id]
        view_id = self._new_id("V")
        stored = {
            "id": view_id, "team_id": team_id, "type": view["type"], "blocks": [],
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "state": {"values": {}}, "hash": "", "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"), "submit": view.get("submit"),
            "previous_view_id": previous_view_id, "root_view_id": root_view_id or view_id,
            "app_id": DEFAULT_APP_ID, "external_id": view.get("external_id", ""),
            "app_installed_team_id": team_id, "bot_id": workspace.bot_id,
        }
        self._check_external_id(team_id, stored["external_id"], view_id)
        self._replace_view(stored, view, user_id)
        self._views[view_id] = stored
        self._view_owner[view_id] = user_id
        return stored

    def _check_external_id(self, team_id: str, external_id: str, view_id: str) -> None:
        if external_id and any(v["external_id"] == external_id and v["team_id"] == team_id and v["id"] != view_id
                               for v in self._views.values()):
            raise SlackError("duplicate_external_id")

    def _replace_view(self, stored: dict, view: dict, user_id: str) -> dict:
        problems = view_problems(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        if view["type"] != stored["type"]:
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] view type cannot change"]})
        external_id = view.get("external_id", "")
        self._check_external_id(stored["team_id"], external_id, stored["id"])
        stored.update({
            "blocks": _with_ids(view["blocks"], stored["id"] + str(time.time_ns())),
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "title": view.get("title"), "close": view.get("close"), "submit": view.get("submit"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)), "external_id": external_id,
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}", "state": {"values": {}},
        })
        self._view_errors.pop(stored["id"], None)
        return stored

    def _push_modal(self, team_id: str, user_id: str, view: dict) -> dict:
        stack = self._stacks.setdefault(user_id, [])
        if len(stack) >= MAX_VIEW_STACK:
            raise SlackError("push_limit_reached")
        if view.get("type") != "modal":
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] only modals can be pushed"]})
        root = self._views[stack[0]]["id"] if stack else None
        stored = self._new_view(team_id, user_id, view, root_view_id=root, previous_view_id=stack[-1] if stack else None)
        stack.append(stored["id"])
        return stored

    def _views_open(self, call: _Call) -> dict:
        view = self._view_arg(call)
        if view.get("type") != "modal":
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] views.open needs a modal"]})
        trigger = self._exchange_trigger(call)
        self._stacks[trigger["user_id"]] = []
        stored = self._push_modal(call.team_id, trigger["user_id"], view)
        return {"view": copy.deepcopy(stored)}

    def _views_push(self, call: _Call) -> dict:
        view = self._view_arg(call)
        trigger = self._exchange_trigger(call)
        if not self._stacks.get(trigger["user_id"]):
            raise SlackError("not_found")
        stored = self._push_modal(call.team_id, trigger["user_id"], view)
        return {"view": copy.deepcopy(stored)}

    def _views_update(self, call: _Call) -> dict:
        view = self._view_arg(call)
        view_id, external_id = call.args.get("view_id"), call.args.get("external_id")
        if view_id:
            stored = self._views.get(str(view_id))
        elif external_id:
            stored = next((v for v in self._views.values()
                           if v["external_id"] == external_id and v["team_id"] == call.team_id), None)
        else:
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] view_id or external_id required"]})
        if stored is None or stored["team_id"] != call.team_id:
            raise SlackError("not_found")
        if call.args.get("hash") and call.args["hash"] != stored["hash"]:
            raise SlackError("hash_conflict")
        self._replace_view(stored, view, self._view_owner[stored["id"]])
        return {"view": copy.deepcopy(stored)}

    def _views_publish(self, call: _Call) -> dict:
        view = self._view_arg(call)
        if view.get("type") != "home":
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] views.publish needs a home view"]})
        user = self._user_in_team(call, call.args.get("user_id"))
        view_id = self._homes.get(user["id"])
        if view_id is None:
            stored = self._new_view(call.team_id, user["id"], view)
            self._homes[user["id"]] = stored["id"]
        else:
            stored = self._views[view_id]
            if call.args.get("hash") and call.args["hash"] != stored["hash"]:
                raise SlackError("hash_conflict")
            self._replace_view(stored, view, user["id"])
        return {"view": copy.deepcopy(stored)}

    # ---------------------------------------------------------------------------- response_url

    async def _response_url_post(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = dict(parse_qsl(raw.decode()))
            if "payload" in body:
                body = json.loads(body["payload"])
        with self.lock:
            target = self._response_urls.get(response_id)
            if target is None:
                return JSONResponse({"ok": False, "error": "expired_url"}, status_code=404)
            record = {**body}
            target["posts"].append(record)
            if len(target["posts"]) > RESPONSE_URL_MAX_USES:
                record["_status"] = 404
                return JSONResponse({"ok": False, "error": "used_url"}, status_code=404)
            if self.clock() - target["created"] > RESPONSE_URL_TTL_SECONDS:
                record["_status"] = 404
                return JSONResponse({"ok": False, "error": "expired_url"}, status_code=404)
            try:
                self._apply_response(target, body)
            except SlackError as exc:
                record["_status"] = 400
                return JSONResponse({"ok": False, "error": exc.error, **exc.extra}, status_code=400)
            record["_status"] = 200
        return JSONResponse({"ok": True})

    def _apply_response(self, target: dict, body: dict) -> None:
        text, blocks = body.get("text"), body.get("blocks")
        if isinstance(blocks, str):
            blocks = _json_arg(blocks, "invalid_blocks_format")
        if blocks is not None:
            _check_message_blocks(blocks)
        user_id, channel_id, message_ts = target["user_id"], target["channel_id"], target["message_ts"]
        if _truthy(body.get("delete_original")):
            if message_ts is None:
                raise SlackError("no_original_message")
            if target["is_ephemeral"]:
                for ephemeral in self._ephemerals.get(user_id, []):
                    if ephemeral["message_ts"] == message_ts:
                        ephemeral["deleted"] = True
            elif channel_id in self._messages:
                stored = self._find_stored(channel_id, message_ts)
                self._messages[channel_id].remove(stored)
                self._deleted.setdefault(channel_id, []).append(stored)
            return
        if not text and not blocks:
            raise SlackError("no_text")
        if _truthy(body.get("replace_original")) and message_ts is not None:
            if target["is_ephemeral"]:
                for ephemeral in self._ephemerals.get(user_id, []):
                    if ephemeral["message_ts"] == message_ts and not ephemeral["deleted"]:
                        ephemeral["text"] = text or ""
                        ephemeral["blocks"] = _with_ids(blocks or [], self._next_ts())
                        ephemeral["replaced"] = True
                return
            stored = self._find_stored(channel_id, message_ts)
            stored["text"] = text or ""
            if blocks is not None:
                stored["blocks"] = _with_ids(blocks, self._next_ts())
            else:
                stored.pop("blocks", None)
            self._versions.setdefault((channel_id, message_ts), []).append(copy.deepcopy(stored))
            return
        if body.get("response_type") == "in_channel" and channel_id:
            self._store_message(target["team_id"], channel_id, text=text or "", blocks=blocks,
                                thread_ts=body.get("thread_ts"))
            return
        if user_id:
            self.add_ephemeral(user_id, channel_id, text=text, blocks=blocks, source="response_url",
                               thread_ts=body.get("thread_ts"))


class _SocketModeServer:
    """Slack's Socket Mode endpoint: a websocket server (aiohttp) in its own thread and loop."""

    def __init__(self, fake: FakeSlack):
        self.fake = fake
        self.connections: list[web.WebSocketResponse] = []
        self.accepted = 0
        self.acks: dict[str, dict] = {}
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slack-fake-socket-mode", daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> "_SocketModeServer":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("Socket Mode server did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app)
        self.loop.run_until_complete(self._runner.setup())
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.loop.run_until_complete(web.SockSite(self._runner, sock).start())
        self._ready.set()
        self.loop.run_forever()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self.fake.lock:
            app_id = self.fake._socket_tickets.pop(request.query.get("ticket", ""), None)
        if app_id is None:
            await ws.close(code=4000, message=b"invalid ticket")
            return ws
        self.connections.append(ws)
        self.accepted += 1
        await ws.send_json({"type": "hello", "num_connections": len(self.connections),
                            "debug_info": {"host": "fake-slack", "build_number": 1,
                                           "approximate_connection_time": 18060},
                            "connection_info": {"app_id": app_id}})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    data = json.loads(message.data)
                    if isinstance(data, dict) and data.get("envelope_id"):
                        self.acks[data["envelope_id"]] = data
        finally:
            if ws in self.connections:
                self.connections.remove(ws)
        return ws

    def send(self, ws: web.WebSocketResponse, message: dict) -> None:
        asyncio.run_coroutine_threadsafe(ws.send_str(json.dumps(message)), self.loop).result(10)

    def stop(self) -> None:
        async def shutdown() -> None:
            for ws in list(self.connections):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


class _RateLimited(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

async def _read_args(request: Request) -> dict[str, Any]:
    """Arguments as Slack reads them: query string, then a form or JSON body on top."""
    args: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not body:
        return args
    if content_type == "application/json":
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            args.update(parsed)
    elif content_type == "multipart/form-data":
        form = await request.form()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    else:
        args.update(dict(parse_qsl(body.decode(), keep_blank_values=True)))
    return args


def _json_arg(value: Any, error: str) -> Any:
    """Form-encoded requests carry JSON arguments (blocks, view, metadata) as strings."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error)
    return value


def _check_message_blocks(blocks: Any) -> None:
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise SlackError("invalid_blocks", response_metadata={
            "messages": [f"[ERROR] no more than {MAX_MESSAGE_BLOCKS} items allowed [json-pointer:/blocks]"]})
    problems = block_problems(blocks)
    if problems:
        raise SlackError("invalid_blocks", response_metadata={"messages": problems})


def _with_ids(blocks: list, seed: str) -> list:
    """A copy of the blocks with the block_ids and action_ids Slack fills in when absent."""
    filled = copy.deepcopy(blocks)
    for index, block in enumerate(filled):
        if not isinstance(block, dict):
            continue
        if not block.get("block_id"):
            block["block_id"] = _short_id(f"{seed}:{index}")
        for position, element in enumerate(_element_slots(block)):
            if element.get("type") in INTERACTIVE_TYPES and not element.get("action_id"):
                element["action_id"] = _short_id(f"{seed}:{index}:{position}")
    return filled


def _short_id(seed: str) -> str:
    return base64.b32encode(hashlib.sha1(seed.encode()).digest()).decode()[:5].replace("=", "A")


def _public_message(stored: dict, channel_id: str) -> dict:
    shown = copy.deepcopy(stored)
    shown["channel"] = channel_id
    return shown


def _scope_set(value: str | None) -> frozenset[str]:
    return frozenset(s.strip() for s in re.split(r"[ ,]", value or "") if s.strip())


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _add_query(url: str, **params: Any) -> str:
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _paginate(items: list, call: _Call) -> tuple[list, str]:
    try:
        limit = int(call.args.get("limit") or 0) or 100
        start = int(base64.b64decode(call.args["cursor"]).decode().split(":")[1]) if call.args.get("cursor") else 0
    except (ValueError, IndexError):
        raise SlackError("invalid_cursor")
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
