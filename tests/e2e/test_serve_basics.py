"""End to end: what an operator sees from `calbot serve` with only the required settings — which
integrations are off and why (said once), `/slack/events` refusing with that reason, Prometheus
metrics at `/metrics`, and a clean stop on Ctrl-C (SIGINT) as on SIGTERM."""

from __future__ import annotations

import json
import signal

import httpx
import pytest

from tests.e2e.harness import CalbotProcess


def log_entries(calbot: CalbotProcess) -> list[dict]:
    entries = []
    for line in calbot.logs().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


@pytest.fixture
def bare_calbot(tmp_path):
    """No Slack, no calendars, no recorder: only CALBOT_SECRET_KEY, the database and the URL."""
    with CalbotProcess(tmp_path) as proc:
        yield proc


def test_slack_events_answer_503_with_the_reason_when_slack_is_not_configured(bare_calbot):
    response = httpx.post(f"{bare_calbot.url}/slack/events", content=b"token=x&command=%2Fcalbot&text=help",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "slack_not_configured"
    assert "Slack is not configured" in error["message"]
    assert "SLACK_BOT_TOKEN" in error["message"] and "SLACK_SIGNING_SECRET" in error["message"]
    # Health is about the database; it still says what is off.
    health = httpx.get(f"{bare_calbot.url}/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["integrations"]["slack"].startswith("off: ")


def test_serve_says_once_which_integrations_are_off_and_why(bare_calbot):
    # Give the process a moment of normal running: nothing may repeat the announcement later.
    assert httpx.get(f"{bare_calbot.url}/healthz", timeout=5).status_code == 200
    assert bare_calbot.stop() == 0
    announcements = [e for e in log_entries(bare_calbot) if "integration" in e and "enabled" in e]
    by_name: dict[str, list[dict]] = {}
    for entry in announcements:
        by_name.setdefault(entry["integration"], []).append(entry)
    assert set(by_name) == {"slack", "google", "microsoft", "meetingbaas", "push"}
    assert all(len(entries) == 1 for entries in by_name.values()), by_name   # once each, not per request/loop
    assert all(entries[0]["enabled"] is False for entries in by_name.values())
    slack = by_name["slack"][0]
    assert slack["level"] == "warning"
    assert "slack: off" in slack["msg"] and "SLACK_BOT_TOKEN" in slack["msg"]
    assert "GOOGLE_CLIENT_ID" in by_name["google"][0]["msg"]
    assert "MICROSOFT_CLIENT_ID" in by_name["microsoft"][0]["msg"]
    assert "MEETINGBAAS_API_KEY" in by_name["meetingbaas"][0]["msg"]
    assert "https" in by_name["push"][0]["msg"]   # an http:// public URL: polling instead of push


def test_an_integration_that_is_on_is_announced_as_on(tmp_path):
    with CalbotProcess(tmp_path, {"MEETINGBAAS_API_KEY": "mb-test-key", "CALBOT_PUSH": "off"}) as calbot:
        assert calbot.stop() == 0
    states = {e["integration"]: e for e in log_entries(calbot) if "integration" in e and "enabled" in e}
    assert states["meetingbaas"]["enabled"] is True and states["meetingbaas"]["msg"] == "meetingbaas: on"
    assert states["push"]["enabled"] is False and "CALBOT_PUSH=off" in states["push"]["msg"]


def test_metrics_are_prometheus_text_with_calbots_metrics(bare_calbot):
    for _ in range(3):
        httpx.get(f"{bare_calbot.url}/healthz", timeout=5)
    httpx.post(f"{bare_calbot.url}/slack/events", content=b"{}", timeout=5)
    response = httpx.get(f"{bare_calbot.url}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "version=" in response.headers["content-type"]   # the Prometheus text exposition format
    text = response.text
    for family in ("calbot_http_requests", "calbot_sync_runs", "calbot_push_notifications",
                   "calbot_loop_runs", "calbot_outbox_pending", "calbot_connections"):
        assert f"# TYPE {family}" in text, family
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['calbot_http_requests_total{route="/healthz",status="200"}'] >= 3
    assert samples['calbot_http_requests_total{route="/slack/events",status="503"}'] == 1
    # The engine loops are running in the same process and say so.
    assert any(name.startswith("calbot_loop_runs_total{") for name in samples)


def test_sigint_stops_cleanly_like_sigterm(bare_calbot):
    assert httpx.get(f"{bare_calbot.url}/healthz", timeout=5).status_code == 200
    bare_calbot.process.send_signal(signal.SIGINT)
    assert bare_calbot.process.wait(timeout=15) == 0
    logs = bare_calbot.logs()
    assert "calbot stopping" in logs and "calbot stopped" in logs
    assert "Traceback" not in logs and "KeyboardInterrupt" not in logs
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{bare_calbot.url}/healthz", timeout=2)


# -- a replayed OAuth callback link ---------------------------------------------------------------

ANA = "U_ANA"


@pytest.fixture
def connected_calbot(tmp_path, slack_fake, google_fake, microsoft_fake):
    from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET
    from tests.fakes.slack_driver import SlackDriver

    slack_fake.add_user(ANA, team_id="T0001", tz="Europe/Paris", name="Ana")
    proc = CalbotProcess(tmp_path, {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "CALBOT_SLACK_API_URL": f"{slack_fake.url}/api/", "CALBOT_PUSH": "off",
        **google_fake.env(), **microsoft_fake.env(),
    })
    with proc:
        yield proc, SlackDriver(proc.url, SIGNING_SECRET, slack_fake, team_id="T0001")


def callback_link(driver, slack_fake, provider: str, consent) -> str:
    """`/calbot connect <provider>` → the button → our start → the provider's consent: the link
    the browser is sent back to (not followed yet)."""
    from tests.fakes.slack import find_button

    before = len(slack_fake.ephemerals(ANA))
    assert driver.slash(ANA, f"connect {provider}").status_code == 200
    reply = slack_fake.wait_for(lambda: slack_fake.ephemerals(ANA)[before:])[-1]
    start = httpx.get(find_button(reply, action_id="connection_open_link")["url"], follow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    return consent(start.headers["location"])


def dms_saying(slack_fake, words: str) -> list[dict]:
    return [m for m in slack_fake.dms(ANA) if words in (m.get("text") or "")]


def test_a_reused_callback_link_shows_already_used_and_dms_the_member_once(connected_calbot, slack_fake,
                                                                            google_fake, microsoft_fake):
    calbot, driver = connected_calbot
    # Google: connected by the first use; the link is then reloaded twice.
    google_fake.add_account("ana@acme.com")
    google_fake.next_login = "ana@acme.com"
    link = callback_link(driver, slack_fake, "google", google_fake.consent)
    first = httpx.get(link, timeout=20)
    assert first.status_code == 200 and "Connected as ana@acme.com" in first.text
    slack_fake.wait_for(lambda: dms_saying(slack_fake, "Connected"))
    for _ in range(2):
        again = httpx.get(link, timeout=20)
        assert again.status_code == 400 and "already used" in again.text
        assert "/calbot connect google" in again.text
    [dm] = slack_fake.wait_for(lambda: dms_saying(slack_fake, "already used"))
    assert "Google Calendar is connected as *ana@acme.com*" in dm["text"]

    # Microsoft: the first use was refused at consent, so nothing is connected; the replay says how to retry.
    microsoft_fake.add_account("ana@contoso.com")
    microsoft_fake.next_login = "ana@contoso.com"
    microsoft_fake.deny_next_consent()
    link = callback_link(driver, slack_fake, "microsoft", microsoft_fake.consent)
    assert "Nothing was connected" in httpx.get(link, timeout=20).text
    assert httpx.get(link, timeout=20).status_code == 400
    assert httpx.get(link, timeout=20).status_code == 400
    replayed = slack_fake.wait_for(lambda: [m for m in dms_saying(slack_fake, "already used")
                                            if "Microsoft" in m["text"]])
    assert len(replayed) == 1 and "`/calbot connect microsoft` for a new link" in replayed[0]["text"]
    assert "is connected as" not in replayed[0]["text"]

    # However often they were replayed: one DM per link (the outbox sends in order, so a second
    # one for either link would have arrived by now), and no error anywhere.
    assert dms_saying(slack_fake, "Connecting Microsoft")   # the refusal's own DM, as before
    assert calbot.stop() == 0
    assert len(dms_saying(slack_fake, "already used")) == 2
    assert '"level": "error"' not in calbot.logs()
