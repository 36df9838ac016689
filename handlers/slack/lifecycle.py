"""The app leaves a workspace: `tokens_revoked` (bot token) and `app_uninstalled`.

calbot marks the workspace uninstalled (loops stop working for it: no digests, no Home
publishing, the gateway hands out no client), deletes the stored installation (multi-workspace
mode) and cancels the Slack messages still waiting in the outbox — they could never be posted.
Using calbot again there (a reinstall, a slash command) marks it installed again.
"""

from __future__ import annotations

import json
import logging

from bot.context import AppContext

log = logging.getLogger("calbot.slack.lifecycle")


async def forget_workspace(ctx: AppContext, team_id: str, *, reason: str) -> None:
    now = ctx.clock.now_iso()
    ctx.db.execute("UPDATE workspaces SET uninstalled_at = COALESCE(uninstalled_at, ?) WHERE team_id = ?",
                   [now, team_id])
    cancelled = ctx.db.execute(
        "UPDATE outbox SET status = 'cancelled', last_error = ? WHERE team_id = ? AND kind LIKE 'slack.%' "
        "AND status IN ('pending', 'sending')", [f"app {reason}", team_id]).rowcount
    ctx.db.execute("UPDATE outbox SET needs_update = 0 WHERE team_id = ? AND kind LIKE 'slack.%' AND needs_update = 1",
                   [team_id])
    ctx.db.execute("INSERT INTO audit_log (team_id, actor, action, subject, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
                   [team_id, "slack", f"slack.{reason}", team_id, json.dumps({"outbox_cancelled": cancelled}), now])
    store = getattr(ctx.slack, "installation_store", None) if ctx.slack else None
    if store is not None:
        # slack-sdk's SQLite store implements only the synchronous deletes
        store.delete_all(enterprise_id=None, team_id=team_id)
    log.info("slack: %s in %s; %d pending messages cancelled", reason, team_id, cancelled,
             extra={"team_id": team_id})


def register(app, ctx: AppContext) -> None:
    @app.event("tokens_revoked")
    async def tokens_revoked(body, event):
        if (event.get("tokens") or {}).get("bot"):
            await forget_workspace(ctx, body.get("team_id"), reason="tokens_revoked")

    @app.event("app_uninstalled")
    async def app_uninstalled(body):
        await forget_workspace(ctx, body.get("team_id"), reason="uninstalled")
