"""manifest.yml creates the app in one paste: it fits Slack's manifest schema, asks for exactly the
scopes the code uses (every Web API method the code calls is covered, every scope listed is
needed), subscribes to exactly the events calbot handles, and points at calbot's routes."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())
CODE = {p: p.read_text() for d in ("bot", "handlers") for p in (ROOT / d).rglob("*.py")}

# The parts of Slack's app manifest schema (v1, github.com/slackapi/manifest-schema) that calbot's
# manifest uses, with Slack's limits; anything else in the file is refused (additionalProperties).
_URL = {"type": "string", "pattern": r"^https?://", "maxLength": 3000}
SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["display_information"],
    "properties": {
        "_metadata": {"type": "object"},
        "display_information": {
            "type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 35},
                "description": {"type": "string", "minLength": 1, "maxLength": 140},
                "background_color": {"type": "string", "pattern": r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$"},
                "long_description": {"type": "string", "minLength": 175, "maxLength": 4000},
            }},
        "features": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "app_home": {"type": "object", "additionalProperties": False, "properties": {
                    "home_tab_enabled": {"type": "boolean"}, "messages_tab_enabled": {"type": "boolean"},
                    "messages_tab_read_only_enabled": {"type": "boolean"}}},
                "bot_user": {"type": "object", "additionalProperties": False, "required": ["display_name"],
                             "properties": {"display_name": {"type": "string", "minLength": 1, "maxLength": 80},
                                            "always_online": {"type": "boolean"}}},
                "slash_commands": {"type": "array", "minItems": 1, "maxItems": 50, "items": {
                    "type": "object", "additionalProperties": False, "required": ["command", "description"],
                    "properties": {
                        "command": {"type": "string", "minLength": 2, "maxLength": 32, "pattern": r"^/"},
                        "url": _URL,
                        "description": {"type": "string", "minLength": 1, "maxLength": 2000},
                        "usage_hint": {"type": "string", "minLength": 1, "maxLength": 1000},
                        "should_escape": {"type": "boolean"}}}},
            }},
        "oauth_config": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "redirect_urls": {"type": "array", "uniqueItems": True, "maxItems": 1000,
                                  "items": {"type": "string", "maxLength": 2500}},
                "scopes": {"type": "object", "additionalProperties": False, "properties": {
                    kind: {"type": "array", "maxItems": 255, "uniqueItems": True,
                           "items": {"type": "string", "maxLength": 50}} for kind in ("bot", "user")}},
                "token_management_enabled": {"type": "boolean"},
            }},
        "settings": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "event_subscriptions": {"type": "object", "additionalProperties": False, "properties": {
                    "request_url": {**_URL, "maxLength": 3500},
                    "bot_events": {"type": "array", "maxItems": 100, "uniqueItems": True,
                                   "items": {"type": "string", "maxLength": 50}},
                    "user_events": {"type": "array", "maxItems": 100, "uniqueItems": True,
                                    "items": {"type": "string", "maxLength": 50}}}},
                "interactivity": {"type": "object", "additionalProperties": False, "required": ["is_enabled"],
                                  "properties": {"is_enabled": {"type": "boolean"},
                                                 "request_url": {**_URL, "maxLength": 3500},
                                                 "message_menu_options_url": {**_URL, "maxLength": 3500}}},
                "org_deploy_enabled": {"type": "boolean"},
                "socket_mode_enabled": {"type": "boolean"},
                "token_rotation_enabled": {"type": "boolean"},
            }},
    },
}

# Web API methods calbot calls (slack-sdk method names) -> the bot scopes that allow them
# (any one suffices); methods that need no scope map to ().
METHOD_SCOPES = {
    "chat_postMessage": ("chat:write",), "chat_update": ("chat:write",), "chat_postEphemeral": ("chat:write",),
    "chat_delete": ("chat:write",),
    "conversations_open": ("im:write",),
    "conversations_history": ("im:history",),   # DMs only: see manifest.yml
    "conversations_info": ("channels:read", "groups:read"),
    "conversations_list": ("channels:read",),
    "users_info": ("users:read",), "users_list": ("users:read",),
    "users_lookupByEmail": ("users:read.email",), "team_info": ("team:read",),
    "views_open": (), "views_publish": (), "views_update": (), "views_push": (),
    "auth_test": (), "oauth_v2_access": (), "apps_connections_open": (),
}
# What in the code needs each scope besides the methods above.
SCOPE_EVIDENCE = {
    "commands": r'@app\.command\("/calbot"\)',
    "chat:write.public": r"posts there without joining",     # /calbot notify accepts public channels calbot is not in
    "groups:read": r'channel\.get\("is_private"\)',
}


def test_the_manifest_fits_slacks_schema():
    jsonschema.validate(MANIFEST, SCHEMA)


def test_every_web_api_method_the_code_calls_is_allowed_by_a_listed_scope():
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    called = set()
    for text in CODE.values():
        called |= set(re.findall(r"\bclient\.([A-Za-z_]+)\(", text))
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these Slack methods to METHOD_SCOPES (and the manifest if they need a scope): {unknown}"
    for method in called:
        needs = METHOD_SCOPES[method]
        assert not needs or scopes & set(needs), f"{method} needs one of {needs}"


def test_every_listed_scope_is_used():
    called = set()
    for text in CODE.values():
        called |= set(re.findall(r"\bclient\.([A-Za-z_]+)\(", text))
    everything = "\n".join(CODE.values())
    for scope in MANIFEST["oauth_config"]["scopes"]["bot"]:
        by_method = any(scope in METHOD_SCOPES.get(m, ()) for m in called)
        by_evidence = scope in SCOPE_EVIDENCE and re.search(SCOPE_EVIDENCE[scope], everything)
        assert by_method or by_evidence, f"{scope} is listed but nothing uses it: drop it (least privilege)"


def test_the_install_flow_asks_for_the_manifest_scopes():
    from handlers.slack.app import BOT_SCOPES

    assert BOT_SCOPES == MANIFEST["oauth_config"]["scopes"]["bot"]


def test_every_handled_event_is_subscribed_and_every_subscription_handled():
    handled = set()
    for path, text in CODE.items():
        if "handlers/slack" in str(path):
            handled |= set(re.findall(r'@app\.event\("([a-z_.]+)"\)', text))
    assert handled == set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])


def test_the_slash_command_is_the_one_calbot_answers():
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/calbot" and command["should_escape"] is True   # #channel arrives as <#C…|name>
    for word in ("upcoming", "record", "notify #channel"):
        assert word in command["usage_hint"]


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    from bot.config import load_settings
    from bot.crypto import new_secret_key
    from bot.server import create_app

    settings = load_settings(calbot_database=str(tmp_path_factory.mktemp("m") / "c.db"),
                             calbot_secret_key=new_secret_key(), slack_client_id="1.2", slack_client_secret="s",
                             slack_signing_secret="x", _env_file=None)
    app = create_app(settings)
    found = {(getattr(r, "path", None), m) for r in app.routes for m in (getattr(r, "methods", None) or ())}
    app.state.ctx.db.close()
    return found


def test_urls_point_at_calbots_routes(routes):
    def path(url: str) -> str:
        assert url.startswith("https://calbot.example.com/")
        return "/" + url.split("/", 3)[3]

    posts = [MANIFEST["settings"]["event_subscriptions"]["request_url"],
             MANIFEST["settings"]["interactivity"]["request_url"],
             MANIFEST["features"]["slash_commands"][0]["url"]]
    for url in posts:
        assert (path(url), "POST") in routes
    for url in MANIFEST["oauth_config"]["redirect_urls"]:
        assert (path(url), "GET") in routes
    assert ("/slack/install", "GET") in routes


def test_app_home_and_read_only_messages():
    home = MANIFEST["features"]["app_home"]
    assert home == {"home_tab_enabled": True, "messages_tab_enabled": True, "messages_tab_read_only_enabled": True}
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
