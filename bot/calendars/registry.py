"""Which calendar providers this calbot can talk to, built once from settings.

A provider is on when its OAuth client is configured (GOOGLE_CLIENT_ID/SECRET,
MICROSOFT_CLIENT_ID/SECRET); the others are simply absent from `ctx.providers`, and
`/calbot connect <provider>` says plainly that it isn't set up.
"""

from __future__ import annotations

import importlib
import logging

import httpx

from bot.config import Settings
from bot.timeutil import Clock

log = logging.getLogger("calbot.calendars")

# provider name -> (module, class) of its adapter
ADAPTERS = {
    "google": ("bot.calendars.google", "GoogleCalendar"),
    "microsoft": ("bot.calendars.microsoft", "MicrosoftCalendar"),
}


def build_providers(settings: Settings, http: httpx.AsyncClient | None = None, *,
                    clock: Clock | None = None) -> dict:
    """name -> CalendarProvider for every configured provider."""
    providers = {}
    for name, (module_name, class_name) in ADAPTERS.items():
        if not settings.integration(name).enabled:
            continue
        try:
            adapter_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:  # an adapter not shipped in this build
            log.warning("%s: configured but its adapter is unavailable (%s)", name, exc)
            continue
        providers[name] = adapter_class(settings, http, clock=clock)
    return providers
