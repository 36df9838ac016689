"""Slack listeners, grouped by kind (commands, actions, views, events); each module has `register`."""

from __future__ import annotations


def register_all(app, ctx) -> None:
    from handlers.slack import commands

    commands.register(app, ctx)
