"""Slack Web API clients for background work, in single-workspace and multi-workspace modes.

Handlers get a client from Bolt; loops (digests, notices, approvals) ask this gateway for the
team's client, which finds the bot token in the installation store (rotating it when needed).
"""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings


def make_client(settings: Settings, token: str | None) -> AsyncWebClient:
    """A client for our Slack base URL that waits out 429s as Slack's Retry-After says."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
    )


def slack_oauth_authorize_url(settings: Settings) -> str:
    """Slack's authorize page lives beside its API: https://slack.com/oauth/v2/authorize."""
    base = settings.slack_api_url
    base = base[: -len("api/")] if base.endswith("api/") else base
    return base + "oauth/v2/authorize"


class SlackGateway:
    def __init__(self, settings: Settings, installation_store=None, token_rotator=None, db=None):
        self.settings = settings
        self.db = db  # when given, a workspace marked uninstalled gets no client
        self.installation_store = installation_store
        self.token_rotator = token_rotator
        self._single = make_client(settings, settings.slack_bot_token) if settings.slack_bot_token else None

    async def client_for(self, team_id: str | None) -> AsyncWebClient | None:
        """The client to act in `team_id`, or None when calbot is not installed there."""
        if self.db is not None and team_id is not None and self.db.execute(
                "SELECT 1 FROM workspaces WHERE team_id = ? AND uninstalled_at IS NOT NULL", [team_id]).fetchone():
            return None
        if self._single is not None:
            return self._single
        if self.installation_store is None or team_id is None:
            return None
        bot = await self.installation_store.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            return None
        if self.token_rotator is not None and bot.bot_refresh_token:
            refreshed = await self.token_rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=10
            )
            if refreshed is not None:
                await self.installation_store.async_save_bot(refreshed)
                bot = refreshed
        return make_client(self.settings, bot.bot_token)
