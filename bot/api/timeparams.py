"""Reading times that API clients send: ISO 8601, with an offset or 'Z', naive meaning UTC."""

from __future__ import annotations

from datetime import datetime

from bot.api.errors import ApiError
from bot.timeutil import parse_iso, to_iso

# Anything outside this range is a mistake, and years before 1000 would not sort as text.
EARLIEST_YEAR = 1970
LATEST_YEAR = 2200


def parse_time(value: str, name: str) -> datetime:
    """A UTC datetime, or 422 naming the parameter and the expected form."""
    try:
        moment = parse_iso(value)
    except (ValueError, TypeError, OverflowError):
        raise ApiError(422, f"{name}: not an ISO 8601 date-time (e.g. 2025-06-01T09:30:00Z): {value[:64]!r}") \
            from None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ApiError(422, f"{name}: out of range ({EARLIEST_YEAR}-{LATEST_YEAR})")
    return moment


def parse_time_iso(value: str | None, name: str) -> str | None:
    """As parse_time, in the stored text form; None stays None."""
    return None if value is None else to_iso(parse_time(value, name))
