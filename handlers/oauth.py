"""Calendar OAuth: `/oauth/{provider}/start` and `/oauth/{provider}/callback` (issue 4 fills this)."""

from fastapi import APIRouter

router = APIRouter()
