"""The REST Calendars API under /api (issue 7 fills this)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api")
