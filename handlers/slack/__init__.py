"""Slack listeners, grouped by kind, one module each (commands, actions, views, events).

Every module in this package is imported at start-up; those with `register(app, ctx)` add their
listeners, and `/calbot` subcommand modules register with `@subcommand(...)` as they import.
"""

from __future__ import annotations

import handlers.slack as _package
from handlers.discovery import package_modules


def register_all(app, ctx) -> None:
    for module in package_modules(_package):
        if module.__name__ == "handlers.slack.app":
            continue
        register = getattr(module, "register", None)
        if callable(register):
            register(app, ctx)
