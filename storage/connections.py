"""Calendar connections (one OAuth grant each) and the single-use OAuth states that create them.

Tokens are stored encrypted (`*_enc`); callers pass a `TokenCipher`. A member may connect several
accounts; connecting the same (provider, account) again updates the existing row, so the
calendars, their sync state and every decision attached to their events survive a reconnect.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from bot.calendars.base import TokenSet
from bot.crypto import TokenCipher
from bot.timeutil import Clock, to_iso

OAUTH_STATE_SECONDS = 600


# -- OAuth states ------------------------------------------------------------------------------

def create_oauth_state(db: sqlite_utils.Database, *, nonce: str, team_id: str, user_id: str, provider: str,
                       clock: Clock, seconds: int = OAUTH_STATE_SECONDS) -> None:
    now = clock.now()
    db.execute(
        "INSERT INTO oauth_states (nonce, team_id, user_id, provider, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        [nonce, team_id, user_id, provider, to_iso(now), to_iso(now + timedelta(seconds=seconds))],
    )


def find_oauth_state(db: sqlite_utils.Database, nonce: str) -> dict | None:
    rows = list(db.query("SELECT * FROM oauth_states WHERE nonce = ?", [nonce]))
    return rows[0] if rows else None


def store_code_verifier(db: sqlite_utils.Database, nonce: str, verifier_enc: str) -> None:
    db.execute("UPDATE oauth_states SET code_verifier_enc = ? WHERE nonce = ? AND used_at IS NULL",
               [verifier_enc, nonce])


def consume_oauth_state(db: sqlite_utils.Database, nonce: str, *, clock: Clock) -> bool:
    """Mark the state used; True only for the first use of an unexpired state."""
    now = clock.now_iso()
    cursor = db.execute(
        "UPDATE oauth_states SET used_at = ? WHERE nonce = ? AND used_at IS NULL AND expires_at > ?",
        [now, nonce, now],
    )
    return cursor.rowcount == 1


def purge_oauth_states(db: sqlite_utils.Database, *, clock: Clock, older_than_days: int = 1) -> int:
    cutoff = to_iso(clock.now() - timedelta(days=older_than_days))
    return db.execute("DELETE FROM oauth_states WHERE expires_at < ?", [cutoff]).rowcount


# -- connections -------------------------------------------------------------------------------

def save_connection(db: sqlite_utils.Database, *, member_id: int, provider: str, account: str, tokens: TokenSet,
                    cipher: TokenCipher, clock: Clock) -> tuple[int, bool]:
    """Create or refresh the connection for (member, provider, account). Returns (id, created).

    A reconnect clears any breakage (`needs_reauth`), so the next break DMs again.
    """
    now = clock.now_iso()
    existing = db.execute(
        "SELECT id, refresh_token_enc FROM connections WHERE member_id = ? AND provider = ? AND account = ?",
        [member_id, provider, account],
    ).fetchone()
    access_enc = cipher.encrypt(tokens.access_token)
    refresh_enc = cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None
    expires = to_iso(tokens.expires_at) if tokens.expires_at else None
    if existing is None:
        cursor = db.execute(
            "INSERT INTO connections (member_id, provider, account, status, access_token_enc, refresh_token_enc, "
            "token_expires_at, scopes, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)",
            [member_id, provider, account, access_enc, refresh_enc, expires, tokens.scope, now, now],
        )
        return cursor.lastrowid, True
    # Providers may omit the refresh token on a re-consent: keep the one we have then.
    db.execute(
        "UPDATE connections SET status = 'active', access_token_enc = ?, "
        "refresh_token_enc = COALESCE(?, refresh_token_enc), token_expires_at = ?, scopes = COALESCE(?, scopes), "
        "last_error = NULL, reauth_notified_at = NULL, updated_at = ? WHERE id = ?",
        [access_enc, refresh_enc, expires, tokens.scope, now, existing[0]],
    )
    return existing[0], False


def get_connection(db: sqlite_utils.Database, connection_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM connections WHERE id = ?", [connection_id]))
    return rows[0] if rows else None


def member_connections(db: sqlite_utils.Database, member_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM connections WHERE member_id = ? ORDER BY provider, account, id", [member_id]))


def find_member_connections(db: sqlite_utils.Database, member_id: int, account: str) -> list[dict]:
    """Connections of a member matching `account` ("ana@acme.com" or "google:ana@acme.com")."""
    provider = None
    text = account.strip().strip("<>").lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:"):]
    if "|" in text:  # Slack may send <mailto:a@b|a@b>
        text = text.split("|", 1)[1]
    if ":" in text:
        provider, text = text.split(":", 1)
    return [c for c in member_connections(db, member_id)
            if c["account"].lower() == text and (provider is None or c["provider"] == provider)]


def store_tokens(db: sqlite_utils.Database, connection_id: int, tokens: TokenSet, *, cipher: TokenCipher,
                 clock: Clock) -> None:
    """After a refresh: the new access token, and the rotated refresh token when one came back."""
    db.execute(
        "UPDATE connections SET access_token_enc = ?, refresh_token_enc = COALESCE(?, refresh_token_enc), "
        "token_expires_at = ?, updated_at = ? WHERE id = ?",
        [cipher.encrypt(tokens.access_token),
         cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
         to_iso(tokens.expires_at) if tokens.expires_at else None, clock.now_iso(), connection_id],
    )


def mark_needs_reauth(db: sqlite_utils.Database, connection_id: int, *, error: str, clock: Clock) -> str | None:
    """Turn an active connection to `needs_reauth`. Returns the breakage stamp when this call made
    the transition (the caller DMs exactly once per breakage), None when it was already broken."""
    now = clock.now_iso()
    cursor = db.execute(
        "UPDATE connections SET status = 'needs_reauth', last_error = ?, reauth_notified_at = ?, updated_at = ? "
        "WHERE id = ? AND status = 'active'",
        [error[:500], now, now, connection_id],
    )
    return now if cursor.rowcount == 1 else None


def set_connection_error(db: sqlite_utils.Database, connection_id: int, error: str | None, *, clock: Clock) -> None:
    db.execute("UPDATE connections SET last_error = ?, updated_at = ? WHERE id = ?",
               [error[:500] if error else None, clock.now_iso(), connection_id])


def mark_disconnected(db: sqlite_utils.Database, connection_id: int, *, clock: Clock) -> None:
    db.execute("UPDATE connections SET status = 'disconnected', updated_at = ? WHERE id = ?",
               [clock.now_iso(), connection_id])


def delete_connection(db: sqlite_utils.Database, connection_id: int) -> None:
    """Forget the grant: tokens, calendars (events were removed first, with `deleted` changes)."""
    db.execute("DELETE FROM connections WHERE id = ?", [connection_id])


def token_expiring(connection: dict, *, now: datetime, margin: timedelta) -> bool:
    expires = connection.get("token_expires_at")
    if not connection.get("access_token_enc"):
        return True
    return expires is not None and expires <= to_iso(now + margin)


def connection_owner(db: sqlite_utils.Database, connection_id: int) -> dict | None:
    """(team_id, user_id, member_id) of the member who owns a connection."""
    rows = list(db.query(
        "SELECT m.team_id, m.user_id, m.id AS member_id FROM connections c JOIN members m ON m.id = c.member_id "
        "WHERE c.id = ?", [connection_id]))
    return rows[0] if rows else None
