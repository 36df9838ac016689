"""The Slack driver against a tiny real Bolt `AsyncApp` served by uvicorn: signed requests are
accepted and forged or stale ones refused, clicks come from messages the app really posted, and
the app's inline answers (slash replies, response_action) are applied as Slack applies them."""

from __future__ import annotations

import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from slack_sdk.oauth.state_store.sqlite3 import SQLite3OAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from starlette.routing import Route

from tests.fakes.base import FakeService
from tests.fakes.slack import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FakeSlack, find_button
from tests.fakes.slack_driver import SlackDriver

SIGNING_SECRET = "driver-test-signing-secret"
BOT_TOKEN = "xoxb-driver-test"

SETTINGS_MODAL = {
    "type": "modal", "callback_id": "settings", "title": {"type": "plain_text", "text": "Settings"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {"type": "input", "block_id": "bot_name", "label": {"type": "plain_text", "text": "Bot name"},
         "element": {"type": "plain_text_input", "action_id": "value", "initial_value": "calbot"}},
        {"type": "input", "block_id": "default", "label": {"type": "plain_text", "text": "Default"},
         "element": {"type": "static_select", "action_id": "choice", "options": [
             {"text": {"type": "plain_text", "text": "Ask"}, "value": "ask"},
             {"text": {"type": "plain_text", "text": "Skip"}, "value": "skip"}]}},
        {"type": "input", "block_id": "digest", "optional": True, "label": {"type": "plain_text", "text": "Digest"},
         "element": {"type": "timepicker", "action_id": "time", "initial_time": "08:30"}},
        {"type": "input", "block_id": "notify", "optional": True, "label": {"type": "plain_text", "text": "Notify"},
         "element": {"type": "conversations_select", "action_id": "channel"}},
        {"type": "input", "block_id": "days", "optional": True, "label": {"type": "plain_text", "text": "Days"},
         "element": {"type": "checkboxes", "action_id": "days", "options": [
             {"text": {"type": "plain_text", "text": "Mon"}, "value": "mon"},
             {"text": {"type": "plain_text", "text": "Tue"}, "value": "tue"}]}},
    ],
}


def approval_blocks(meeting: str) -> list[dict]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"Record *{meeting}*?"}},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": "record", "text": {"type": "plain_text", "text": "Record"},
             "value": meeting, "style": "primary"},
            {"type": "button", "action_id": "skip", "text": {"type": "plain_text", "text": "Skip"}, "value": meeting},
        ]},
    ]


class BoltServer(FakeService):
    """A Bolt AsyncApp on loopback, served the way calbot serves it (ASGI, uvicorn)."""

    name = "bolt"

    def __init__(self, app: AsyncApp):
        self.handler = AsyncSlackRequestHandler(app)
        super().__init__()

    def routes(self):
        async def slack(request):
            return await self.handler.handle(request)

        return [Route("/slack/events", slack, methods=["POST"]),
                Route("/slack/install", slack, methods=["GET"]),
                Route("/slack/oauth_redirect", slack, methods=["GET"])]


