"""`calbot api-key create|list|revoke` as an operator uses them, and what the API then says."""

from __future__ import annotations

import os
import subprocess
import sys

from bot.crypto import new_secret_key
from storage.api_keys import find_api_key
from storage.db import open_database


SECRET_KEY = new_secret_key()


def calbot(args, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "GOOGLE_", "MICROSOFT_", "MEETINGBAAS_", "CALBOT_"))}
    env.update(CALBOT_DATABASE=str(tmp_path / "calbot.db"), CALBOT_SECRET_KEY=SECRET_KEY)
    return subprocess.run([sys.executable, "-m", "bot", "api-key", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_create_list_revoke(tmp_path):
    workspace = calbot(["create", "--team", "T1", "--name", "ci"], tmp_path)
    member = calbot(["create", "--team", "T1", "--user", "U1"], tmp_path)
    other = calbot(["create", "--team", "T2"], tmp_path)
    assert workspace.returncode == member.returncode == other.returncode == 0
    keys = [r.stdout.strip() for r in (workspace, member, other)]
    assert all(key.startswith("cbk_") for key in keys)

    listing = calbot(["list", "--team", "T1"], tmp_path)
    assert listing.returncode == 0
    rows = listing.stdout.strip().splitlines()[1:]
    assert len(rows) == 2
    assert "workspace" in rows[0] and "ci" in rows[0] and "never" in rows[0] and "active" in rows[0]
    assert "member U1" in rows[1]
    assert not any(key in listing.stdout for key in keys)          # keys are never shown again
    assert keys[0][:10] in rows[0]                                 # ... only their prefix

    key_id = rows[0].split("\t")[0]
    assert calbot(["revoke", "--team", "T2", key_id], tmp_path).returncode == 1   # not T2's key
    revoked = calbot(["revoke", "--team", "T1", key_id], tmp_path)
    assert revoked.returncode == 0 and "401" in revoked.stdout
    again = calbot(["revoke", "--team", "T1", key_id], tmp_path)
    assert again.returncode == 1 and "no active API key" in again.stderr
    assert "revoked" in calbot(["list", "--team", "T1"], tmp_path).stdout.splitlines()[1]

    db = open_database(tmp_path / "calbot.db")
    assert find_api_key(db, keys[0]) is None
    assert find_api_key(db, keys[1]) is not None


def test_list_of_a_workspace_without_keys(tmp_path):
    result = calbot(["list", "--team", "T9"], tmp_path)
    assert result.returncode == 0 and "No API keys" in result.stdout
