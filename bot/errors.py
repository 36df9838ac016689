"""One way to turn a failure into a friendly message for a person and a log line for the operator.

Both carry the same short reference id, so "it says ref K7Q2XZ" finds the log line at once.
"""

from __future__ import annotations

import logging
import secrets

log = logging.getLogger("calbot.errors")

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I: read aloud without mistakes


class UserError(Exception):
    """Something the person can fix; the message is shown to them as it is."""


def reference_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(6))


def report_failure(exc: BaseException, *, where: str, **context) -> str:
    """Log an unexpected failure with a fresh reference id and return the person-facing text."""
    ref = reference_id()
    log.error("%s failed: %s", where, exc, exc_info=exc, extra={"ref": ref, "where": where, **context})
    return f"Sorry, something went wrong on our side. If it keeps happening, tell your admin: ref {ref}."