def build_app(fake: FakeSlack, seen: list) -> AsyncApp:
    app = AsyncApp(signing_secret=SIGNING_SECRET,
                   client=AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake.url}/api/"))

    @app.command("/calbot")
    async def calbot(ack, body, client, respond):
        seen.append(("command", body))
        text = body["text"]
        if text == "settings":
            await ack()
            await client.views_open(trigger_id=body["trigger_id"], view=SETTINGS_MODAL)
        elif text == "approve":
            await ack()
            await client.chat_postMessage(channel=body["user_id"], text="Record Acme demo?",
                                          blocks=approval_blocks("acme-demo"))
        elif text == "later":
            await ack()
            await respond(text="Done, a bit later.")
        elif text == "menu":
            await ack(text="Pick one", blocks=[{"type": "actions", "elements": [
                {"type": "button", "action_id": "pick", "text": {"type": "plain_text", "text": "Pick"}}]}])
        else:
            await ack(text=f"You said: {text}")

    @app.action("record")
    async def record(ack, body, respond):
        await ack()
        seen.append(("record", body))
        await respond(replace_original=True, text=f"Recording {body['actions'][0]['value']} ✓")

    @app.action("pick")
    async def pick(ack, body, respond):
        await ack()
        seen.append(("pick", body))
        await respond(replace_original=True, text="Picked")

    @app.view("settings")
    async def save_settings(ack, view):
        values = view["state"]["values"]
        seen.append(("settings", values))
        if values["bot_name"]["value"]["value"] == "":
            await ack()
        elif len(values["bot_name"]["value"]["value"]) > 10:
            await ack(response_action="errors", errors={"bot_name": "10 characters at most"})
        else:
            await ack()

    def step(title: str, callback_id: str) -> dict:
        return {"type": "modal", "callback_id": callback_id, "title": {"type": "plain_text", "text": title},
                "submit": {"type": "plain_text", "text": "Next"}, "notify_on_close": True,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": title}}]}

    @app.command("/wizard")
    async def wizard(ack, body, client):
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=step("Step 1", "step1"))

    @app.view("step1")
    async def step1(ack):
        await ack(response_action="update", view=step("Step 1 again", "step1b"))

    @app.view("step1b")
    async def step1b(ack):
        await ack(response_action="push", view=step("Step 2", "step2"))

    @app.view("step2")
    async def step2(ack):
        await ack(response_action="clear")

    @app.view_closed("step1b")
    async def closed(ack, body):
        await ack()
        seen.append(("closed", body))

    @app.event("app_home_opened")
    async def home(event, client):
        seen.append(("home", event))
        await client.views_publish(user_id=event["user"], view={"type": "home", "blocks": [
            {"type": "actions", "elements": [
                {"type": "button", "action_id": "refresh", "text": {"type": "plain_text", "text": "Refresh"}}]}]})

    @app.event("tokens_revoked")
    async def tokens_revoked(event):
        seen.append(("tokens_revoked", event))

    @app.event("app_uninstalled")
    async def app_uninstalled(event):
        seen.append(("app_uninstalled", event))

    @app.action("refresh")
    async def refresh(ack, body):
        await ack()
        seen.append(("refresh", body))

    return app


@pytest.fixture
def seen() -> list:
    return []


@pytest.fixture
def bolt(slack_fake, seen):
    with BoltServer(build_app(slack_fake, seen)) as server:
        yield server


@pytest.fixture
def driver(bolt, slack_fake) -> SlackDriver:
    slack_fake.add_user("U_ANA", name="Ana")
    return SlackDriver(bolt.url, SIGNING_SECRET, slack_fake)


def kinds(seen: list, kind: str) -> list:
    return [body for k, body in seen if k == kind]


def test_slash_command_is_acked_and_the_reply_shown(driver, slack_fake, seen):
    response = driver.slash("U_ANA", "hello")
    assert response.status_code == 200 and response.text == "You said: hello"   # Bolt acks text as text/plain
    [body] = kinds(seen, "command")
    assert (body["command"], body["user_id"], body["team_id"]) == ("/calbot", "U_ANA", "T0001")
    assert body["channel_id"] == slack_fake.dm_channel("U_ANA") and body["response_url"].startswith(slack_fake.url)
    assert slack_fake.ephemerals("U_ANA")[-1]["text"] == "You said: hello"


def test_mentions_are_escaped_as_slack_does(driver, slack_fake, seen):
    slack_fake.add_channel("C_SALES", "sales-calls")
    driver.slash("U_ANA", "notify #sales-calls and @ana, not #unknown")
    assert kinds(seen, "command")[0]["text"] == "notify <#C_SALES|sales-calls> and <@U_ANA|ana>, not #unknown"


