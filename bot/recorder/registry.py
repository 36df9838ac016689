"""The recorder calbot uses, from settings: Meeting BaaS when MEETINGBAAS_API_KEY is set."""

from __future__ import annotations

import httpx

from bot.config import Settings


def build_recorder(settings: Settings, http: httpx.AsyncClient):
    if not settings.meetingbaas_api_key:
        return None
    from bot.recorder.meetingbaas import MeetingBaasRecorder

    return MeetingBaasRecorder(settings, http)
