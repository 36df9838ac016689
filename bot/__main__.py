"""The `calbot` command: serve, init, check, api-key create|list|revoke (PRODUCT.md, "Commands")."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

from bot.config import SettingsError, load_settings

EXIT_PROBLEMS = 1
EXIT_BAD_SETTINGS = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="calbot", description="Slack app and Calendars API for meeting recording bots.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server and the engine")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)

    init = sub.add_parser("init", help="write a .env with a fresh CALBOT_SECRET_KEY (never overwrites)")
    init.add_argument("--path", default=".env")

    sub.add_parser("check", help="validate settings, open the database, call each configured upstream")

    api_key = sub.add_parser("api-key", help="manage REST API keys")
    api_key_sub = api_key.add_subparsers(dest="api_key_command", required=True)
    create = api_key_sub.add_parser("create", help="print a new API key once (stored hashed)")
    create.add_argument("--team", required=True, help="Slack team id, e.g. T01234567")
    create.add_argument("--user", help="Slack user id: a member key sees only that member's calendars")
    create.add_argument("--name", default="", help="a label to recognise the key by")
    listing = api_key_sub.add_parser("list", help="list a workspace's API keys (never the keys themselves)")
    listing.add_argument("--team", required=True, help="Slack team id, e.g. T01234567")
    revoke = api_key_sub.add_parser("revoke", help="revoke an API key by its id (from `api-key list`)")
    revoke.add_argument("--team", required=True, help="Slack team id the key belongs to")
    revoke.add_argument("id", type=int, help="the key's id, as `api-key list` shows it")

    args = parser.parse_args(argv)
    if args.command == "init":
        return run_init(Path(args.path))
    if args.command == "check":
        from bot.diagnostics import run_check

        return asyncio.run(run_check())
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"calbot: invalid settings: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if args.command == "serve":
        return run_serve(settings, args.host, args.port)
    if args.command == "api-key" and args.api_key_command == "list":
        return run_api_key_list(settings, args.team)
    if args.command == "api-key" and args.api_key_command == "revoke":
        return run_api_key_revoke(settings, args.team, args.id)
    if args.command == "api-key":
        return run_api_key_create(settings, args.team, args.user, args.name)
    return EXIT_PROBLEMS


def run_serve(settings, host: str, port: int) -> int:
    import uvicorn

    from bot.logs import configure_logging
    from bot.server import StartupError, announce_integrations, create_app
    from storage.db import DatabaseError
    from storage.migrations import MigrationError

    configure_logging()
    announce_integrations(settings)
    try:
        app = create_app(settings)
    except (StartupError, DatabaseError, MigrationError) as exc:
        logging.getLogger("calbot").error("cannot start: %s", exc)
        print(f"calbot: cannot start: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown: requests finish, the lifespan's
    # shutdown stops the engine loops and closes the database. Afterwards it re-raises the signal
    # to whatever handler was there before; with these no-op handlers a clean stop exits 0
    # instead of dying by the signal it has already handled.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    # Everything alive now (modules, pydantic schemas, Bolt, the routes: ~140,000 objects) lives as
    # long as the process. Left to the collector, every full collection walks all of it: a 50-70 ms
    # pause of every request in flight, every second or two under load (tests/bench/README.md,
    # Slack). Frozen, it is skipped, and collections walk only what was made since.
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=10, lifespan="on")
    return 0


ENV_TEMPLATE = """\
# calbot settings — see README.md for what each one does.
CALBOT_SECRET_KEY={secret_key}
# CALBOT_PUBLIC_URL=https://calbot.example.com
# CALBOT_DATABASE=calbot.db
# CALBOT_PUSH=auto
# CALBOT_POLL_SECONDS=300
# CALBOT_SYNC_DAYS=30

# Slack, single workspace:
# SLACK_BOT_TOKEN=xoxb-...
# SLACK_SIGNING_SECRET=...
# Slack, multi-workspace install at /slack/install:
# SLACK_CLIENT_ID=...
# SLACK_CLIENT_SECRET=...
# Slack Socket Mode:
# SLACK_APP_TOKEN=xapp-...

# GOOGLE_CLIENT_ID=...
# GOOGLE_CLIENT_SECRET=...
# MICROSOFT_CLIENT_ID=...
# MICROSOFT_CLIENT_SECRET=...
# MICROSOFT_TENANT=common

# MEETINGBAAS_API_KEY=...
# MEETINGBAAS_WEBHOOK_SECRET=whsec_...
"""


def run_init(path: Path) -> int:
    from bot.crypto import new_secret_key

    if path.exists():
        print(f"{path} already exists; left unchanged.")
        return 0
    path.write_text(ENV_TEMPLATE.format(secret_key=new_secret_key()))
    path.chmod(0o600)
    print(f"Wrote {path} with a fresh CALBOT_SECRET_KEY. Keep it safe: it encrypts the stored tokens.")
    return 0


def run_api_key_create(settings, team_id: str, user_id: str | None, name: str) -> int:
    from bot.timeutil import Clock
    from storage.api_keys import create_api_key
    from storage.db import open_database
    from storage.members import ensure_member, ensure_workspace

    clock = Clock()
    db = open_database(settings.calbot_database)
    ensure_workspace(db, team_id, clock=clock)
    member_id = ensure_member(db, team_id, user_id, clock=clock)["id"] if user_id else None
    _, key = create_api_key(db, team_id=team_id, member_id=member_id, name=name, clock=clock)
    scope = f"member {user_id}" if user_id else "the whole workspace"
    print(key)
    print(f"(API key for {scope} of {team_id}; shown once, stored hashed)", file=sys.stderr)
    return 0


def run_api_key_list(settings, team_id: str) -> int:
    from storage.api_keys import list_api_keys
    from storage.db import open_database

    keys = list_api_keys(open_database(settings.calbot_database), team_id)
    if not keys:
        print(f"No API keys for {team_id}.")
        return 0
    print("id\tprefix\tscope\tname\tcreated\tlast used\tstatus")
    for key in keys:
        scope = f"member {key['user_id']}" if key["member_id"] else "workspace"
        status = f"revoked {key['revoked_at']}" if key["revoked_at"] else "active"
        print(f"{key['id']}\t{key['prefix']}…\t{scope}\t{key['name'] or '-'}\t{key['created_at']}\t"
              f"{key['last_used_at'] or 'never'}\t{status}")
    return 0


def run_api_key_revoke(settings, team_id: str, key_id: int) -> int:
    from bot.timeutil import Clock
    from storage.api_keys import revoke_api_key
    from storage.db import open_database

    if revoke_api_key(open_database(settings.calbot_database), key_id, team_id=team_id, clock=Clock()):
        print(f"Revoked API key {key_id} of {team_id}; requests with it now get 401.")
        return 0
    print(f"calbot: no active API key {key_id} in {team_id} (see `calbot api-key list --team {team_id}`)",
          file=sys.stderr)
    return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
