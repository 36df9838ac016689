"""Acts as Slack towards the app's `POST /slack/events`: real payloads, signed as Slack signs them.

Slack's side of every conversation is built from the state of a `FakeSlack`: trigger ids and
response URLs are issued by it (so `views.open` and `respond()` work against it), clicks are built
from messages and views *the app actually produced* (a button that isn't there fails the test),
and what the app answers inline is applied as Slack would apply it (a slash command's reply is
shown to the user; `response_action: errors|update|push|clear` changes the modal stack).

Signing: `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=HMAC_SHA256(secret, "v0:{ts}:{body}")`
via slack-sdk's `SignatureVerifier.generate_signature`.

Slack gives an app 3 seconds to acknowledge; the driver fails the test when a request takes
longer than `ack_deadline` (None turns the check off).

A typical end-to-end test::

    driver = SlackDriver(calbot.url, SIGNING_SECRET, slack_fake)
    driver.slash("U_ANA", "record standup")               # -> httpx.Response (the ack)
    dm = slack_fake.wait_for(lambda: slack_fake.last_dm("U_ANA"))
    driver.click("U_ANA", dm, text="Record")              # block_actions built from that message
    driver.slash("U_ANA", "settings")
    slack_fake.wait_for(lambda: slack_fake.top_view("U_ANA"))
    driver.submit_view("U_ANA", values={"bot_name": {"value": "Rec"}})

With `transport="socket"` the same payloads travel as Socket Mode envelopes over the app's
websocket to the fake (`slash_commands`, `interactive`, `events_api`), and the app's ack stands in
for the HTTP response: methods still return an `httpx.Response` (status 200, the ack's payload as
JSON body) so tests read the same either way.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack import (
    FakeSlack, SlackError, _check_message_blocks, find_button, find_element, iter_elements, view_problems,
)

VERIFICATION_TOKEN = "fake-verification-token"


class SlackDriver:
    def __init__(self, app_url: str, signing_secret: str, fake: FakeSlack, team_id: str = "T0001", *,
                 path: str = "/slack/events", command: str = "/calbot", api_app_id: str | None = None,
                 verification_token: str = VERIFICATION_TOKEN, ack_deadline: float | None = 3.0,
                 escape_mentions: bool = True, timeout: float = 10.0, transport: str = "http"):
        if transport not in ("http", "socket"):
            raise ValueError("transport is 'http' or 'socket'")
        self.transport = transport
        self.app_url = app_url.rstrip("/")
        self.url = self.app_url + path
        self.signing_secret = signing_secret
        self.fake = fake
        self.team_id = team_id
        self.command = command
        self.api_app_id = api_app_id or next(iter(fake.apps.values())).app_id
        self.verification_token = verification_token
        self.ack_deadline = ack_deadline
        self.escape_mentions = escape_mentions   # the manifest's `should_escape: true`
        self.timeout = timeout
        self.last_payload: Any = None
        self.last_envelope: dict | None = None
        if team_id not in fake.workspaces:
            fake.add_workspace(team_id)

    # ----------------------------------------------------------------------------------------
    # transport
    # ----------------------------------------------------------------------------------------

    def signed_headers(self, body: str, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        timestamp = int(time.time()) if timestamp is None else timestamp
        verifier = SignatureVerifier(secret if secret is not None else self.signing_secret)
        return {
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": verifier.generate_signature(timestamp=str(timestamp), body=body),
        }

    def post(self, body: str, content_type: str, *, timestamp: int | None = None, secret: str | None = None,
             headers: dict[str, str] | None = None, check_deadline: bool = True) -> httpx.Response:
        """POST a raw body to the app, signed (with `secret`/`timestamp` overrides for negative tests)."""
        all_headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
                       **self.signed_headers(body, timestamp=timestamp, secret=secret), **(headers or {})}
        started = time.perf_counter()
        response = httpx.post(self.url, content=body.encode(), headers=all_headers, timeout=self.timeout)
        elapsed = time.perf_counter() - started
        if check_deadline and self.ack_deadline is not None and response.status_code < 400 \
                and elapsed > self.ack_deadline:
            raise AssertionError(f"the app took {elapsed:.2f}s to answer; Slack gives up after "
                                 f"{self.ack_deadline:.0f}s (ack first, then work)")
        return response

    def post_form(self, fields: dict[str, Any], **kwargs: Any) -> httpx.Response:
        if self.transport == "socket":
            if "payload" in fields:
                return self._via_socket("interactive", json.loads(fields["payload"]), **kwargs)
            return self._via_socket("slash_commands", dict(fields), **kwargs)
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    def _via_socket(self, envelope_type: str, payload: dict, *, headers: dict[str, str] | None = None,
                    secret: str | None = None, timestamp: int | None = None,
                    check_deadline: bool = True) -> httpx.Response:
        if secret is not None or timestamp is not None:
            raise AssertionError("Socket Mode has no request signatures to forge or replay")
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        started = time.perf_counter()
        ack = self.fake.socket_send(
            envelope_type, payload, accepts_response_payload=envelope_type != "events_api",
            retry_attempt=int(headers.get("x-slack-retry-num", 0)),
            retry_reason=headers.get("x-slack-retry-reason", ""), timeout=self.timeout)
        elapsed = time.perf_counter() - started
        if check_deadline and self.ack_deadline is not None and elapsed > self.ack_deadline:
            raise AssertionError(f"the app took {elapsed:.2f}s to ack; Slack gives up after "
                                 f"{self.ack_deadline:.0f}s (ack first, then work)")
        body = ack.get("payload")
        return httpx.Response(200, json=body) if body else httpx.Response(200)

    def post_payload(self, payload: dict, **kwargs: Any) -> httpx.Response:
        """An interactivity payload: form-encoded `payload=<json>`."""
        self.last_payload = payload
        return self.post_form({"payload": json.dumps(payload)}, **kwargs)

    def post_json(self, envelope: dict, **kwargs: Any) -> httpx.Response:
        self.last_envelope = envelope
        if self.transport == "socket":
            if envelope.get("type") != "event_callback":
                raise AssertionError(f"{envelope.get('type')} is not sent over Socket Mode")
            return self._via_socket("events_api", envelope, **kwargs)
        return self.post(json.dumps(envelope), "application/json", **kwargs)

    # ----------------------------------------------------------------------------------------
    # common payload parts
    # ----------------------------------------------------------------------------------------

    def _team(self, team_id: str | None = None) -> dict:
        workspace = self.fake.workspace(team_id or self.team_id)
        return {"id": workspace.team_id, "domain": workspace.domain}

    def _user(self, user_id: str) -> dict:
        user = self.fake.ensure_user(user_id, self.team_id)
        return {"id": user_id, "username": user["name"], "name": user["name"], "team_id": user["team_id"]}

    def _enterprise(self) -> dict | None:
        workspace = self.fake.workspace(self.team_id)
        return {"id": workspace.enterprise_id, "name": workspace.enterprise_name} if workspace.enterprise_id else None

    def _channel(self, channel_id: str) -> dict:
        channel = self.fake.channels.get(channel_id)
        return {"id": channel_id, "name": channel.name if channel else channel_id.lower()}

    def _base_interaction(self, kind: str, user_id: str) -> dict:
        return {
            "type": kind, "user": self._user(user_id), "api_app_id": self.api_app_id,
            "token": self.verification_token, "team": self._team(), "enterprise": self._enterprise(),
            "is_enterprise_install": False,
            "trigger_id": self.fake.issue_trigger_id(user_id, self.team_id),
        }

    # ----------------------------------------------------------------------------------------
    # slash commands
    # ----------------------------------------------------------------------------------------

    def slash_payload(self, user_id: str, text: str = "", channel_id: str | None = None,
                      command: str | None = None) -> dict[str, str]:
        user = self.fake.ensure_user(user_id, self.team_id)
        if channel_id is None:
            channel_id = self.fake.dm_channel(user_id, self.team_id)
        else:
            self.fake.ensure_channel(channel_id, self.team_id, member=user_id)
        workspace = self.fake.workspace(self.team_id)
        fields = {
            "token": self.verification_token, "team_id": self.team_id, "team_domain": workspace.domain,
            "channel_id": channel_id, "channel_name": self._channel(channel_id)["name"],
            "user_id": user_id, "user_name": user["name"], "command": command or self.command,
            "text": self._escape(text), "api_app_id": self.api_app_id, "is_enterprise_install": "false",
            "response_url": self.fake.new_response_url(self.team_id, user_id, channel_id),
            "trigger_id": self.fake.issue_trigger_id(user_id, self.team_id),
        }
        if workspace.enterprise_id:
            fields.update(enterprise_id=workspace.enterprise_id, enterprise_name=workspace.enterprise_name or "")
        return fields

    def slash(self, user_id: str, text: str = "", channel_id: str | None = None, command: str | None = None,
              **post_options: Any) -> httpx.Response:
        """`/calbot text` typed by the user (default: in their DM with the app).

        A reply in the response body is shown as Slack shows it: ephemeral to the user (recorded in
        `fake.ephemerals(user_id)`, and on `response.slack_message`) or in the channel.
        """
        fields = self.slash_payload(user_id, text, channel_id, command)
        self.last_payload = fields
        response = self.post_form(fields, **post_options)
        response.slack_message = None  # type: ignore[attr-defined]
        if response.status_code == 200 and not post_options.get("secret") and not post_options.get("timestamp"):
            reply = _reply_body(response)
            if reply is not None:
                response.slack_message = self._show_reply(user_id, fields["channel_id"], reply)  # type: ignore[attr-defined]
        return response

    def forged_slash(self, user_id: str, text: str = "", channel_id: str | None = None) -> httpx.Response:
        """Signed with the wrong secret: the app must answer 401."""
        return self.slash(user_id, text, channel_id, secret="not-the-" + self.signing_secret)

    def stale_slash(self, user_id: str, text: str = "", channel_id: str | None = None,
                    age_seconds: int = 600) -> httpx.Response:
        """Correctly signed, but 10 minutes old (a replay): the app must answer 401."""
        return self.slash(user_id, text, channel_id, timestamp=int(time.time()) - age_seconds)

    def _escape(self, text: str) -> str:
        """What Slack sends for `#channel` and `@user` when the command has should_escape."""
        if not self.escape_mentions:
            return text
        with self.fake.lock:
            channels = {c.name: c.id for c in self.fake.channels.values()
                        if c.team_id == self.team_id and not c.is_im}
            users = {u["name"]: u["id"] for u in self.fake.users.values() if u["team_id"] == self.team_id}

        def channel(match: re.Match) -> str:
            name = match.group(1)
            return f"<#{channels[name]}|{name}>" if name in channels else match.group(0)

        def user(match: re.Match) -> str:
            name = match.group(1)
            return f"<@{users[name]}|{name}>" if name in users else match.group(0)

        text = re.sub(r"(?<![<\w])#([a-z0-9][a-z0-9._-]*)", channel, text)
        return re.sub(r"(?<![<\w])@([a-z0-9][a-z0-9._-]*)", user, text)

    def _show_reply(self, user_id: str, channel_id: str, reply: dict) -> dict | None:
        if not reply.get("text") and not reply.get("blocks"):
            return None
        try:
            if reply.get("blocks") is not None:
                _check_message_blocks(reply["blocks"])
        except SlackError as exc:
            raise AssertionError(f"Slack would refuse the app's reply ({exc.error}): {exc.extra}") from None
        if reply.get("response_type") == "in_channel":
            return self.fake.post_as_app(channel_id, text=reply.get("text"), blocks=reply.get("blocks"),
                                         team_id=self.team_id)
        return self.fake.add_ephemeral(user_id, channel_id, text=reply.get("text"), blocks=reply.get("blocks"),
                                       source="ack")

    # ----------------------------------------------------------------------------------------
    # block actions (buttons, menus) in messages, ephemerals, App Home and modals
    # ----------------------------------------------------------------------------------------

    def click(self, user_id: str, message: Any, action_id: str | None = None, text: str | None = None,
              value: str | None = None, block_id: str | None = None) -> httpx.Response:
        """Click a button in a message/ephemeral/view the app produced (as it is *now* in Slack)."""
        source, container = self._current(user_id, message)
        button = find_button(source, text=text, action_id=action_id, value=value, block_id=block_id)
        action = {"action_id": button["action_id"], "block_id": button["block_id"], "text": button["text"],
                  "type": "button", "action_ts": _action_ts()}
        for key in ("value", "style"):
            if key in button:
                action[key] = button[key]
        return self._send_action(user_id, source, container, action)

    def click_home(self, user_id: str, action_id: str | None = None, text: str | None = None,
                   value: str | None = None, block_id: str | None = None) -> httpx.Response:
        home = self.fake.home_view(user_id)
        if home is None:
            raise AssertionError(f"{user_id} has no App Home published")
        return self.click(user_id, home, action_id=action_id, text=text, value=value, block_id=block_id)

    def click_modal(self, user_id: str, action_id: str | None = None, text: str | None = None,
                    value: str | None = None, block_id: str | None = None) -> httpx.Response:
        top = self.fake.top_view(user_id)
        if top is None:
            raise AssertionError(f"{user_id} has no modal open")
        return self.click(user_id, top, action_id=action_id, text=text, value=value, block_id=block_id)

    def select(self, user_id: str, message: Any, action_id: str, value: Any,
               block_id: str | None = None) -> httpx.Response:
        """Pick in a select menu, overflow, date/time picker, checkboxes or radio buttons."""
        source, container = self._current(user_id, message)
        block, element = find_element(source, action_id=action_id, block_id=block_id)
        action = {"action_id": element["action_id"], "block_id": block["block_id"], "type": element["type"],
                  "action_ts": _action_ts(), **element_state(element, value)}
        return self._send_action(user_id, source, container, action)

    def _current(self, user_id: str, source: Any) -> tuple[dict, dict]:
        """The message/view as Slack shows it now, and its `container` for the payload."""
        if isinstance(source, httpx.Response):
            source = getattr(source, "slack_message", None)
            if source is None:
                raise AssertionError("that response showed no message to the user")
        if not isinstance(source, dict):
            raise AssertionError(f"cannot click in {source!r}")
        if source.get("id", "").startswith("V") and source.get("type") in ("home", "modal"):
            view = self.fake.view(source["id"])
            if view is None or self.fake.view_owner(view["id"]) != user_id:
                raise AssertionError(f"{user_id} cannot see view {source['id']}")
            if view["type"] == "modal" and view["id"] not in [v["id"] for v in self.fake.open_views(user_id)]:
                raise AssertionError(f"modal {view['id']} is no longer open for {user_id}")
            if view["type"] == "home" and (self.fake.home_view(user_id) or {}).get("id") != view["id"]:
                raise AssertionError(f"view {view['id']} is not {user_id}'s App Home")
            return view, {"type": "view", "view_id": view["id"]}
        if source.get("is_ephemeral"):
            if source.get("user") != user_id:
                raise AssertionError(f"only {source.get('user')} can see that ephemeral message")
            current = self.fake.ephemeral(user_id, source["message_ts"])
            if current is None:
                raise AssertionError("that ephemeral message is gone")
            return current, {"type": "message", "message_ts": current["message_ts"],
                             "channel_id": current["channel"], "is_ephemeral": True}
        channel_id, ts = source.get("channel"), source.get("ts")
        if not channel_id or not ts:
            raise AssertionError("not a message the app posted (no channel/ts); take it from the fake")
        current = self.fake.message(channel_id, ts)
        if current is None:
            raise AssertionError(f"message {ts} in {channel_id} is not there (never posted, or deleted)")
        channel = self.fake.channels.get(channel_id)
        if channel is not None and channel.is_im and channel.user != user_id:
            raise AssertionError(f"{user_id} cannot see the DM of {channel.user}")
        return current, {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": False}

    def _send_action(self, user_id: str, source: dict, container: dict, action: dict) -> httpx.Response:
        payload = self._base_interaction("block_actions", user_id)
        payload["container"] = container
        payload["actions"] = [action]
        if container["type"] == "view":
            payload["view"] = source
            payload["state"] = source.get("state") or {"values": {}}
        else:
            channel_id = container["channel_id"]
            payload["channel"] = self._channel(channel_id)
            payload["state"] = {"values": {}}
            payload["response_url"] = self.fake.new_response_url(
                self.team_id, user_id, channel_id, container["message_ts"], is_ephemeral=container["is_ephemeral"])
            if not container["is_ephemeral"]:
                message = {k: v for k, v in source.items() if k != "channel"}
                payload["message"] = message
        return self.post_payload(payload)

    # ----------------------------------------------------------------------------------------
    # modals
    # ----------------------------------------------------------------------------------------

    def submit_view(self, user_id: str, view: dict | None = None, values: dict | None = None) -> httpx.Response:
        """Submit a modal with `values` = {block_id: {action_id: value}} (or {action_id: value}).

        Values are given simply (a string, an option's value, a list of option values, "HH:MM"...)
        and sent in Slack's per-element shape; inputs not given keep their initial value. What the
        app answers is applied: no body closes the modal, `errors` keeps it open with the errors
        (`fake.view_errors`), `update` replaces it, `push` adds one, `clear` closes them all.
        """
        current = self._open_modal(user_id, view)
        state = build_state(current, values or {})
        self.fake.set_view_state(current["id"], state)
        current = self.fake.view(current["id"])
        payload = self._base_interaction("view_submission", user_id)
        payload.update(view=current, response_urls=[])
        response = self.post_payload(payload)
        if response.status_code == 200:
            self._apply_view_answer(user_id, current, _reply_body(response))
        return response

    def close_view(self, user_id: str, view: dict | None = None) -> httpx.Response | None:
        """The user closes the modal: `view_closed` is sent only when the view asked (notify_on_close)."""
        current = self._open_modal(user_id, view)
        self.fake.close_view(user_id, current["id"])
        if current.get("clear_on_close"):
            self.fake.clear_views(user_id)
        if not current.get("notify_on_close"):
            return None
        payload = self._base_interaction("view_closed", user_id)
        payload.pop("trigger_id")
        payload.update(view=current, is_cleared=bool(current.get("clear_on_close")))
        return self.post_payload(payload)

    def _open_modal(self, user_id: str, view: dict | None) -> dict:
        stack = self.fake.open_views(user_id)
        if not stack:
            raise AssertionError(f"{user_id} has no modal open")
        if view is None:
            return stack[-1]
        if view.get("id") not in [v["id"] for v in stack]:
            raise AssertionError(f"view {view.get('id')} is not open for {user_id}")
        return self.fake.view(view["id"])

    def _apply_view_answer(self, user_id: str, view: dict, answer: dict | None) -> None:
        if not answer or "response_action" not in answer:
            self.fake.close_view(user_id, view["id"])
            return
        action = answer["response_action"]
        try:
            if action == "errors":
                errors = answer.get("errors") or {}
                inputs = {b.get("block_id") for b in view["blocks"] if b.get("type") == "input"}
                unknown = set(errors) - inputs
                if not errors or unknown:
                    raise AssertionError(f"response_action errors must name input blocks of the view; "
                                         f"unknown: {sorted(unknown)}, inputs: {sorted(inputs)}")
                self.fake.set_view_errors(view["id"], errors)
            elif action == "update":
                problems = view_problems(answer.get("view"))
                if problems:
                    raise AssertionError(f"Slack would refuse the updated view: {problems}")
                self.fake.replace_view(view["id"], answer["view"])
            elif action == "push":
                problems = view_problems(answer.get("view"))
                if problems:
                    raise AssertionError(f"Slack would refuse the pushed view: {problems}")
                self.fake.push_view(user_id, answer["view"], self.team_id)
            elif action == "clear":
                self.fake.clear_views(user_id)
            else:
                raise AssertionError(f"unknown response_action {action!r}")
        except SlackError as exc:
            raise AssertionError(f"Slack would refuse the app's answer ({exc.error}): {exc.extra}") from None

    # ----------------------------------------------------------------------------------------
    # Events API
    # ----------------------------------------------------------------------------------------

    def envelope(self, event: dict, *, event_id: str | None = None, team_id: str | None = None) -> dict:
        team_id = team_id or self.team_id
        workspace = self.fake.workspace(team_id)
        event = {"event_ts": _action_ts(), **event}
        return {
            "token": self.verification_token, "team_id": team_id, "context_team_id": team_id,
            "context_enterprise_id": workspace.enterprise_id, "api_app_id": self.api_app_id,
            "event": event, "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(), "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": workspace.enterprise_id, "team_id": team_id,
                                "user_id": workspace.bot_user_id, "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False, "event_context": "4-" + secrets.token_urlsafe(24),
        }

    def event(self, event: dict, *, event_id: str | None = None, team_id: str | None = None,
              retry_num: int | None = None, retry_reason: str = "http_timeout",
              retry_headers: tuple[int, str] | None = None) -> httpx.Response:
        """Deliver one event in an `event_callback` envelope.

        For a redelivery, pass the first delivery's `event_id` and `retry_num` (or
        `retry_headers=(num, reason)`): Slack then adds X-Slack-Retry-Num / X-Slack-Retry-Reason.
        `redeliver()` does it all for the last event.
        """
        if retry_headers is not None:
            retry_num, retry_reason = retry_headers
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.post_json(self.envelope(event, event_id=event_id, team_id=team_id), headers=headers)

    def redeliver(self, retry_num: int = 1, retry_reason: str = "http_timeout") -> httpx.Response:
        """Send the last event envelope again, as Slack retries (same event_id)."""
        if self.last_envelope is None:
            raise AssertionError("no event delivered yet")
        return self.post_json(self.last_envelope, headers={"X-Slack-Retry-Num": str(retry_num),
                                                           "X-Slack-Retry-Reason": retry_reason})

    def home_opened(self, user_id: str) -> httpx.Response:
        self.fake.ensure_user(user_id, self.team_id)
        event = {"type": "app_home_opened", "user": user_id, "channel": self.fake.dm_channel(user_id, self.team_id),
                 "tab": "home"}
        home = self.fake.home_view(user_id)
        if home is not None:
            event["view"] = home
        return self.event(event)

    def uninstall(self) -> list[httpx.Response]:
        """The workspace removes the app: tokens revoked, then `tokens_revoked` and `app_uninstalled`."""
        revoked = self.fake.uninstall(self.team_id)
        tokens = {"oauth": sorted({t.user_id for t in revoked if t.kind == "user"}),
                  "bot": sorted({t.user_id for t in revoked if t.kind == "bot"})}
        return [self.event({"type": "tokens_revoked", "tokens": tokens}),
                self.event({"type": "app_uninstalled"})]

    def url_verification(self, challenge: str | None = None) -> httpx.Response:
        challenge = challenge or secrets.token_urlsafe(24)
        return self.post_json({"token": self.verification_token, "challenge": challenge, "type": "url_verification"})

    # ----------------------------------------------------------------------------------------
    # multi-workspace install
    # ----------------------------------------------------------------------------------------

    def install(self, user_id: str | None = None, *, install_path: str = "/slack/install") -> httpx.Response:
        """Install the app into this driver's workspace as a browser would, via the fake's authorize page.

        GET the app's install path (following its page or redirect to the authorize URL), let the
        fake approve as `user_id` (an admin of the workspace), follow the redirect back to the app
        with the state cookie, and return the app's final answer.
        """
        if user_id is not None:
            self.fake.ensure_user(user_id, self.team_id)
            self.fake.update_user(user_id, is_admin=True)
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as browser:
            start = browser.get(self.app_url + install_path)
            if start.status_code in (301, 302, 303, 307, 308):
                authorize_url = start.headers["location"]
            else:
                found = re.search(r'href="([^"]*oauth/v2/authorize[^"]*)"', start.text)
                if found is None:
                    raise AssertionError(f"no authorize link on the install page ({start.status_code}): {start.text[:500]}")
                authorize_url = html.unescape(found.group(1))
            headers = {"x-fake-slack-team": self.team_id}
            if user_id is not None:
                headers["x-fake-slack-user"] = user_id
            approved = browser.get(authorize_url, headers=headers)
            if approved.status_code != 302:
                raise AssertionError(f"authorize page refused ({approved.status_code}): {approved.text[:500]}")
            # Browsers treat loopback as a secure context and send `Secure` cookies (the OAuth state
            # cookie) over http://127.0.0.1; httpx would not, so carry the app's cookies by hand.
            cookies = "; ".join(c.split(";", 1)[0].strip() for c in start.headers.get_list("set-cookie"))
            return browser.get(approved.headers["location"], headers={"Cookie": cookies} if cookies else None)


# --------------------------------------------------------------------------------------------
# view state in Slack's per-element shape
# --------------------------------------------------------------------------------------------

_TEXT_INPUTS = {"plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input"}


def _options(element: dict) -> list[dict]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option(element: dict, value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if element["type"] in ("external_select", "multi_external_select"):
        return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": str(value)}
    for option in _options(element):
        if option.get("value") == value:
            return option
    offered = [o.get("value") for o in _options(element)]
    raise AssertionError(f"{element.get('action_id')}: no option with value {value!r}; offered: {offered}")


def element_state(element: dict, value: Any) -> dict:
    """`{"type": ..., <the field Slack uses for this element>: ...}` for a simple value."""
    kind = element["type"]
    if isinstance(value, dict) and "type" in value and kind not in ("static_select", "radio_buttons", "overflow"):
        return value
    state: dict[str, Any] = {"type": kind}
    if kind in _TEXT_INPUTS:
        state["value"] = None if value is None else str(value)
    elif kind in ("static_select", "external_select", "radio_buttons", "overflow"):
        state["selected_option"] = None if value is None else _option(element, value)
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        state["selected_options"] = [_option(element, v) for v in (value or [])]
    elif kind == "timepicker":
        state["selected_time"] = value
    elif kind == "datepicker":
        state["selected_date"] = value
    elif kind == "datetimepicker":
        state["selected_date_time"] = None if value is None else int(value)
    elif kind == "users_select":
        state["selected_user"] = value
    elif kind == "multi_users_select":
        state["selected_users"] = list(value or [])
    elif kind == "conversations_select":
        state["selected_conversation"] = value
    elif kind == "multi_conversations_select":
        state["selected_conversations"] = list(value or [])
    elif kind == "channels_select":
        state["selected_channel"] = value
    elif kind == "multi_channels_select":
        state["selected_channels"] = list(value or [])
    else:
        state["value"] = value
    return state


def initial_state(element: dict) -> dict:
    """The state Slack reports for an element the user did not touch."""
    kind = element["type"]
    if kind in _TEXT_INPUTS:
        return {"type": kind, "value": element.get("initial_value")}
    if kind in ("static_select", "external_select", "radio_buttons"):
        return {"type": kind, "selected_option": element.get("initial_option")}
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        return {"type": kind, "selected_options": list(element.get("initial_options") or [])}
    simple = {"timepicker": ("selected_time", "initial_time"), "datepicker": ("selected_date", "initial_date"),
              "datetimepicker": ("selected_date_time", "initial_date_time"),
              "users_select": ("selected_user", "initial_user"),
              "multi_users_select": ("selected_users", "initial_users"),
              "conversations_select": ("selected_conversation", "initial_conversation"),
              "multi_conversations_select": ("selected_conversations", "initial_conversations"),
              "channels_select": ("selected_channel", "initial_channel"),
              "multi_channels_select": ("selected_channels", "initial_channels")}
    if kind in simple:
        field, initial = simple[kind]
        default = [] if field.endswith("s") and kind.startswith("multi") else None
        return {"type": kind, field: element.get(initial, default)}
    return {"type": kind}


def _is_empty(state: dict) -> bool:
    payload = [v for k, v in state.items() if k != "type"]
    return not payload or all(v in (None, "", []) for v in payload)


def build_state(view: dict, values: dict) -> dict:
    """`state.values` for submitting `view` with the given simple values (see SlackDriver.submit_view).

    Inputs not named keep what the user entered before (the view's current state, e.g. after
    `response_action: errors`), else their initial value.
    """
    previous = (view.get("state") or {}).get("values") or {}
    elements = list(iter_elements(view))
    by_block = {b.get("block_id"): b for b, _ in elements}
    wanted: dict[tuple[str, str], Any] = {}
    for key, given in values.items():
        if key in by_block and isinstance(given, dict) and "type" not in given:
            for action_id, value in given.items():
                block = by_block[key]
                if not any(b is block and e.get("action_id") == action_id for b, e in elements):
                    raise AssertionError(f"block {key!r} has no element {action_id!r}")
                wanted[(key, action_id)] = value
            continue
        matches = [(b, e) for b, e in elements if e.get("action_id") == key]
        if len(matches) != 1:
            offered = [(b.get("block_id"), e.get("action_id")) for b, e in elements]
            raise AssertionError(f"{key!r} names no single block or element of the view; "
                                 f"(block_id, action_id) offered: {offered}")
        block, element = matches[0]
        wanted[(block["block_id"], element["action_id"])] = given
    state: dict[str, dict] = {}
    for block, element in elements:
        key = (block["block_id"], element["action_id"])
        if key in wanted:
            element_value = element_state(element, wanted[key])
        elif block.get("type") == "input":
            element_value = (previous.get(key[0]) or {}).get(key[1]) or initial_state(element)
        else:
            continue
        if block.get("type") == "input" and not block.get("optional") and _is_empty(element_value) \
                and element["type"] not in ("checkboxes",):
            label = (block.get("label") or {}).get("text")
            raise AssertionError(f"required input {label!r} ({block['block_id']}) is empty: Slack would not submit")
        state.setdefault(block["block_id"], {})[element["action_id"]] = element_value
    return state


def _reply_body(response: httpx.Response) -> dict | None:
    if not response.content.strip():
        return None
    try:
        body = response.json()
    except ValueError:
        return {"text": response.text}
    return body if isinstance(body, dict) else None


def _action_ts() -> str:
    return f"{time.time():.6f}"
