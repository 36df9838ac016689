"""Small pieces both calendar adapters need: reading answers, Retry-After, who counts as external."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx
import orjson

from bot.calendars.base import ProviderError


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or an HTTP date), if there is one."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


def read_json(response: httpx.Response, service: str) -> dict:
    """The JSON object of an answer, or a ProviderError naming `service` when it isn't one."""
    try:
        # Provider pages are the bulk of a sync's bytes: orjson decodes them ~2.5x faster than
        # json; what it refuses (e.g. an integer past 64 bits) still gets the standard reader.
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = response.json()
    except ValueError:
        raise ProviderError(f"{service} sent an unreadable answer", status=response.status_code) from None
    if not isinstance(data, dict):
        raise ProviderError(f"{service} sent an unexpected answer", status=response.status_code)
    return data


def permanent(error: ProviderError) -> ProviderError:
    error.transient = False
    return error


def internal_domains(domains: frozenset[str], account_email: str) -> frozenset[str]:
    """The workspace's domains; when none are configured, the account's own domain."""
    if domains:
        return frozenset(d.lower().lstrip("@") for d in domains)
    own = account_email.rpartition("@")[2].lower()
    return frozenset({own}) if own else frozenset()


def is_external(email: str, internal: frozenset[str]) -> bool:
    """An address outside the internal domains (subdomains of them count as internal)."""
    domain = email.rpartition("@")[2].lower()
    if not domain or not internal or domain in internal:
        return False
    return not any(domain.endswith("." + d) for d in internal)
