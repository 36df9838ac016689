"""End to end: `calbot serve` as a process, driven as Slack would drive it."""

import pytest

from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET, CalbotProcess


@pytest.fixture
def calbot(tmp_path, slack_fake):
    slack_fake.add_user("U_ANA", team_id="T0001", tz="Europe/Paris", name="Ana")
    proc = CalbotProcess(tmp_path, {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "CALBOT_SLACK_API_URL": f"{slack_fake.url}/api/",
    })
    with proc:
        yield proc


@pytest.fixture
def driver(calbot, slack_fake):
    from tests.fakes.slack_driver import SlackDriver

    return SlackDriver(calbot.url, SIGNING_SECRET, slack_fake, team_id="T0001")


def test_signed_help_gets_the_command_list(driver):
    response = driver.slash("U_ANA", "help")
    assert response.status_code == 200
    reply = response.json()
    assert reply["response_type"] == "ephemeral"
    for command in ("/calbot connect google|microsoft", "/calbot upcoming", "/calbot record <meeting>",
                    "/calbot notify #channel", "/calbot disconnect <account>"):
        assert command in reply["text"]


def test_empty_command_is_help(driver):
    reply = driver.slash("U_ANA", "").json()
    assert "/calbot connect google|microsoft" in reply["text"]


def test_unknown_subcommand_gets_short_error_and_help(driver):
    reply = driver.slash("U_ANA", "recrod standup").json()
    assert reply["text"].startswith("I don't know `recrod`.")
    assert "/calbot record <meeting>" in reply["text"]


def test_forged_signature_is_rejected_and_nothing_reaches_slack(driver, slack_fake):
    slack_fake.reset_requests()
    response = driver.forged_slash("U_ANA", "help")
    assert response.status_code == 401
    assert slack_fake.calls() == []


def test_stale_timestamp_is_rejected(driver):
    assert driver.stale_slash("U_ANA", "help").status_code == 401


def test_sigterm_stops_cleanly(calbot, driver):
    assert driver.slash("U_ANA", "help").status_code == 200
    assert calbot.stop() == 0
    assert "calbot stopped" in calbot.logs()
