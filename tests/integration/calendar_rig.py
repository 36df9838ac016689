"""In-process calbot contexts wired to the calendar fakes, for sync and connection tests.

Not a test module: helpers shared by test_sync_*.py, test_connections*.py and the state machine.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.calendars.base import TokenSet
from bot.config import load_settings
from bot.crypto import new_secret_key
from bot.engine.connections import complete_connection
from bot.server import build_context
from bot.timeutil import Clock


def make_ctx(tmp_path: Path, *fakes, clock: Clock | None = None, name: str = "calbot.db", **overrides):
    """An AppContext on a fresh database whose providers are the given fakes."""
    settings_kwargs = {
        "calbot_database": str(tmp_path / name),
        "calbot_secret_key": new_secret_key(),
        "calbot_public_url": "http://127.0.0.1:9",
        "calbot_push": "off",
        "_env_file": None,
    }
    for fake in fakes:
        settings_kwargs.update(fake.settings_overrides())
    settings_kwargs.update(overrides)
    settings = load_settings(**settings_kwargs)
    return build_context(settings, clock)


def token_set(grant: dict, clock: Clock) -> TokenSet:
    return TokenSet(
        access_token=grant["access_token"],
        refresh_token=grant.get("refresh_token"),
        expires_at=clock.now() + timedelta(seconds=int(grant.get("expires_in", 3600))),
        scope=grant.get("scope"),
        id_token=grant.get("id_token"),
    )


async def connect(ctx, fake, account: str, *, provider: str, team_id: str = "T1", user_id: str = "U1"):
    """Connect `account` as the OAuth callback would (tokens straight from the fake's `grant`)."""
    tokens = token_set(fake.grant(account), ctx.clock)
    connection, calendars, _ = await complete_connection(ctx, team_id=team_id, user_id=user_id,
                                                         provider_name=provider, tokens=tokens)
    return connection, calendars


async def close_ctx(ctx) -> None:
    for provider in ctx.providers.values():
        await provider.aclose()
    await ctx.http.aclose()
    ctx.db.close()
