"""Inbound webhooks: Google push, Graph notifications, Meeting BaaS callbacks (filled per issue)."""

from fastapi import APIRouter

router = APIRouter()
