"""The life of a calendar connection: connect (after OAuth), refresh its calendar list, choose
calendars, disconnect. Handlers (Slack, OAuth) call these; the loops do the rest.

Hand-off to the planner on deselect/disconnect: every event of the calendar is deleted with a
`deleted` change (detail carries provider ids, series, start, meeting_key and meeting_id), in
one transaction. The planner consumes the feed and withdraws bots of meetings no longer backed
by any event; nothing here talks to the recorder.
"""

from __future__ import annotations

import asyncio
import json
import logging

from bot.calendars.base import TokenSet
from bot.context import AppContext
from bot.engine.tokens import ConnectionUnavailable, token_keeper
from storage import calendars as cal_store
from storage import connections as conn_store
from storage import events as event_store
from storage.members import ensure_member

log = logging.getLogger("calbot.connections")

STOP_TIMEOUT_SECONDS = 10.0


async def complete_connection(ctx: AppContext, *, team_id: str, user_id: str, provider_name: str,
                              tokens: TokenSet) -> tuple[dict, list[dict], bool]:
    """After a successful code exchange: find the account, store the grant, list its calendars.
    Returns (connection, calendars, created). Provider errors propagate (nothing is stored then)."""
    provider = ctx.providers[provider_name]
    account = await provider.account_email(tokens)
    remotes = await provider.list_calendars(tokens.access_token)
    member = ensure_member(ctx.db, team_id, user_id, clock=ctx.clock)
    now = ctx.clock.now_iso()
    with event_store.transaction(ctx.db):
        connection_id, created = conn_store.save_connection(
            ctx.db, member_id=member["id"], provider=provider_name, account=account, tokens=tokens,
            cipher=ctx.cipher, clock=ctx.clock)
        gone = cal_store.upsert_remote_calendars(ctx.db, connection_id, remotes)
        _forget_calendars(ctx, gone, team_id=team_id, now=now, reason="calendar_removed")
        cal_store.mark_connection_dirty(ctx.db, connection_id, now=now)
        ctx.db.execute(
            "INSERT INTO audit_log (team_id, actor, action, subject, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
            [team_id, user_id, "calendar.connected" if created else "calendar.reconnected",
             f"{provider_name}:{account}", json.dumps({"connection_id": connection_id}), now])
    _poke(ctx)
    return conn_store.get_connection(ctx.db, connection_id), cal_store.connection_calendars(ctx.db, connection_id), created


async def refresh_calendar_list(ctx: AppContext, connection_id: int, *, timeout: float = 2.5) -> list[dict]:
    """Re-read the account's calendars (new ones appear unselected); on any trouble keep what we have."""
    connection = conn_store.get_connection(ctx.db, connection_id)
    provider = ctx.providers.get(connection["provider"]) if connection else None
    if connection is not None and provider is not None and connection["status"] == "active":
        try:
            remotes = await asyncio.wait_for(
                token_keeper(ctx).call(connection_id, lambda token: provider.list_calendars(token)), timeout)
        except Exception as exc:  # showing the stored list is better than failing the command
            log.info("calendar list of connection %s not refreshed: %s", connection_id, exc)
        else:
            owner = conn_store.connection_owner(ctx.db, connection_id)
            now = ctx.clock.now_iso()
            with event_store.transaction(ctx.db):
                gone = cal_store.upsert_remote_calendars(ctx.db, connection_id, remotes)
                _forget_calendars(ctx, gone, team_id=owner and owner["team_id"], now=now, reason="calendar_removed")
    return cal_store.connection_calendars(ctx.db, connection_id)


