"""Who is calling: the API key dependency.

A key arrives in `x-meeting-baas-api-key`, `x-spoke-api-key` (what the seed client sends) or
`Authorization: Bearer`. A workspace key sees the whole workspace; a member key (created with
`--user`) sees only that member's calendars, events, rules and webhooks. Anything else is 401 —
including a key of a workspace that uninstalled calbot.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from bot.api.errors import ApiError
from bot.context import AppContext
from storage.api_keys import find_api_key, touch_api_key

MAX_KEY_LENGTH = 200

meeting_baas_key = APIKeyHeader(name="x-meeting-baas-api-key", auto_error=False,
                                scheme_name="MeetingBaasApiKey", description="calbot API key")
spoke_key = APIKeyHeader(name="x-spoke-api-key", auto_error=False,
                         scheme_name="SpokeApiKey", description="calbot API key (seed-compatible header)")
bearer = HTTPBearer(auto_error=False, scheme_name="Bearer", description="calbot API key as a bearer token")


@dataclass(frozen=True)
class Principal:
    """The caller, as its API key says."""

    key_id: int
    key_name: str
    team_id: str
    member_id: int | None      # set for a member key: only this member's things are visible
    user_id: str | None        # that member's Slack user id

    @property
    def is_workspace(self) -> bool:
        return self.member_id is None

    @property
    def actor(self) -> str:
        """How decisions and audit entries name this caller."""
        return f"api:{self.key_name or self.key_id}"


def context(request: Request) -> AppContext:
    return request.app.state.ctx


async def require_principal(
    request: Request,
    _mb_key: str | None = Depends(meeting_baas_key),
    _spoke: str | None = Depends(spoke_key),
    _bearer: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    # The three security dependencies put the ways to send a key in the OpenAPI document; the
    # headers are read here directly because those dependencies turn an empty header into
    # "absent", and a present-but-empty key is a bad key, not no key.
    presented = {request.headers[name].strip() for name in (meeting_baas_key.model.name, spoke_key.model.name)
                 if name in request.headers}
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        presented.add(token.strip())
    if not presented:
        raise ApiError(401, "missing API key: send it in x-meeting-baas-api-key, x-spoke-api-key "
                            "or Authorization: Bearer (create one with `calbot api-key create`)")
    if len(presented) > 1:
        # Several different keys: refuse rather than guess which one the caller meant.
        raise ApiError(401, "conflicting API keys: send one key (the same value if in several headers)")
    [key] = presented
    ctx = context(request)
    row = find_api_key(ctx.db, key) if 0 < len(key) <= MAX_KEY_LENGTH else None
    if row is None:
        raise ApiError(401, "invalid or revoked API key")
    workspace = ctx.db.execute("SELECT uninstalled_at FROM workspaces WHERE team_id = ?",
                               [row["team_id"]]).fetchone()
    if workspace is None or workspace[0] is not None:
        raise ApiError(401, "this API key's workspace has uninstalled calbot")
    user_id = None
    if row["member_id"] is not None:
        member = ctx.db.execute("SELECT user_id FROM members WHERE id = ?", [row["member_id"]]).fetchone()
        if member is None:
            raise ApiError(401, "invalid or revoked API key")
        user_id = member[0]
    touch_api_key(ctx.db, row, clock=ctx.clock)
    return Principal(key_id=row["id"], key_name=row["name"] or "", team_id=row["team_id"],
                     member_id=row["member_id"], user_id=user_id)
