import pytest

from bot.config import SettingsError, load_settings
from bot.crypto import new_secret_key


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for name in list(os.environ):
        if name.startswith(("SLACK_", "GOOGLE_", "MICROSOFT_", "MEETINGBAAS_", "CALBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_match_the_contract():
    s = load_settings()
    assert s.calbot_public_url == "http://localhost:3000"
    assert s.calbot_database == "calbot.db"
    assert s.calbot_push == "auto" and s.calbot_poll_seconds == 300 and s.calbot_sync_days == 30
    assert s.microsoft_tenant == "common"
    assert s.microsoft_authority == "https://login.microsoftonline.com/common/oauth2/v2.0"
    assert s.slack_api_url == "https://slack.com/api/"


def test_reads_env_and_dotenv(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("GOOGLE_CLIENT_ID=from-dotenv\nCALBOT_SYNC_DAYS=14\n")
    monkeypatch.setenv("CALBOT_SYNC_DAYS", "21")
    s = load_settings()
    assert s.google_client_id == "from-dotenv"
    assert s.calbot_sync_days == 21  # the environment wins over .env


@pytest.mark.parametrize("name,value,needle", [
    ("CALBOT_PUBLIC_URL", "calbot.example.com", "CALBOT_PUBLIC_URL"),
    ("CALBOT_GRAPH_API_URL", "ftp://graph", "CALBOT_GRAPH_API_URL"),
    ("CALBOT_SECRET_KEY", "not-a-key", "CALBOT_SECRET_KEY"),
    ("CALBOT_PUSH", "sometimes", "CALBOT_PUSH"),
    ("CALBOT_POLL_SECONDS", "0", "CALBOT_POLL_SECONDS"),
])
def test_invalid_value_names_the_setting(monkeypatch, name, value, needle):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert needle in str(info.value)


def test_push_auto_follows_https(monkeypatch):
    monkeypatch.setenv("CALBOT_PUBLIC_URL", "https://calbot.example.com/")
    s = load_settings()
    assert s.push_enabled and s.public_url == "https://calbot.example.com"
    monkeypatch.setenv("CALBOT_PUSH", "off")
    assert not load_settings().push_enabled


def test_integrations_say_why_they_are_off(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("CALBOT_SECRET_KEY", new_secret_key())
    s = load_settings()
    slack = s.integration("slack")
    assert not slack.enabled and "SLACK_SIGNING_SECRET" in slack.reason_off
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "sss")
    assert load_settings().integration("slack").enabled
