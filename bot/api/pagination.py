"""Opaque cursors for keyset pagination: the sort key of the last item, base64url-encoded.

Keyset (not offset) pagination stays correct while events are inserted or deleted between pages.
A cursor is opaque to clients; a tampered one can at worst start a page elsewhere in the caller's
own data, since every query is scoped to the caller.
"""

from __future__ import annotations

import base64
import binascii
import json

from bot.api.errors import ApiError
from bot.timeutil import parse_iso

MAX_CURSOR_LENGTH = 400
MAX_ID = 2 ** 62


def encode_cursor(sort_value: str, row_id: int) -> str:
    raw = json.dumps([sort_value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(sort value, id) of the item a page ends with; 400 for anything we did not make."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_value, row_id = json.loads(raw)
        if not isinstance(sort_value, str) or type(row_id) is not int or not 0 <= row_id < MAX_ID:
            raise ValueError("bad shape")
        parse_iso(sort_value)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise ApiError(400, "invalid cursor: pass back the next_cursor of a previous page unchanged") from None
    return sort_value, row_id
