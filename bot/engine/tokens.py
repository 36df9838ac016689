"""Access tokens for calendar connections: refreshed before they expire, rotated refresh tokens
kept, and a revoked grant turned into `needs_reauth` with exactly one DM.

One `TokenKeeper` per app (`token_keeper(ctx)`), so the syncer, the push manager and the
handlers share one lock per connection: two concurrent refreshes with the same refresh token
could otherwise invalidate each other where providers rotate refresh tokens.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Awaitable, Callable, TypeVar

from bot.calendars.base import AccessTokenRejected, AuthRevoked, ProviderError
from bot.context import AppContext
from bot.views.connections import reauth_dm
from storage import connections as store
from storage.events import transaction
from storage.outbox import post_message

log = logging.getLogger("calbot.tokens")

REFRESH_MARGIN = timedelta(minutes=5)
T = TypeVar("T")


class ConnectionUnavailable(Exception):
    """The connection is not active (needs reconnecting, disconnected, or gone): don't call out."""


class TokenKeeper:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._locks: dict[int, asyncio.Lock] = {}
        self._limits: dict[int, asyncio.Semaphore] = {}

    def limiter(self, connection_id: int, size: int = 4) -> asyncio.Semaphore:
        """Concurrent provider calls per mailbox (Graph throttles above 4 per mailbox)."""
        sem = self._limits.get(connection_id)
        if sem is None:
            sem = self._limits[connection_id] = asyncio.Semaphore(size)
        return sem

    async def access_token(self, connection_id: int, *, force_refresh: bool = False) -> str:
        """A usable access token, refreshed when it expires within 5 minutes (or when forced)."""
        connection = self._active(connection_id)
        if not force_refresh and not store.token_expiring(connection, now=self.ctx.clock.now(), margin=REFRESH_MARGIN):
            return self.ctx.cipher.decrypt(connection["access_token_enc"])
        lock = self._locks.setdefault(connection_id, asyncio.Lock())
        stale_access = connection["access_token_enc"]
        async with lock:
            connection = self._active(connection_id)
            # Someone else refreshed while we waited for the lock: use theirs.
            if connection["access_token_enc"] != stale_access and not store.token_expiring(
                    connection, now=self.ctx.clock.now(), margin=REFRESH_MARGIN):
                return self.ctx.cipher.decrypt(connection["access_token_enc"])
            provider = self.ctx.providers.get(connection["provider"])
            if provider is None:
                raise ConnectionUnavailable(f"{connection['provider']} is not configured")
            refresh_token = self.ctx.cipher.decrypt(connection["refresh_token_enc"])
            if not refresh_token:
                self.revoked(connection_id, "no refresh token was granted")
                raise ConnectionUnavailable("no refresh token")
            try:
                tokens = await provider.refresh(refresh_token)
            except AuthRevoked as exc:
                self.revoked(connection_id, str(exc))
                raise
            store.store_tokens(self.ctx.db, connection_id, tokens, cipher=self.ctx.cipher, clock=self.ctx.clock)
            return tokens.access_token

    async def call(self, connection_id: int, fn: Callable[[str], Awaitable[T]]) -> T:
        """Run `fn(access_token)`; when the provider rejects the token (401), refresh once and retry;
        when it says the grant is gone, mark the connection and DM its owner (once)."""
        token = await self.access_token(connection_id)
        async with self.limiter(connection_id):
            try:
                return await fn(token)
            except AccessTokenRejected:
                pass
            except AuthRevoked as exc:
                self.revoked(connection_id, str(exc))
                raise
        token = await self.access_token(connection_id, force_refresh=True)
        async with self.limiter(connection_id):
            try:
                return await fn(token)
            except (AccessTokenRejected, AuthRevoked) as exc:
                # A fresh token refused too: the consent is gone even if the refresh still works.
                self.revoked(connection_id, str(exc))
                raise AuthRevoked(str(exc), status=exc.status) from None

    def revoked(self, connection_id: int, error: str) -> bool:
        """Turn the connection to needs_reauth and queue one reconnect DM per breakage (keyed
        `reauth:<connection id>:<n>`, n counting breakages), in one transaction: a crash can't
        leave a broken connection without its DM, and retries can't send a second one."""
        ctx = self.ctx
        with transaction(ctx.db):
            stamp = store.mark_needs_reauth(ctx.db, connection_id, error=error, clock=ctx.clock)
            if stamp is None:
                return False
            connection = store.get_connection(ctx.db, connection_id)
            owner = store.connection_owner(ctx.db, connection_id)
            if connection is not None and owner is not None:
                n = 1 + ctx.db.execute("SELECT COUNT(*) FROM outbox WHERE dedup_key LIKE ?",
                                       [f"reauth:{connection_id}:%"]).fetchone()[0]
                post_message(ctx.db, key=f"reauth:{connection_id}:{n}", team_id=owner["team_id"], kind="slack.dm",
                             target=owner["user_id"], payload=reauth_dm(connection), clock=ctx.clock)
        log.warning("connection %s needs reconnecting: %s", connection_id, error,
                    extra={"connection_id": connection_id, "provider": connection and connection["provider"]})
        ctx.engine.poke("notifier")
        return True

    def _active(self, connection_id: int) -> dict:
        connection = store.get_connection(self.ctx.db, connection_id)
        if connection is None or connection["status"] != "active":
            raise ConnectionUnavailable(f"connection {connection_id} is "
                                        f"{'gone' if connection is None else connection['status']}")
        return connection


def token_keeper(ctx: AppContext) -> TokenKeeper:
    """The app's one TokenKeeper (kept on the context so every user shares its locks)."""
    keeper = getattr(ctx, "_token_keeper", None)
    if keeper is None:
        keeper = TokenKeeper(ctx)
        ctx._token_keeper = keeper  # AppContext is a plain dataclass; this is the app's singleton slot
    return keeper


__all__ = ["ConnectionUnavailable", "TokenKeeper", "token_keeper", "ProviderError", "REFRESH_MARGIN"]
