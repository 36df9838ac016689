"""Bolt's global error handler (handlers/slack/errors.py), on a real Bolt app with listeners that
fail before they ack: the person gets the apology with a reference id as Slack's answer (a slash
reply, an updated modal, an ephemeral via response_url), the log the same id."""

from __future__ import annotations

import logging
import re

import pytest
from slack_bolt.async_app import AsyncApp

from bot.slack_gateway import make_client
from handlers.slack import errors
from tests.integration.slack_world import make_slack_ctx
from tests.integration.test_slack_fake_driver import BoltServer
from tests.fakes.slack_driver import SlackDriver

SECRET = "error-handler-secret"
APOLOGY = re.compile(r"Sorry, something went wrong on our side\. If it keeps happening, tell your admin: ref ([A-Z2-9]{6})\.")


@pytest.fixture
async def rig(tmp_path, slack_fake):
    slack_fake.add_user("U_ANA", name="Ana")
    ctx = make_slack_ctx(tmp_path, slack_fake)
    app = AsyncApp(signing_secret=SECRET, client=make_client(ctx.settings, "xoxb-test-token"))
    errors.register(app, ctx)

    @app.command("/boom")
    async def boom(ack, body, client):
        if body["text"] == "modal":
            await ack()
            await client.views_open(trigger_id=body["trigger_id"], view={
                "type": "modal", "callback_id": "boom", "title": {"type": "plain_text", "text": "Boom"},
                "submit": {"type": "plain_text", "text": "Go"},
                "blocks": [{"type": "input", "block_id": "b", "label": {"type": "plain_text", "text": "x"},
                            "element": {"type": "plain_text_input", "action_id": "v"}}]})
            return
        if body["text"] == "button":
            await ack(text="Click", blocks=[{"type": "actions", "elements": [
                {"type": "button", "action_id": "boom", "text": {"type": "plain_text", "text": "Boom"}}]}])
            return
        raise RuntimeError("the database caught fire")

    @app.view("boom")
    async def boom_view(ack):
        raise RuntimeError("the modal caught fire")

    @app.action("boom")
    async def boom_button(ack):
        raise RuntimeError("the button caught fire")

    with BoltServer(app) as server:
        yield SlackDriver(server.url, SECRET, slack_fake, command="/boom"), slack_fake
    ctx.db.close()   # ctx.http was used from the server's own event loop; it goes with that loop


def ref_logged(caplog, ref: str) -> logging.LogRecord:
    found = [r for r in caplog.records if getattr(r, "ref", None) == ref]
    assert found, f"no log record with ref {ref}"
    return found[0]


async def test_a_failing_slash_command_answers_with_the_apology(rig, caplog):
    import asyncio

    driver, fake = rig
    response = await asyncio.to_thread(driver.slash, "U_ANA", "now")
    assert response.status_code == 200 and response.json()["response_type"] == "ephemeral"
    ref = APOLOGY.search(response.json()["text"]).group(1)
    record = ref_logged(caplog, ref)
    assert record.levelno == logging.ERROR and "database caught fire" in record.getMessage()
    assert record.where == "/boom now" and record.user_id == "U_ANA"


async def test_a_failing_modal_submission_shows_the_apology_in_the_modal(rig, caplog):
    import asyncio

    driver, fake = rig
    await asyncio.to_thread(driver.slash, "U_ANA", "modal")
    await asyncio.to_thread(fake.wait_for, lambda: fake.top_view("U_ANA"))
    response = await asyncio.to_thread(driver.submit_view, "U_ANA", None, {"v": "x"})
    assert response.json()["response_action"] == "update"
    ref = APOLOGY.search(fake.text_of(fake.top_view("U_ANA"))).group(1)
    assert ref_logged(caplog, ref).where == "view_submission boom"


async def test_a_failing_button_sends_the_apology_to_the_response_url(rig, caplog):
    import asyncio

    driver, fake = rig
    message = (await asyncio.to_thread(driver.slash, "U_ANA", "button")).slack_message
    await asyncio.to_thread(driver.click, "U_ANA", message, action_id="boom")
    apology = await asyncio.to_thread(fake.wait_for, lambda: [e for e in fake.ephemerals("U_ANA")
                                                              if APOLOGY.search(e["text"])])
    ref = APOLOGY.search(apology[0]["text"]).group(1)
    assert ref_logged(caplog, ref).where == "button boom"
