"""Builds the Bolt `AsyncApp` for the configured install mode and registers every listener.

Single-workspace: SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET. Multi-workspace: SLACK_CLIENT_ID +
SLACK_CLIENT_SECRET + SLACK_SIGNING_SECRET, installations kept by slack-sdk's SQLite store in our
database file. Bolt verifies every request's signature and timestamp (forged → 401).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from bot.context import AppContext
from bot.slack_gateway import SlackGateway, make_client, slack_oauth_authorize_url
from bot.timeutil import to_iso
from storage.members import ensure_workspace

log = logging.getLogger("calbot.slack")

# Least privilege: what the listeners and loops actually use. manifest.yml lists the same and says
# why each is needed; tests/unit/test_manifest.py keeps the two (and the code) in step.
BOT_SCOPES = [
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "im:history",
    "users:read",
    "channels:read",
    "groups:read",
]


def build_slack_app(ctx: AppContext) -> AsyncApp | None:
    """The Bolt app, or None when Slack is not configured (then /slack/events answers 503)."""
    settings = ctx.settings
    if not ctx.settings.integration("slack").enabled:
        return None
    if settings.slack_bot_token:
        app = AsyncApp(
            process_before_response=True,  # with handlers/slack/ack_first.py: answers at ack()
            token=settings.slack_bot_token,
            signing_secret=settings.slack_signing_secret,
            client=make_client(settings, settings.slack_bot_token),
            logger=log,
        )
        ctx.slack = SlackGateway(settings, db=ctx.db)
    else:
        installation_store = SQLite3InstallationStore(
            database=settings.calbot_database, client_id=settings.slack_client_id
        )
        oauth_settings = AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=BOT_SCOPES,
            redirect_uri=f"{settings.public_url}/slack/oauth_redirect",
            install_path="/slack/install",
            redirect_uri_path="/slack/oauth_redirect",
            authorization_url=slack_oauth_authorize_url(settings),
            installation_store=installation_store,
            state_store=InstallStateStore(ctx, expiration_seconds=600),
            callback_options=_install_callbacks(ctx),
        )
        app = AsyncApp(
            process_before_response=True,  # with handlers/slack/ack_first.py: answers at ack()
            signing_secret=settings.slack_signing_secret,
            oauth_settings=oauth_settings,
            # given here too so that Bolt's authorize (and its token rotation) uses our client and
            # so our Slack API base URL, not slack.com
            installation_store=installation_store,
            client=make_client(settings, None),
            logger=log,
        )
        rotator = AsyncTokenRotator(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            client=make_client(settings, None),
        )
        ctx.slack = SlackGateway(settings, installation_store=installation_store, token_rotator=rotator, db=ctx.db)

    from handlers.slack import ack_first, register_all

    register_all(app, ctx)
    ctx.slack_gate = ack_first.QuietGate()
    ack_first.install(app, ctx.slack_gate)
    return app


class InstallStateStore(AsyncOAuthStateStore):
    """The install flow's single-use `state`, in our database (table slack_oauth_states)."""

    def __init__(self, ctx: AppContext, expiration_seconds: int = 600):
        self.ctx = ctx
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(24)
        now = self.ctx.clock.now()
        self.ctx.db.execute("DELETE FROM slack_oauth_states WHERE expires_at < ?", [to_iso(now)])
        self.ctx.db.execute("INSERT INTO slack_oauth_states (state, expires_at) VALUES (?, ?)",
                            [state, to_iso(now + timedelta(seconds=self.expiration_seconds))])
        return state

    async def async_consume(self, state: str) -> bool:
        return self.ctx.db.execute("DELETE FROM slack_oauth_states WHERE state = ? AND expires_at > ?",
                                   [state, self.ctx.clock.now_iso()]).rowcount == 1


def _install_callbacks(ctx: AppContext) -> AsyncCallbackOptions:
    """After an install, the workspace is (again) one calbot works for; Bolt's pages otherwise."""

    async def success(args: AsyncSuccessArgs):
        installation = args.installation
        ensure_workspace(ctx.db, installation.team_id, clock=ctx.clock, name=installation.team_name)
        log.info("slack: installed in %s", installation.team_id, extra={"team_id": installation.team_id})
        return await args.default.success(args)

    async def failure(args: AsyncFailureArgs):
        log.warning("slack: install failed: %s", args.reason, extra={"reason": args.reason})
        return await args.default.failure(args)

    return AsyncCallbackOptions(success=success, failure=failure)
