"""calbot's engine in-process, driven step by step: a calendar fake → syncer → planner → reconciler
→ Meeting BaaS fake. The integration tests of deciding, scheduling and notices build on it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.engine.planner import Planner
from bot.engine.reconciler import Reconciler
from bot.engine.syncer import Syncer


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    day = datetime.now(timezone.utc) + timedelta(days=1)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


class EngineWorld:
    def __init__(self, ctx, google, recorder):
        self.ctx, self.google, self.recorder = ctx, google, recorder
        self.syncer, self.planner, self.reconciler = Syncer(ctx), Planner(ctx), Reconciler(ctx)

    async def converge(self):
        """Every calendar synced now, then planner and reconciler stepped until both are idle."""
        self.ctx.db.execute("UPDATE calendars SET next_sync_at = NULL, dirty_at = ?", [self.ctx.clock.now_iso()])
        await self.syncer.sync_due()
        for _ in range(20):
            busy = await self.planner.step()
            busy = await self.reconciler.step() or busy
            if not busy:
                break