def test_respond_later_goes_through_the_response_url(driver, slack_fake):
    assert driver.slash("U_ANA", "later").status_code == 200
    slack_fake.wait_for(lambda: slack_fake.ephemerals("U_ANA"))
    assert slack_fake.ephemerals("U_ANA")[-1]["text"] == "Done, a bit later."


def test_forged_and_stale_requests_are_refused(driver, slack_fake, seen):
    slack_fake.reset_requests()
    assert driver.forged_slash("U_ANA", "hello").status_code == 401
    assert driver.stale_slash("U_ANA", "hello").status_code == 401
    assert seen == [] and slack_fake.calls() == []


def test_click_a_button_the_app_posted(driver, slack_fake, seen):
    driver.slash("U_ANA", "approve")
    message = slack_fake.wait_for(lambda: slack_fake.last_dm("U_ANA"))
    assert driver.click("U_ANA", message, text="Record").status_code == 200
    slack_fake.wait_for(lambda: slack_fake.last_dm("U_ANA")["text"].startswith("Recording"))
    [body] = kinds(seen, "record")
    assert body["type"] == "block_actions" and body["user"]["id"] == "U_ANA"
    assert body["container"] == {"type": "message", "message_ts": message["ts"],
                                 "channel_id": message["channel"], "is_ephemeral": False}
    assert body["message"]["ts"] == message["ts"] and body["channel"]["id"] == message["channel"]
    [action] = body["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("record", "acme-demo", "button")
    assert action["block_id"] == message["blocks"][1]["block_id"]
    assert slack_fake.last_dm("U_ANA")["text"] == "Recording acme-demo ✓"

    with pytest.raises(AssertionError, match="no button"):        # the message was replaced: no more buttons
        driver.click("U_ANA", message, text="Skip")
    slack_fake.add_user("U_BOB", name="Bob")
    with pytest.raises(AssertionError, match="cannot see"):
        driver.click("U_BOB", message, text="Skip")


def test_click_in_an_ephemeral_slash_reply(driver, slack_fake, seen):
    response = driver.slash("U_ANA", "menu")
    assert driver.click("U_ANA", response, text="Pick").status_code == 200
    slack_fake.wait_for(lambda: kinds(seen, "pick"))
    [body] = kinds(seen, "pick")
    assert body["container"]["is_ephemeral"] and "message" not in body
    slack_fake.wait_for(lambda: slack_fake.ephemerals("U_ANA")[-1]["text"] == "Picked")


def test_modal_submission_with_errors_then_success(driver, slack_fake, seen):
    driver.slash("U_ANA", "settings")
    modal = slack_fake.wait_for(lambda: slack_fake.top_view("U_ANA"))
    assert modal["callback_id"] == "settings"

    with pytest.raises(AssertionError, match="required input 'Default'"):
        driver.submit_view("U_ANA", values={"bot_name": {"value": "rec"}})
    with pytest.raises(AssertionError, match="no option"):
        driver.submit_view("U_ANA", values={"choice": "always"})

    response = driver.submit_view("U_ANA", values={"bot_name": {"value": "a-very-long-name"}, "choice": "ask"})
    assert response.json()["response_action"] == "errors"
    assert slack_fake.view_errors(modal["id"]) == {"bot_name": "10 characters at most"}
    assert slack_fake.top_view("U_ANA")["id"] == modal["id"]

    # what the user entered before the errors stays (here: Default = Ask)
    driver.submit_view("U_ANA", values={"bot_name": {"value": "Rec"}, "notify": {"channel": "C_SALES"},
                                        "days": ["mon", "tue"]})
    assert slack_fake.open_views("U_ANA") == []
    values = kinds(seen, "settings")[-1]
    assert values["bot_name"]["value"] == {"type": "plain_text_input", "value": "Rec"}
    assert values["default"]["choice"]["selected_option"]["value"] == "ask"
    assert values["digest"]["time"] == {"type": "timepicker", "selected_time": "08:30"}
    assert values["notify"]["channel"] == {"type": "conversations_select", "selected_conversation": "C_SALES"}
    assert [o["value"] for o in values["days"]["days"]["selected_options"]] == ["mon", "tue"]


def test_home_opened_event_and_home_click(driver, slack_fake, seen):
    response = driver.home_opened("U_ANA")
    assert response.status_code == 200
    home = slack_fake.wait_for(lambda: slack_fake.home_view("U_ANA"))
    assert find_button(home, text="Refresh")
    driver.click_home("U_ANA", text="Refresh")
    slack_fake.wait_for(lambda: kinds(seen, "refresh"))
    [body] = kinds(seen, "refresh")
    assert body["container"] == {"type": "view", "view_id": home["id"]} and body["view"]["type"] == "home"
    [event] = kinds(seen, "home")
    assert event["type"] == "app_home_opened" and event["tab"] == "home"


def test_event_envelope_and_redelivery(driver, slack_fake, bolt):
    assert driver.event({"type": "app_home_opened", "user": "U_ANA", "tab": "home",
                         "channel": slack_fake.dm_channel("U_ANA")}).status_code == 200
    first = driver.last_envelope
    assert first["type"] == "event_callback" and first["event_id"].startswith("Ev")
    assert first["authorizations"][0]["user_id"] == slack_fake.workspace().bot_user_id
    assert driver.redeliver(retry_num=1).status_code == 200
    assert driver.last_envelope["event_id"] == first["event_id"]
    delivered = bolt.calls("/slack/events")
    assert "x-slack-retry-num" not in delivered[0].headers
    assert (delivered[-1].headers["x-slack-retry-num"], delivered[-1].headers["x-slack-retry-reason"]) == \
        ("1", "http_timeout")
    assert delivered[-1].json()["event_id"] == first["event_id"]


def test_url_verification(driver):
    response = driver.url_verification("challenge-123")
    assert response.status_code == 200 and response.json() == {"challenge": "challenge-123"}


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated")
def test_install_through_the_fake_authorize_page(slack_fake, tmp_path):
    """Multi-workspace: /slack/install → fake authorize → /slack/oauth_redirect → oauth.v2.access."""
    slack_fake.add_workspace("T0002", "Globex")
    database = str(tmp_path / "installs.db")
    server = BoltServer(AsyncApp(
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(base_url=f"{slack_fake.url}/api/"),
        oauth_settings=AsyncOAuthSettings(
            client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET,
            scopes=["commands", "chat:write", "users:read"],
            authorization_url=f"{slack_fake.url}/oauth/v2/authorize",
            installation_store=SQLite3InstallationStore(database=database, client_id=DEFAULT_CLIENT_ID),
            state_store=SQLite3OAuthStateStore(database=database, expiration_seconds=600),
        ),
    ))
    with server:
        slack_fake.apps[DEFAULT_CLIENT_ID].redirect_urls = [f"{server.url}/slack/oauth_redirect"]
        driver = SlackDriver(server.url, SIGNING_SECRET, slack_fake, team_id="T0002")
        finished = driver.install("U_GLOBEX_ADMIN")
        assert finished.status_code == 200, finished.text
        token = slack_fake.bot_token_for("T0002")
        assert token and slack_fake.tokens[token].scopes == frozenset({"commands", "chat:write", "users:read"})
        installed = SQLite3InstallationStore(database=database, client_id=DEFAULT_CLIENT_ID).find_installation(
            enterprise_id=None, team_id="T0002")
        assert installed.bot_token == token and installed.bot_user_id == slack_fake.workspace("T0002").bot_user_id
        assert installed.bot_id == slack_fake.workspace("T0002").bot_id
        assert installed.team_name == "Globex" and installed.user_id == "U_GLOBEX_ADMIN"


def test_response_actions_update_push_clear_and_close(driver, slack_fake, seen):
    driver.slash("U_ANA", "", command="/wizard")
    first = slack_fake.wait_for(lambda: slack_fake.top_view("U_ANA"))
    driver.submit_view("U_ANA")                                   # update: same view, new content
    updated = slack_fake.top_view("U_ANA")
    assert updated["id"] == first["id"] and updated["title"]["text"] == "Step 1 again"
    driver.submit_view("U_ANA")                                   # push
    assert [v["title"]["text"] for v in slack_fake.open_views("U_ANA")] == ["Step 1 again", "Step 2"]
    driver.submit_view("U_ANA")                                   # clear
    assert slack_fake.open_views("U_ANA") == []

    driver.slash("U_ANA", "", command="/wizard")
    slack_fake.wait_for(lambda: slack_fake.top_view("U_ANA"))
    driver.submit_view("U_ANA")
    assert driver.close_view("U_ANA").status_code == 200          # notify_on_close: view_closed is sent
    slack_fake.wait_for(lambda: kinds(seen, "closed"))
    assert kinds(seen, "closed")[0]["type"] == "view_closed" and slack_fake.open_views("U_ANA") == []


def test_a_slow_ack_fails_the_test(bolt, slack_fake):
    impatient = SlackDriver(bolt.url, SIGNING_SECRET, slack_fake, ack_deadline=0.0)
    with pytest.raises(AssertionError, match="Slack gives up"):
        impatient.slash("U_ANA", "hello")


async def test_socket_mode_carries_the_same_conversations(slack_fake, seen):
    """SLACK_APP_TOKEN set: the app connects over Socket Mode; the driver then sends envelopes."""
    import asyncio

    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    slack_fake.add_user("U_ANA", name="Ana")
    handler = AsyncSocketModeHandler(build_app(slack_fake, seen), "xapp-1-A0001-socket-test")
    await handler.connect_async()
    try:
        await asyncio.to_thread(slack_fake.wait_for_socket)
        driver = SlackDriver("", "", slack_fake, transport="socket")

        response = await asyncio.to_thread(driver.slash, "U_ANA", "hello")
        assert response.status_code == 200 and response.json() == {"text": "You said: hello"}
        assert slack_fake.ephemerals("U_ANA")[-1]["text"] == "You said: hello"

        await asyncio.to_thread(driver.slash, "U_ANA", "approve")
        message = await asyncio.to_thread(slack_fake.wait_for, lambda: slack_fake.last_dm("U_ANA"))
        await asyncio.to_thread(driver.click, "U_ANA", message, text="Record")
        await asyncio.to_thread(
            slack_fake.wait_for, lambda: slack_fake.last_dm("U_ANA")["text"] == "Recording acme-demo ✓")

        assert (await asyncio.to_thread(driver.home_opened, "U_ANA")).status_code == 200
        await asyncio.to_thread(slack_fake.wait_for, lambda: slack_fake.home_view("U_ANA"))
        with pytest.raises(AssertionError, match="no request signatures"):
            driver.forged_slash("U_ANA", "hello")

        slack_fake.socket_disconnect()                 # Slack asks for a reconnect; the app opens a new link
        await asyncio.to_thread(slack_fake.wait_for_socket, 2)
        assert (await asyncio.to_thread(driver.slash, "U_ANA", "again")).json() == {"text": "You said: again"}
    finally:
        await handler.close_async()


def test_uninstall_revokes_tokens_then_tells_the_app(driver, slack_fake, seen):
    driver.slash("U_ANA", "hello")                     # Bolt has checked its token once
    assert [r.status_code for r in driver.uninstall()] == [200, 200]
    slack_fake.wait_for(lambda: kinds(seen, "app_uninstalled"))
    assert kinds(seen, "tokens_revoked")[0]["tokens"]["bot"] == [slack_fake.workspace().bot_user_id]
    assert slack_fake.bot_token_for() is None
