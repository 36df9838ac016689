"""Settings: every name in the contract (PRODUCT.md), read from the environment and `.env`.

Validation happens here so that a bad value stops `calbot` at start-up with a message that
names the setting, instead of failing later somewhere far from the cause.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

URL_SETTINGS = (
    "calbot_public_url",
    "calbot_slack_api_url",
    "calbot_google_auth_url",
    "calbot_google_token_url",
    "calbot_google_api_url",
    "calbot_microsoft_login_url",
    "calbot_graph_api_url",
    "calbot_meetingbaas_api_url",
)


class SettingsError(Exception):
    """A setting has a value calbot cannot use; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_app_token: str | None = None

    google_client_id: str | None = None
    google_client_secret: str | None = None

    microsoft_client_id: str | None = None
    microsoft_client_secret: str | None = None
    microsoft_tenant: str = "common"

    meetingbaas_api_key: str | None = None
    meetingbaas_webhook_secret: str | None = None

    calbot_public_url: str = "http://localhost:3000"
    calbot_database: str = "calbot.db"
    calbot_secret_key: str | None = None
    calbot_push: Literal["auto", "on", "off"] = "auto"
    calbot_poll_seconds: int = Field(default=300, ge=5, le=86400)
    calbot_sync_days: int = Field(default=30, ge=1, le=365)

    calbot_slack_api_url: str = "https://slack.com/api/"
    calbot_google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    calbot_google_token_url: str = "https://oauth2.googleapis.com/token"
    calbot_google_api_url: str = "https://www.googleapis.com/calendar/v3"
    calbot_microsoft_login_url: str = "https://login.microsoftonline.com"
    calbot_graph_api_url: str = "https://graph.microsoft.com/v1.0"
    calbot_meetingbaas_api_url: str = "https://api.meetingbaas.com"

    @field_validator(*URL_SETTINGS)
    @classmethod
    def _must_be_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @field_validator("calbot_secret_key")
    @classmethod
    def _must_be_fernet_key(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            raw = base64.urlsafe_b64decode(value.encode())
        except (binascii.Error, ValueError):
            raise ValueError("must be a Fernet key (run `calbot init` to make one)") from None
        if len(raw) != 32:
            raise ValueError("must be a Fernet key: 32 url-safe base64-encoded bytes (run `calbot init`)")
        return value

    @field_validator("microsoft_tenant")
    @classmethod
    def _tenant_is_a_path_segment(cls, value: str) -> str:
        if not value or "/" in value or " " in value:
            raise ValueError("must be a tenant id, domain, 'common' or 'organizations'")
        return value

    # -- derived values ---------------------------------------------------------------------

    @property
    def public_url(self) -> str:
        return self.calbot_public_url.rstrip("/")

    @property
    def slack_api_url(self) -> str:
        return self.calbot_slack_api_url.rstrip("/") + "/"

    @property
    def push_enabled(self) -> bool:
        if self.calbot_push == "auto":
            return self.public_url.startswith("https://")
        return self.calbot_push == "on"

    @property
    def microsoft_authority(self) -> str:
        return f"{self.calbot_microsoft_login_url.rstrip('/')}/{self.microsoft_tenant}/oauth2/v2.0"

    def integrations(self) -> list["Integration"]:
        """Which integrations are on, and for those that are off, why — said once at start-up."""
        slack_single = bool(self.slack_bot_token and self.slack_signing_secret)
        slack_multi = bool(self.slack_client_id and self.slack_client_secret and self.slack_signing_secret)
        slack_reason = ""
        if not (slack_single or slack_multi):
            if self.slack_bot_token and not self.slack_signing_secret:
                slack_reason = "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not"
            else:
                slack_reason = "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET)"
        return [
            Integration("slack", slack_single or slack_multi, slack_reason),
            Integration(
                "google",
                bool(self.google_client_id and self.google_client_secret),
                "set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET",
            ),
            Integration(
                "microsoft",
                bool(self.microsoft_client_id and self.microsoft_client_secret),
                "set MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET",
            ),
            Integration("meetingbaas", bool(self.meetingbaas_api_key), "set MEETINGBAAS_API_KEY"),
            Integration(
                "push",
                self.push_enabled,
                "CALBOT_PUSH=off" if self.calbot_push == "off"
                else "CALBOT_PUBLIC_URL is not https (push needs a public https URL); polling instead",
            ),
        ]

    def integration(self, name: str) -> "Integration":
        return next(i for i in self.integrations() if i.name == name)


@dataclass(frozen=True)
class Integration:
    name: str
    enabled: bool
    reason_off: str = ""


def load_settings(**overrides) -> Settings:
    """Read settings; turn pydantic's error into one plain sentence per bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]).upper() or "settings"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
        raise SettingsError("; ".join(problems)) from None
