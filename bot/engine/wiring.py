"""Which loops the engine runs, and how often. One place, so the whole engine reads at a glance."""

from __future__ import annotations

from bot.context import AppContext


def register_loops(ctx: AppContext) -> None:
    """Add every engine loop to `ctx.engine`."""
    from bot.engine.notifier import Notifier

    ctx.engine.add("notifier", Notifier(ctx).step, interval=2.0)
