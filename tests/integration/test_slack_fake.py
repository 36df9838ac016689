"""The Slack fake speaks Slack's wire format to slack-sdk's real clients, and the driver speaks
Slack's request format to a real Bolt app: the two halves calbot's end-to-end tests stand on."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import (
    DEFAULT_BOT_TOKEN, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FakeSlack, find_button, text_of,
)

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Acme demo* Thu 10:00"}}


def approval_blocks(meeting: str = "m1") -> list[dict]:
    return [
        {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": f"Record *{meeting}*?"}},
        {"type": "actions", "block_id": "choices", "elements": [
            {"type": "button", "action_id": "record", "text": {"type": "plain_text", "text": "Record"},
             "style": "primary", "value": meeting},
            {"type": "button", "action_id": "skip", "text": {"type": "plain_text", "text": "Skip"}, "value": meeting},
        ]},
    ]


@pytest.fixture
def fake(slack_fake: FakeSlack) -> FakeSlack:
    slack_fake.add_user("U_ANA", tz="Europe/Paris", name="Ana", email="ana@acme.test")
    slack_fake.add_user("U_BOB", tz="America/New_York", name="Bob", is_admin=True)
    slack_fake.add_channel("C_SALES", "sales-calls", members=["U_ANA", "U_BOB"])
    return slack_fake


def web(fake: FakeSlack, token: str = DEFAULT_BOT_TOKEN) -> WebClient:
    return WebClient(token=token, base_url=f"{fake.url}/api/")


def async_web(fake: FakeSlack, token: str = DEFAULT_BOT_TOKEN, **kwargs) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=f"{fake.url}/api/", **kwargs)


# ------------------------------------------------------------------------------------------
# Web API
# ------------------------------------------------------------------------------------------

async def test_post_then_update_shows_the_edit(fake):
    client = async_web(fake)
    posted = await client.chat_postMessage(channel="C_SALES", text="Bot scheduled", blocks=[SECTION])
    assert posted["channel"] == "C_SALES" and posted["message"]["blocks"][0]["type"] == "section"
    await client.chat_update(channel="C_SALES", ts=posted["ts"], text="Moved to 11:00",
                             blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme demo* moved"}}])
    [message] = fake.messages("C_SALES")
    assert message["ts"] == posted["ts"] and message["text"] == "Moved to 11:00"
    assert "moved" in text_of(message)
    assert len(fake.message_versions("C_SALES", posted["ts"])) == 2

    await client.chat_update(channel="C_SALES", ts=posted["ts"], text="plain now")
    assert "blocks" not in fake.messages("C_SALES")[0]        # text without blocks replaces them, as Slack does
    await client.chat_delete(channel="C_SALES", ts=posted["ts"])
    assert fake.messages("C_SALES") == [] and len(fake.deleted_messages("C_SALES")) == 1
    with pytest.raises(SlackApiError) as error:
        await client.chat_update(channel="C_SALES", ts=posted["ts"], text="gone")
    assert error.value.response["error"] == "message_not_found"


def test_conversations_open_is_stable_and_dms_are_recorded(fake):
    client = web(fake)
    first = client.conversations_open(users="U_ANA")["channel"]["id"]
    again = client.conversations_open(users="U_ANA")
    assert first.startswith("D") and again["channel"]["id"] == first and again["already_open"]
    assert client.conversations_open(users="U_BOB")["channel"]["id"] != first
    client.chat_postMessage(channel="U_ANA", text="one")      # a user id posts into the DM
    client.chat_postMessage(channel=first, text="two")
    assert [m["text"] for m in fake.dms("U_ANA")] == ["one", "two"]
    assert fake.last_dm("U_ANA")["channel"] == first and fake.last_dm("U_BOB") is None
    info = client.conversations_info(channel=first)["channel"]
    assert info["is_im"] and info["user"] == "U_ANA"


def test_users_info_has_timezone_admin_and_email(fake):
    client = web(fake)
    ana = client.users_info(user="U_ANA")["user"]
    assert ana["tz"] == "Europe/Paris" and ana["tz_offset"] in (3600, 7200)
    assert ana["tz_label"].startswith("Central European")
    assert ana["profile"]["email"] == "ana@acme.test" and ana["real_name"] == "Ana" and not ana["is_admin"]
    bob = client.users_info(user="U_BOB")["user"]
    assert bob["is_admin"] and bob["tz_offset"] in (-18000, -14400)
    assert client.users_lookupByEmail(email="ana@acme.test")["user"]["id"] == "U_ANA"
    with pytest.raises(SlackApiError) as error:
        client.users_info(user="U_NOBODY")
    assert error.value.response["error"] == "user_not_found"
    with pytest.raises(SlackApiError) as error:
        client.users_lookupByEmail(email="nobody@acme.test")
    assert error.value.response["error"] == "users_not_found"
    assert client.team_info()["team"]["id"] == "T0001"


def test_tokens_missing_bad_and_revoked(fake):
    with pytest.raises(SlackApiError) as error:
        web(fake, token=None).auth_test()
    assert error.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as error:
        web(fake, token="not-a-token").auth_test()
    assert error.value.response["error"] == "invalid_auth"
    fake.adopt_unknown_bot_tokens = False
    with pytest.raises(SlackApiError) as error:
        web(fake, token="xoxb-made-up").auth_test()
    assert error.value.response["error"] == "invalid_auth"

    auth = web(fake).auth_test()
    assert (auth["team_id"], auth["user_id"], auth["url"]) == ("T0001", fake.workspace().bot_user_id,
                                                               "https://acme.slack.com/")
    assert auth["bot_id"] == fake.workspace().bot_id
    fake.revoke_token(DEFAULT_BOT_TOKEN)
    with pytest.raises(SlackApiError) as error:
        web(fake).chat_postMessage(channel="C_SALES", text="hi")
    assert error.value.response["error"] == "token_revoked"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_unknown_method_and_channel(fake):
    client = web(fake)
    with pytest.raises(SlackApiError) as error:
        client.api_call("chat.teleport")
    assert error.value.response["error"] == "unknown_method"
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C_NOWHERE", text="hi")
    assert error.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C_SALES")
    assert error.value.response["error"] == "no_text"


def test_rate_limit_surfaces_as_429_with_retry_after(fake):
    fake.rate_limit_next("chat.postMessage", retry_after=7)
    client = web(fake)
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C_SALES", text="hi")
    assert error.value.response.status_code == 429
    assert error.value.response["error"] == "ratelimited"
    assert error.value.response.headers["Retry-After"] in ("7", ["7"])
    assert client.chat_postMessage(channel="C_SALES", text="hi")["ok"]   # only the next call


async def test_rate_limit_retry_handler_waits_and_retries(fake):
    fake.rate_limit_next("chat.postMessage", retry_after=1)
    client = async_web(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    response = await client.chat_postMessage(channel="C_SALES", text="hi")
    assert response["ok"] and time.monotonic() - started >= 1.0
    assert len(fake.calls(r"chat\.postMessage$")) == 2
    assert len(fake.post_times("C_SALES")) == 1          # the refused attempt is not a post


def test_post_times_are_kept_per_channel(fake):
    client = web(fake)
    for text in ("a", "b"):
        client.chat_postMessage(channel="C_SALES", text=text)
    client.chat_postMessage(channel="U_ANA", text="c")
    assert len(fake.post_times("C_SALES")) == 2 and len(fake.post_times("U_ANA")) == 1
    times = fake.post_times("C_SALES")
    assert times == sorted(times)
    fake.enforce_channel_pace = 1.0                     # optional: the fake itself refuses a burst
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C_SALES", text="too soon")
    assert error.value.response.status_code == 429


def test_invalid_blocks_are_rejected(fake):
    client = web(fake)
    bad = [
        [{"type": "sektion", "text": {"type": "mrkdwn", "text": "typo"}}],
        [{"type": "section"}],
        [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}]}],
        [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "a"},
                                           "style": "green"}]}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "a"}, "accessory": {"type": "laser"}}],
        [{"type": "section", "block_id": "x", "text": {"type": "mrkdwn", "text": "a"}},
         {"type": "section", "block_id": "x", "text": {"type": "mrkdwn", "text": "b"}}],
        [SECTION] * 51,
    ]
    for blocks in bad:
        with pytest.raises(SlackApiError) as error:
            client.chat_postMessage(channel="C_SALES", text="fallback", blocks=blocks)
        assert error.value.response["error"] == "invalid_blocks", blocks
        assert error.value.response["response_metadata"]["messages"]
    assert fake.messages("C_SALES") == []
    client.chat_postMessage(channel="C_SALES", text="fallback", blocks=[SECTION] * 50)


def test_blocks_get_the_ids_slack_assigns(fake):
    blocks = [SECTION, {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "value": "v"}]}]
    web(fake).chat_postMessage(channel="C_SALES", text="x", blocks=blocks)
    [message] = fake.messages("C_SALES")
    assert all(block["block_id"] for block in message["blocks"])
    button = find_button(message, text="Go")
    assert button["action_id"] and button["block_id"] == message["blocks"][1]["block_id"]


def test_find_button_fails_clearly(fake):
    web(fake).chat_postMessage(channel="U_ANA", text="Record?", blocks=approval_blocks())
    message = fake.last_dm("U_ANA")
    assert find_button(message, text="record")["action_id"] == "record"   # case-insensitive fallback
    assert find_button(message, action_id="skip", value="m1")["text"]["text"] == "Skip"
    with pytest.raises(AssertionError, match="no button"):
        find_button(message, text="Always")


def test_views_need_a_fresh_trigger_and_respect_limits(fake):
    client = web(fake)
    modal = {"type": "modal", "callback_id": "settings", "title": {"type": "plain_text", "text": "Settings"},
             "blocks": [SECTION]}
    with pytest.raises(SlackApiError) as error:
        client.views_open(trigger_id="12345.98765.abcd2358fdea", view=modal)
    assert error.value.response["error"] == "invalid_trigger_id"
    old = fake.issue_trigger_id("U_ANA", issued_at=time.time() - 31)
    with pytest.raises(SlackApiError) as error:
        client.views_open(trigger_id=old, view=modal)
    assert error.value.response["error"] == "expired_trigger_id"

    trigger = fake.issue_trigger_id("U_ANA")
    opened = client.views_open(trigger_id=trigger, view=modal)["view"]
    assert opened["id"].startswith("V") and opened["hash"] and fake.top_view("U_ANA")["id"] == opened["id"]
    with pytest.raises(SlackApiError) as error:
        client.views_open(trigger_id=trigger, view=modal)
    assert error.value.response["error"] == "exchanged_trigger_id"

    pushed = client.views_push(trigger_id=fake.issue_trigger_id("U_ANA"), view=modal)["view"]
    assert [v["id"] for v in fake.open_views("U_ANA")] == [opened["id"], pushed["id"]]
    assert pushed["root_view_id"] == opened["id"] and pushed["previous_view_id"] == opened["id"]
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"],
                                  view={**modal, "title": {"type": "plain_text", "text": "Saved"}})["view"]
    assert updated["hash"] != opened["hash"] and fake.view(opened["id"])["title"]["text"] == "Saved"
    with pytest.raises(SlackApiError) as error:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)
    assert error.value.response["error"] == "hash_conflict"

    for too_big in ({**modal, "blocks": [SECTION] * 101},
                    {**modal, "title": {"type": "plain_text", "text": "x" * 25}}):
        with pytest.raises(SlackApiError) as error:
            client.views_open(trigger_id=fake.issue_trigger_id("U_ANA"), view=too_big)
        assert error.value.response["error"] == "invalid_arguments"


def test_home_view_is_published_per_user(fake):
    client = web(fake)
    home = {"type": "home", "blocks": [SECTION]}
    first = client.views_publish(user_id="U_ANA", view=home)["view"]
    second = client.views_publish(user_id="U_ANA", view={**home, "blocks": [SECTION, {"type": "divider"}]})["view"]
    assert first["id"] == second["id"] and len(fake.home_view("U_ANA")["blocks"]) == 2
    assert fake.home_view("U_BOB") is None
    with pytest.raises(SlackApiError) as error:
        client.views_publish(user_id="U_ANA", view={**home, "blocks": [SECTION] * 101})
    assert error.value.response["error"] == "invalid_arguments"


def test_ephemeral_and_scheduled_messages(fake):
    client = web(fake)
    assert client.chat_postEphemeral(channel="C_SALES", user="U_ANA", text="only you")["message_ts"]
    assert [e["text"] for e in fake.ephemerals("U_ANA")] == ["only you"] and fake.ephemerals("U_BOB") == []
    with pytest.raises(SlackApiError) as error:
        client.chat_postEphemeral(channel=fake.dm_channel("U_BOB"), user="U_ANA", text="no")
    assert error.value.response["error"] == "user_not_in_channel"

    post_at = int(time.time()) + 60
    scheduled = client.chat_scheduleMessage(channel="C_SALES", text="digest", post_at=post_at)
    assert scheduled["scheduled_message_id"].startswith("Q") and scheduled["post_at"] == post_at
    assert [s["text"] for s in fake.scheduled_messages("C_SALES")] == ["digest"]
    with pytest.raises(SlackApiError) as error:
        client.chat_scheduleMessage(channel="C_SALES", text="late", post_at=int(time.time()) - 10)
    assert error.value.response["error"] == "time_in_past"
    assert fake.deliver_scheduled(until=post_at)[0]["text"] == "digest"
    assert [m["text"] for m in fake.messages("C_SALES")] == ["digest"] and fake.scheduled_messages() == []


def test_response_url_posts_are_recorded_and_applied(fake):
    posted = web(fake).chat_postMessage(channel="U_ANA", text="Record?", blocks=approval_blocks())
    bound = fake.new_response_url(user_id="U_ANA", channel_id=posted["channel"], message_ts=posted["ts"])
    assert bound.startswith(f"{fake.url}/response/")
    assert WebhookClient(bound).send(text="Recording ✓", replace_original=True).status_code == 200
    assert fake.last_dm("U_ANA")["text"] == "Recording ✓" and "blocks" not in fake.last_dm("U_ANA")
    assert fake.responses(bound) == [{"text": "Recording ✓", "replace_original": True, "_status": 200}]

    loose = fake.new_response_url(user_id="U_ANA", channel_id="C_SALES")
    WebhookClient(loose).send(text="just for you")
    WebhookClient(loose).send(text="for everyone", response_type="in_channel")
    assert fake.ephemerals("U_ANA")[-1]["text"] == "just for you"
    assert fake.messages("C_SALES")[-1]["text"] == "for everyone"
    bad = WebhookClient(loose).send(text="x", blocks=[{"type": "nope"}])
    assert bad.status_code == 400 and fake.responses(loose)[-1]["_status"] == 400

    assert WebhookClient(bound).send(delete_original=True).status_code == 200
    assert fake.dms("U_ANA") == []
    assert httpx.post(f"{fake.url}/response/unknown", json={"text": "x"}).status_code == 404


def _authorize(fake: FakeSlack, scope: str, client_id: str = DEFAULT_CLIENT_ID, team: str = "T0002",
               user: str = "U_ADMIN2", user_scope: str = "") -> str:
    response = httpx.get(f"{fake.url}/oauth/v2/authorize", params={
        "client_id": client_id, "scope": scope, "user_scope": user_scope, "state": "s-123",
        "redirect_uri": "http://app.test/slack/oauth_redirect"},
        headers={"x-fake-slack-team": team, "x-fake-slack-user": user})
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    query = parse_qs(location.query)
    assert location.path == "/slack/oauth_redirect" and query["state"] == ["s-123"]
    return query["code"][0]


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated")
async def test_oauth_v2_access_round_trip(fake):
    fake.add_workspace("T0002", "Globex")
    fake.add_user("U_GLOBEX", team_id="T0002", email="g@globex.test")
    code = _authorize(fake, "chat:write,users:read,im:write", user_scope="search:read")
    client = async_web(fake, token=None)
    with pytest.raises(SlackApiError) as error:
        await client.oauth_v2_access(client_id=DEFAULT_CLIENT_ID, client_secret="wrong", code=code)
    assert error.value.response["error"] == "bad_client_secret"
    access = await client.oauth_v2_access(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET,
                                          code=code, redirect_uri="http://app.test/slack/oauth_redirect")
    assert access["team"] == {"id": "T0002", "name": "Globex"} and access["token_type"] == "bot"
    assert access["access_token"].startswith("xoxb-") and access["bot_user_id"] == fake.workspace("T0002").bot_user_id
    assert access["scope"] == "chat:write,im:write,users:read" and access["app_id"] == "A0001"
    assert access["authed_user"]["id"] == "U_ADMIN2" and access["authed_user"]["access_token"].startswith("xoxp-")
    assert "refresh_token" not in access
    with pytest.raises(SlackApiError) as error:   # codes are single-use
        await client.oauth_v2_access(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, code=code)
    assert error.value.response["error"] == "invalid_code"

    bot = async_web(fake, token=access["access_token"])
    assert (await bot.auth_test())["team_id"] == "T0002"
    user = (await bot.users_info(user="U_GLOBEX"))["user"]
    assert "email" not in user["profile"]               # no users:read.email granted
    with pytest.raises(SlackApiError) as error:
        await bot.team_info()
    assert (error.value.response["error"], error.value.response["needed"]) == ("missing_scope", "team:read")
    with pytest.raises(SlackApiError) as error:         # workspaces are separate
        await bot.users_info(user="U_ANA")
    assert error.value.response["error"] == "user_not_found"

    await bot.apps_uninstall(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)
    with pytest.raises(SlackApiError) as error:
        await bot.auth_test()
    assert error.value.response["error"] == "token_revoked"


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated")
async def test_token_rotation(fake):
    fake.add_app("9.9", "rotating-secret", app_id="A0009", token_rotation=True, expires_in=43200)
    code = _authorize(fake, "chat:write", client_id="9.9")
    client = async_web(fake, token=None)
    access = await client.oauth_v2_access(client_id="9.9", client_secret="rotating-secret", code=code)
    assert access["access_token"].startswith("xoxe.xoxb-") and access["refresh_token"].startswith("xoxe-1-")
    assert access["expires_in"] == 43200
    fake.expire_token(access["access_token"])
    with pytest.raises(SlackApiError) as error:
        await async_web(fake, token=access["access_token"]).auth_test()
    assert error.value.response["error"] == "token_expired"
    refreshed = await client.oauth_v2_access(client_id="9.9", client_secret="rotating-secret",
                                             grant_type="refresh_token", refresh_token=access["refresh_token"])
    assert refreshed["token_type"] == "bot" and refreshed["access_token"] != access["access_token"]
    assert (await async_web(fake, token=refreshed["access_token"]).auth_test())["ok"]


def test_authorize_can_be_denied(fake):
    fake.deny_next_authorization = True
    response = httpx.get(f"{fake.url}/oauth/v2/authorize", params={
        "client_id": DEFAULT_CLIENT_ID, "scope": "chat:write", "state": "s", "redirect_uri": "http://app.test/cb"})
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["access_denied"]


async def test_socket_mode_needs_an_app_level_token(fake):
    with pytest.raises(SlackApiError) as error:
        await async_web(fake).apps_connections_open(app_token=DEFAULT_BOT_TOKEN)
    assert error.value.response["error"] == "not_allowed_token_type"
    opened = await async_web(fake).apps_connections_open(app_token="xapp-1-A0001-test")
    assert opened["url"].startswith("ws://127.0.0.1:") and "ticket=" in opened["url"]
    with pytest.raises(SlackApiError) as error:
        await async_web(fake, token="xapp-1-A0001-test").auth_test()
    assert error.value.response["error"] == "not_allowed_token_type"