def select_calendars(ctx: AppContext, *, member_id: int, connection_id: int, shown: list[int],
                     chosen: list[int]) -> tuple[list[int], list[int]]:
    """Apply a checkbox click: of the calendars `shown` in that block, `chosen` are selected.
    Only the member's own calendars are touched. Returns (newly selected, newly deselected)."""
    connection = conn_store.get_connection(ctx.db, connection_id)
    if connection is None or connection["member_id"] != member_id:
        return [], []
    own = {c["id"] for c in cal_store.connection_calendars(ctx.db, connection_id)}
    shown_own = [i for i in shown if i in own]
    chosen_set = set(chosen)
    now = ctx.clock.now_iso()
    owner = conn_store.connection_owner(ctx.db, connection_id)
    with event_store.transaction(ctx.db):
        on = cal_store.set_selected(ctx.db, [i for i in shown_own if i in chosen_set], True, now=now)
        off = cal_store.set_selected(ctx.db, [i for i in shown_own if i not in chosen_set], False, now=now)
        for calendar_id in off:
            # Its events leave the store (with `deleted` changes); a later re-selection resyncs fully.
            event_store.delete_calendar_events(ctx.db, calendar_id=calendar_id, team_id=owner["team_id"], now=now,
                                               reason="calendar_deselected")
            ctx.db.execute("UPDATE calendars SET sync_token = NULL, page_token = NULL WHERE id = ?", [calendar_id])
    _poke(ctx)
    return on, off


async def disconnect(ctx: AppContext, connection_id: int) -> int:
    """Stop syncing at once, withdraw the connection's meetings (deleted changes), stop its push
    channels at the provider (best effort, bounded), then delete the tokens and the connection.
    Returns how many events were removed."""
    from bot.engine.push import PushManager

    connection = conn_store.get_connection(ctx.db, connection_id)
    if connection is None:
        return 0
    owner = conn_store.connection_owner(ctx.db, connection_id)
    calendars = cal_store.connection_calendars(ctx.db, connection_id)
    now = ctx.clock.now_iso()
    # The connection stays 'active' for the stop calls below; deselecting its calendars stops the syncer.
    removed = 0
    with event_store.transaction(ctx.db):
        for cal in calendars:
            removed += event_store.delete_calendar_events(ctx.db, calendar_id=cal["id"], team_id=owner["team_id"],
                                                          now=now, reason="disconnected")
        ctx.db.execute("UPDATE calendars SET selected = 0 WHERE connection_id = ?", [connection_id])
        ctx.db.execute(
            "INSERT INTO audit_log (team_id, actor, action, subject, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
            [owner["team_id"], owner["user_id"], "calendar.disconnected",
             f"{connection['provider']}:{connection['account']}", json.dumps({"events_removed": removed}), now])
    ctx.engine.poke("planner")
    pushes = PushManager(ctx)
    try:
        await asyncio.wait_for(_stop_all(pushes, calendars), STOP_TIMEOUT_SECONDS)
    except (asyncio.TimeoutError, ConnectionUnavailable):
        log.info("disconnect: some push channels of connection %s are left to expire", connection_id)
    # No revocation at the provider: a grant is per (account, OAuth client), so revoking would also
    # cut off the same account connected by another member or workspace. Deleting our copy is enough.
    ctx.db.execute("UPDATE push_channels SET status = 'stopped' WHERE calendar_id IN "
                   "(SELECT id FROM calendars WHERE connection_id = ?) AND status != 'stopped'", [connection_id])
    conn_store.delete_connection(ctx.db, connection_id)
    return removed


async def _stop_all(pushes, calendars: list[dict]) -> None:
    for cal in calendars:
        await pushes.stop_calendar_channels(cal["id"])


def _forget_calendars(ctx: AppContext, calendar_ids: list[int], *, team_id: str | None, now: str, reason: str) -> None:
    """Calendars the account no longer lists: their events go (with changes), then the rows.
    Call inside a transaction."""
    for calendar_id in calendar_ids:
        event_store.delete_calendar_events(ctx.db, calendar_id=calendar_id, team_id=team_id, now=now, reason=reason)
        ctx.db.execute("UPDATE push_channels SET status = 'stopping' WHERE calendar_id = ? AND status = 'active'",
                       [calendar_id])
        ctx.db.execute("DELETE FROM calendars WHERE id = ?", [calendar_id])


def _poke(ctx: AppContext) -> None:
    for loop in ("syncer", "push", "planner", "notifier"):
        ctx.engine.poke(loop)
