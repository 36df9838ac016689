"""Which loops the engine runs, and how often. One place, so the whole engine reads at a glance."""

from __future__ import annotations

from bot.context import AppContext


def register_loops(ctx: AppContext) -> None:
    """Add every engine loop to `ctx.engine`."""
    from bot.engine.notifier import Notifier
    from bot.engine.checkpoints import Checkpointer

    # SQLite's WAL is folded back into the database from a worker thread, never inside a commit.
    ctx.engine.add("checkpoint", Checkpointer(ctx).step, interval=10.0)

    ctx.engine.add("notifier", Notifier(ctx).step, interval=2.0)

    # Outbound webhooks: changes and bot states → signed deliveries (bot/engine/webhooks_out.py).
    from bot.engine.webhooks_out import WebhookDeliverer, WebhookProducer

    ctx.engine.add("webhooks.produce", WebhookProducer(ctx).step, interval=2.0)
    ctx.engine.add("webhooks.deliver", WebhookDeliverer(ctx).step, interval=2.0)

    # Calendar sync (bot/engine/syncer.py): dirty (pushed), scheduled (poll / 30-min sweep) and
    # interrupted calendars → events + the change feed. Push channels (bot/engine/push.py): one
    # healthy Google watch / Graph subscription per selected calendar when push is on.
    from bot.engine.push import PushManager
    from bot.engine.syncer import Syncer

    ctx.engine.add("syncer", Syncer(ctx).step, interval=5.0)
    ctx.engine.add("push", PushManager(ctx).step, interval=60.0)

    # The Slack experience (issue 6): daily digests at each member's local time (exactly once per
    # member and day), App Homes republished when a member's data changes (throttled), Slack
    # profiles (time zone, admin) refreshed daily.
    from bot.engine.digests import DigestSender
    from bot.engine.home import HomePublisher
    from bot.engine.profiles import ProfileRefresher

    ctx.engine.add("digests", DigestSender(ctx).step, interval=30.0)
    ctx.engine.add("home", HomePublisher(ctx).step, interval=2.0)
    ctx.engine.add("profiles", ProfileRefresher(ctx).step, interval=300.0)

    # Decide and schedule (issue 5): the change feed and people's choices → each meeting's
    # desired state and approval DMs (planner); desired bots → the recorder (reconciler).
    from bot.engine.planner import Planner
    from bot.engine.reconciler import Reconciler

    # Idle, a planner step is a few indexed reads: every 2 s costs nothing and means a change
    # that nobody poked about (an expiring approval, a time-based re-plan) waits 2 s, not 10.
    ctx.engine.add("planner", Planner(ctx).step, interval=2.0)
    ctx.engine.add("reconciler", Reconciler(ctx).step, interval=15.0)
