"""The `calbot` command as an operator uses it (subprocesses, real files)."""

import os
import subprocess
import sys

from bot.crypto import new_secret_key
from storage.api_keys import find_api_key
from storage.db import open_database


def run(args, cwd, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOOGLE_", "MICROSOFT_", "MEETINGBAAS_", "CALBOT_"))}
    clean.update(env)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=60)


def test_init_writes_a_key_and_never_overwrites(tmp_path):
    first = run(["init"], tmp_path)
    assert first.returncode == 0
    content = (tmp_path / ".env").read_text()
    assert "CALBOT_SECRET_KEY=" in content and "# SLACK_BOT_TOKEN=" in content
    second = run(["init"], tmp_path)
    assert second.returncode == 0 and "left unchanged" in second.stdout
    assert (tmp_path / ".env").read_text() == content


def test_serve_with_an_invalid_setting_exits_2_naming_it(tmp_path):
    result = run(["serve", "--port", "0"], tmp_path, CALBOT_PUBLIC_URL="not a url", CALBOT_SECRET_KEY=new_secret_key())
    assert result.returncode == 2
    assert "CALBOT_PUBLIC_URL" in result.stderr


def test_serve_without_a_secret_key_exits_2_and_says_run_init(tmp_path):
    result = run(["serve", "--port", "0"], tmp_path)
    assert result.returncode == 2
    assert "CALBOT_SECRET_KEY" in result.stderr and "calbot init" in result.stderr


def test_serve_with_a_different_key_than_the_database_exits_2(tmp_path):
    db = str(tmp_path / "c.db")
    from bot.crypto import TokenCipher, verify_key_matches_database

    verify_key_matches_database(open_database(db), TokenCipher(new_secret_key()))
    result = run(["serve", "--port", "0"], tmp_path, CALBOT_DATABASE=db, CALBOT_SECRET_KEY=new_secret_key())
    assert result.returncode == 2
    assert "is not the key this database was created with" in result.stderr


def test_api_key_create_prints_a_key_stored_hashed(tmp_path):
    db_path = str(tmp_path / "c.db")
    result = run(["api-key", "create", "--team", "T0001", "--user", "U_ANA", "--name", "script"], tmp_path,
                 CALBOT_DATABASE=db_path, CALBOT_SECRET_KEY=new_secret_key())
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    db = open_database(db_path)
    row = find_api_key(db, key)
    assert row["team_id"] == "T0001" and row["name"] == "script" and row["member_id"] is not None
    assert key not in str(list(db.query("SELECT * FROM api_keys")))


def test_check_lists_problems_in_plain_language(tmp_path):
    result = run(["check"], tmp_path, CALBOT_DATABASE=str(tmp_path / "c.db"))
    assert result.returncode == 1
    assert "CALBOT_SECRET_KEY is not set" in result.stdout


def test_check_with_bad_setting_exits_1_naming_it(tmp_path):
    result = run(["check"], tmp_path, CALBOT_SYNC_DAYS="lots")
    assert result.returncode == 1
    assert "CALBOT_SYNC_DAYS" in result.stdout


def test_check_passes_against_working_upstreams_and_names_a_refused_key(tmp_path, slack_fake, google_fake,
                                                                        microsoft_fake, meetingbaas_fake):
    env = {"CALBOT_DATABASE": str(tmp_path / "c.db"), "CALBOT_SECRET_KEY": new_secret_key(),
           "SLACK_BOT_TOKEN": "xoxb-check", "SLACK_SIGNING_SECRET": "s",
           "CALBOT_SLACK_API_URL": f"{slack_fake.url}/api/",
           "MEETINGBAAS_API_KEY": meetingbaas_fake.api_key, "CALBOT_MEETINGBAAS_API_URL": meetingbaas_fake.url,
           **google_fake.env(), **microsoft_fake.env()}
    result = run(["check"], tmp_path, **env)
    assert result.returncode == 0, result.stdout
    for name in ("database", "slack", "google", "microsoft", "meetingbaas"):
        assert f"✓ {name}" in result.stdout
    refused = run(["check"], tmp_path, **{**env, "MEETINGBAAS_API_KEY": "wrong"})
    assert refused.returncode == 1
    assert "✗ meetingbaas: MEETINGBAAS_API_KEY was refused" in refused.stdout
