"""`calbot check`: validate settings, open the database, call each configured upstream.

Each check returns a plain sentence; problems are listed and the exit status is 1. The OAuth
checks present a deliberately unknown refresh token: the provider then answers `invalid_grant`
when the client id/secret are right and `invalid_client` when they are not — a real test of the
credentials that changes nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import httpx

from bot.config import Settings, SettingsError, load_settings


@dataclass
class Finding:
    name: str
    ok: bool
    message: str


async def run_check() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print("calbot check: problems found:\n" + "\n".join(f"  ✗ {p}" for p in str(exc).split("; ")))
        return 1
    findings = [check_database(settings)]
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as http:
        for check in (check_slack, check_google, check_microsoft, check_meetingbaas):
            finding = await check(settings, http)
            if finding is not None:
                findings.append(finding)
    for integration in settings.integrations():
        if not integration.enabled:
            findings.append(Finding(integration.name, True, f"off — {integration.reason_off}"))
    problems = [f for f in findings if not f.ok]
    for finding in findings:
        print(f"  {'✓' if finding.ok else '✗'} {finding.name}: {finding.message}")
    if problems:
        print(f"calbot check: {len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    print("calbot check: all good.")
    return 0


def check_database(settings: Settings) -> Finding:
    from bot.crypto import SecretKeyError, TokenCipher, verify_key_matches_database
    from storage.db import DatabaseError, open_database
    from storage.migrations import MigrationError

    if not settings.calbot_secret_key:
        return Finding("database", False, "CALBOT_SECRET_KEY is not set (run `calbot init`)")
    try:
        db = open_database(settings.calbot_database)
        verify_key_matches_database(db, TokenCipher(settings.calbot_secret_key))
        db.close()
    except (DatabaseError, MigrationError, SecretKeyError) as exc:
        return Finding("database", False, str(exc))
    return Finding("database", True, f"{settings.calbot_database} opened and up to date")


async def check_slack(settings: Settings, http: httpx.AsyncClient) -> Finding | None:
    if not settings.integration("slack").enabled:
        return None
    try:
        if settings.slack_bot_token:
            response = await http.post(settings.slack_api_url + "auth.test",
                                       headers={"Authorization": f"Bearer {settings.slack_bot_token}"})
            body = response.json()
            if body.get("ok"):
                return Finding("slack", True, f"bot token works in workspace {body.get('team')} ({body.get('team_id')})")
            return Finding("slack", False, f"SLACK_BOT_TOKEN was refused by Slack: {body.get('error')}")
        response = await http.post(settings.slack_api_url + "api.test")
        return Finding("slack", response.status_code == 200, f"Slack API reachable at {settings.slack_api_url}")
    except (httpx.HTTPError, ValueError) as exc:
        return Finding("slack", False, f"cannot reach Slack at {settings.slack_api_url}: {exc}")


async def _check_oauth_client(name: str, token_url: str, client_id: str, client_secret: str,
                              http: httpx.AsyncClient, setting_prefix: str) -> Finding:
    try:
        response = await http.post(token_url, data={
            "grant_type": "refresh_token", "refresh_token": "calbot-check-not-a-real-token",
            "client_id": client_id, "client_secret": client_secret,
        })
        error = response.json().get("error", "")
    except (httpx.HTTPError, ValueError) as exc:
        return Finding(name, False, f"cannot reach {token_url}: {exc}")
    if error in ("invalid_client", "unauthorized_client"):
        return Finding(name, False, f"{setting_prefix}_CLIENT_ID / {setting_prefix}_CLIENT_SECRET were refused ({error})")
    if response.status_code in (400, 401) and error:
        return Finding(name, True, f"OAuth client accepted by {token_url}")
    return Finding(name, False, f"unexpected answer from {token_url}: HTTP {response.status_code}")


async def check_google(settings: Settings, http: httpx.AsyncClient) -> Finding | None:
    if not settings.integration("google").enabled:
        return None
    return await _check_oauth_client("google", settings.calbot_google_token_url, settings.google_client_id,
                                     settings.google_client_secret, http, "GOOGLE")


async def check_microsoft(settings: Settings, http: httpx.AsyncClient) -> Finding | None:
    if not settings.integration("microsoft").enabled:
        return None
    return await _check_oauth_client("microsoft", f"{settings.microsoft_authority}/token", settings.microsoft_client_id,
                                     settings.microsoft_client_secret, http, "MICROSOFT")


async def check_meetingbaas(settings: Settings, http: httpx.AsyncClient) -> Finding | None:
    if not settings.integration("meetingbaas").enabled:
        return None
    url = settings.calbot_meetingbaas_api_url.rstrip("/") + "/v2/bots/scheduled"
    try:
        response = await http.get(url, params={"limit": 1},
                                  headers={"x-meeting-baas-api-key": settings.meetingbaas_api_key})
    except httpx.HTTPError as exc:
        return Finding("meetingbaas", False, f"cannot reach {url}: {exc}")
    if response.status_code in (401, 403):
        return Finding("meetingbaas", False, "MEETINGBAAS_API_KEY was refused by Meeting BaaS")
    if response.status_code == 200:
        return Finding("meetingbaas", True, "API key accepted")
    return Finding("meetingbaas", False, f"unexpected answer from {url}: HTTP {response.status_code}")
