"""End to end: the three ways calbot meets Slack — one workspace's tokens, the multi-workspace OAuth
install (slack-sdk's SQLite installation store in our database, token rotation for background jobs
too), and Socket Mode — and leaving a workspace (tokens_revoked, app_uninstalled)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.harness import SIGNING_SECRET
from tests.e2e.slack_rig import TEAM, start_rig
from tests.fakes.slack import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FakeSlack
from tests.fakes.slack_driver import SlackDriver
from tests.slack_payloads import assert_all_payloads_valid

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)       # Monday, 09:00 in Paris
MULTI = {"SLACK_CLIENT_ID": DEFAULT_CLIENT_ID, "SLACK_CLIENT_SECRET": DEFAULT_CLIENT_SECRET}


def installations(rig, team_id: str) -> list:
    with sqlite3.connect(rig.calbot.env["CALBOT_DATABASE"]) as conn:
        try:
            return conn.execute("SELECT bot_token FROM slack_bots WHERE team_id = ?", [team_id]).fetchall()
        except sqlite3.OperationalError:
            return []


def tokens_used(fake, method: str) -> list[str]:
    return [r.headers.get("authorization", "")[7:] for r in fake.requests if r.path == f"/api/{method}"]


@pytest.fixture
def stop():
    rigs = []
    yield rigs.append
    for rig in rigs:
        rig.calbot.kill()
        rig.db.close()


def test_multi_workspace_install_then_commands_and_background_dms_in_each(tmp_path, slack_fake, stop):
    slack_fake.add_workspace("T0002", "Globex")
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez", is_admin=True)
    slack_fake.add_user("U_GIL", team_id="T0002", tz="America/Chicago", name="Gil", is_admin=True)
    rig = start_rig(tmp_path, slack_fake, clock=NOW, env=MULTI)
    stop(rig)
    # before the install calbot has no token for the workspace: Bolt says so
    assert "reinstall this app" in rig.reply_to("U_ANA", "help")["text"]
    page = rig.driver.install("U_ANA")
    assert page.status_code == 200, page.text[:300]
    globex = SlackDriver(rig.calbot.url, SIGNING_SECRET, slack_fake, team_id="T0002")
    assert globex.install("U_GIL").status_code == 200
    assert installations(rig, TEAM) and installations(rig, "T0002")
    names = dict(rig.db.execute("SELECT team_id, name FROM workspaces").fetchall())
    assert names == {TEAM: "Acme", "T0002": "Globex"}
    # commands work in both, each with its own token; and the digest DM (a background job) too
    rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
    rig.world.member("U_GIL", tz="America/Chicago", name="Gil", team_id="T0002")
    rig.world.event("U_ANA", "Acme demo", NOW + timedelta(hours=1), desired="record")
    rig.world.event("U_GIL", "Globex sync", NOW + timedelta(hours=8), desired="record", team_id="T0002")
    assert "/calbot upcoming" in rig.reply_to("U_ANA", "help")["text"]
    rig.reply_to("U_ANA", "digest")
    assert globex.slash("U_GIL", "digest").status_code == 200
    rig.wait(lambda: slack_fake.dms("U_ANA") and slack_fake.dms("U_GIL"), what="both digests")
    assert "Acme demo" in slack_fake.text_of(slack_fake.dms("U_ANA")[0])
    assert "Globex sync" in slack_fake.text_of(slack_fake.dms("U_GIL")[0])
    posted_with = set(tokens_used(slack_fake, "chat.postMessage"))
    assert posted_with == {installations(rig, TEAM)[-1][0], installations(rig, "T0002")[-1][0]}
    assert_all_payloads_valid(slack_fake)


def test_token_rotation_for_requests_and_background_jobs(tmp_path, stop):
    with FakeSlack(token_rotation=True) as fake:
        fake.apps[DEFAULT_CLIENT_ID].expires_in = 300     # within 10 minutes of expiry: rotate on use
        fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez", is_admin=True)
        rig = start_rig(tmp_path, fake, clock=NOW, env=MULTI)
        stop(rig)
        assert rig.driver.install("U_ANA").status_code == 200
        first = installations(rig, TEAM)[-1][0]
        assert first.startswith("xoxe.xoxb-")
        fake.expire_token(first)                           # the first token no longer works at all
        rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
        rig.world.event("U_ANA", "Acme demo", NOW + timedelta(hours=1), desired="record")
        rig.reply_to("U_ANA", "digest")
        (dm,) = rig.wait(lambda: fake.dms("U_ANA"), what="the digest DM with a rotated token")
        assert "Acme demo" in fake.text_of(dm)
        used = tokens_used(fake, "chat.postMessage")
        assert used and first not in used
        assert installations(rig, TEAM)[-1][0] == used[-1]    # the rotated token was saved


def test_uninstall_stops_everything_for_the_workspace(tmp_path, slack_fake, stop):
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez", is_admin=True)
    rig = start_rig(tmp_path, slack_fake, clock=NOW, env=MULTI)
    stop(rig)
    rig.driver.install("U_ANA")
    rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
    # a notice waiting to go out (far in the future: the notifier will not take it before the uninstall)
    rig.db.execute("INSERT INTO outbox (dedup_key, team_id, kind, target, payload, next_attempt_at, created_at) "
                   "VALUES ('notice:x:1', ?, 'slack.dm', 'U_ANA', ?, '2030-01-01T00:00:00Z', '2026-03-02T08:00:00Z')",
                   [TEAM, json.dumps({"text": "hello"})])
    responses = rig.driver.uninstall()
    assert [r.status_code for r in responses] == [200, 200]
    rig.wait(lambda: rig.db.execute("SELECT uninstalled_at FROM workspaces WHERE team_id = ?", [TEAM]).fetchone()[0],
             what="the workspace marked uninstalled")
    rig.wait(lambda: not installations(rig, TEAM), what="the installation deleted")
    assert rig.db.execute("SELECT status FROM outbox WHERE dedup_key = 'notice:x:1'").fetchone()[0] == "cancelled"
    # no digest goes out for an uninstalled workspace
    rig.world.event("U_ANA", "Acme demo", NOW + timedelta(days=1, hours=1), desired="record")
    rig.set_time(NOW + timedelta(days=1, minutes=-30))        # Tuesday 08:30 in Paris
    rig.calbot.stop()
    rig.calbot.start()
    import time

    time.sleep(1.5)
    assert slack_fake.dms("U_ANA") == []
    # installing again brings it back
    assert rig.driver.install("U_ANA").status_code == 200
    assert rig.db.execute("SELECT uninstalled_at FROM workspaces WHERE team_id = ?", [TEAM]).fetchone()[0] is None


def test_single_workspace_uninstall(tmp_path, slack_fake, stop):
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez")
    rig = start_rig(tmp_path, slack_fake, clock=NOW)
    stop(rig)
    rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
    rig.driver.uninstall()
    rig.wait(lambda: rig.db.execute("SELECT uninstalled_at FROM workspaces").fetchone()[0], what="uninstalled")


def test_socket_mode_carries_commands_clicks_and_events(tmp_path, slack_fake, stop):
    app_token = "xapp-1-A0001-e2e-socket"
    slack_fake.add_app_token(app_token)
    slack_fake.add_user("U_ANA", team_id=TEAM, tz="Europe/Paris", name="Ana Lopez")
    rig = start_rig(tmp_path, slack_fake, clock=NOW, env={"SLACK_APP_TOKEN": app_token})
    stop(rig)
    rig.world.member("U_ANA", tz="Europe/Paris", name="Ana Lopez")
    for n in range(30):
        rig.world.event("U_ANA", f"Call {n}", NOW + timedelta(hours=1 + n * 3), desired="record")
    slack_fake.wait_for_socket()
    rig.driver = SlackDriver("", "", slack_fake, transport="socket")
    listing = rig.reply_to("U_ANA", "upcoming week")
    assert "Call 0" in slack_fake.text_of(listing)
    before = len(slack_fake.ephemerals("U_ANA"))
    rig.driver.click("U_ANA", listing, action_id="upcoming_more")
    rig.wait(lambda: len(slack_fake.ephemerals("U_ANA")) > before, what="page 2 over the socket")
    assert rig.driver.home_opened("U_ANA").status_code == 200
    rig.wait(lambda: slack_fake.home_view("U_ANA"), what="the Home over the socket")
    slack_fake.socket_disconnect()                 # Slack asks for a reconnect every few hours
    slack_fake.wait_for_socket(2)
    assert "/calbot upcoming" in rig.reply_to("U_ANA", "help")["text"]
    # HTTP still serves the rest (health, OAuth, webhooks, API)
    import httpx

    assert httpx.get(f"{rig.calbot.url}/healthz").status_code == 200
    assert_all_payloads_valid(slack_fake)
