"""GET /api/calendars/providers (seed-compatible) and GET /api/calendars."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from bot.api.auth import Principal, context, require_principal
from bot.api.queries import list_calendars, list_providers
from bot.api.schemas import CalendarsResponse, ProvidersResponse

router = APIRouter(tags=["calendars"])


@router.get("/calendars/providers", response_model=ProvidersResponse,
            summary="Connected calendar accounts and their calendars")
async def get_providers(request: Request, principal: Principal = Depends(require_principal)) -> ProvidersResponse:
    return ProvidersResponse(providers=list_providers(context(request).db, principal))


@router.get("/calendars", response_model=CalendarsResponse, summary="Every calendar of the connected accounts")
async def get_calendars(request: Request, principal: Principal = Depends(require_principal)) -> CalendarsResponse:
    return CalendarsResponse(calendars=list_calendars(context(request).db, principal))
