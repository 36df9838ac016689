"""Benchmark the Slack side.

    python tests/bench/bench_slack.py [--requests 2000] [--concurrency 50] [--digest-members 5000]

Measures
1. Ack latency of `calbot serve` (a real process, Bolt behind uvicorn) for signed slash commands
   (`/calbot upcoming`) and button clicks (Record, Show more) — 50 requests in flight at once,
   with 100,000 events and 1,000 members in the database — p50/p99, target p99 < 100 ms. Side
   by side, in the same run and against the same server, a bare endpoint (`GET /healthz`: one
   `SELECT 1`), so the figures separate calbot's cost from the machine's. The work after each
   ack (rendering the list and answering through response_url) runs in the same process and
   competes for the same event loop, as in production.
2. Digest composition for 5,000 members due at the same minute: finding who is due, one batched
   agenda query, Block Kit for each, and the exactly-once rows + outbox messages — target < 5 s.
   Slack pacing (the notifier's 1 message/s per channel) is excluded: that is Slack's time.

Plain script: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.timeutil import FixedClock, to_iso  # noqa: E402
from storage.db import open_database  # noqa: E402

NOW = datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)     # Monday 08:30 in Paris: everyone's digest is due
AFTERNOON = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)  # no digest due: the ack benchmark measures acks
TEAM = "T0001"
TITLES = ["Acme demo", "Weekly sync", "1:1", "Design review", "Customer call", "Standup", "Planning",
          "Interview", "Board prep", "Retro"]


# -- a big database, written fast ---------------------------------------------------------------

def seed(db, *, members: int, events: int, days: int = 30, start: datetime = NOW, tz: str = "Europe/Paris",
         per_day_today: int | None = None) -> list[str]:
    """`members` members with a connected calendar each and `events` events spread over `days`
    days from `start` (about a third planned as recorded). Returns the Slack user ids."""
    now = to_iso(start)
    conn = db.conn
    conn.execute("BEGIN")
    conn.execute("INSERT INTO workspaces (team_id, name, installed_at) VALUES (?, 'Acme', ?)", [TEAM, now])
    users = [f"U{n:06d}" for n in range(members)]
    conn.executemany("INSERT INTO members (id, team_id, user_id, name, tz, profile_synced_at, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(n + 1, TEAM, u, f"Person {n}", tz, now, now) for n, u in enumerate(users)])
    conn.executemany("INSERT INTO connections (id, member_id, provider, account, status, created_at, updated_at) "
                     "VALUES (?, ?, 'google', ?, 'active', ?, ?)",
                     [(n + 1, n + 1, f"p{n}@acme.example", now, now) for n in range(members)])
    far = to_iso(start + timedelta(days=365))
    conn.executemany("INSERT INTO calendars (id, connection_id, provider_calendar_id, name, is_primary, selected, "
                     "sync_token, last_synced_at, next_sync_at) VALUES (?, ?, ?, 'Work', 1, 1, 'tok', ?, ?)",
                     [(n + 1, n + 1, f"p{n}@acme.example", now, far) for n in range(members)])
    rng = random.Random(7)
    meetings, rows = [], []
    day0 = start.replace(hour=6, minute=0)
    for n in range(events):
        member = n % members
        if per_day_today is not None and (n // members) < per_day_today:
            begin = day0 + timedelta(hours=1 + (n // members) * 2)          # today, spread through the day
        else:
            begin = day0 + timedelta(days=rng.randrange(days), minutes=30 * rng.randrange(24))
        end = begin + timedelta(minutes=30)
        title = TITLES[n % len(TITLES)]
        url = f"https://zoom.us/j/{9000000000 + n}"
        meeting_id = None
        if n % 3 == 0:
            meeting_id = len(meetings) + 1
            meetings.append((meeting_id, TEAM, f"m{n}", title, url, "zoom", to_iso(begin), to_iso(end),
                             "record", "rule 1: title contains 'demo'", now))
        rows.append((n + 1, member + 1, f"ev{n}", f"uid{n}", title, to_iso(begin), to_iso(end), url, "zoom", url,
                     meeting_id, hashlib.md5(str(n).encode()).hexdigest(), now))
    conn.executemany("INSERT INTO meetings (id, team_id, identity, title, meeting_url, platform, start_at, end_at, "
                     "desired, reason, planned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", meetings)
    conn.executemany("INSERT INTO events (id, calendar_id, provider_event_id, ical_uid, title, start_at, end_at, "
                     "meeting_url, platform, meeting_key, meeting_id, content_hash, synced_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    return users


# -- 1. acks under load ------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Connection:
    """A minimal keep-alive HTTP/1.1 client connection: prebuilt request bytes in, status out.
    (httpx costs ~1 ms of client CPU per request, on the same two cores as the server.)"""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            self.reader = self.writer = None
        return status, body


def raw_request(method: str, url: str, headers: dict, body: bytes) -> bytes:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    lines = [f"{method} {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def fire(pool: list, requests: list) -> list[float]:
    """Send `requests` ((method, url, headers, body)) over the pool's connections, one request in
    flight per connection; latencies in ms. Connections stay open between calls (keep-alive), as
    Slack keeps its connections to an app open: opening fifty at the same instant is measured
    once, on its own, not mixed into every kind's figures."""
    latencies: list[float] = []
    queue = [raw_request(*r) for r in reversed(requests)]
    failures = []

    async def worker(connection):
        while queue:
            raw = queue.pop()
            started = time.perf_counter()
            status, body = await connection.request(raw)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                failures.append((status, body[:200]))

    await asyncio.gather(*(worker(connection) for connection in pool))
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[:3]}")
    return latencies


SINK = """
import json, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def api(request):
    method = request.path_params["method"]
    if method == "auth.test":
        return JSONResponse({"ok": True, "url": "https://acme.slack.com/", "team": "Acme", "user": "calbot",
                             "team_id": "T0001", "user_id": "UBOT", "bot_id": "BBOT"})
    return JSONResponse({"ok": True})

async def response(request):
    await request.body()
    return JSONResponse({"ok": True})

app = Starlette(routes=[Route("/api/{method:path}", api, methods=["GET", "POST"]),
                        Route("/response/{rid}", response, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def start_sink() -> tuple[subprocess.Popen, str]:
    """Slack's side as cheap as possible, in its own process: every Web API call is ok, every
    response_url post is taken. (The Slack fake validates every block with slack-sdk's models,
    which is right for tests and wrong for a benchmark of calbot's CPU.)"""
    from tests.fakes.base import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            httpx.post(f"{url}/api/api.test", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the Slack sink did not start")


def wait_for_engine(path: Path, timeout: float = 300.0) -> bool:
    """Measure the steady state Slack sees, not the first planning pass over freshly seeded data."""
    import sqlite3

    deadline = time.time() + timeout
    while time.time() < deadline:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            swept = conn.execute("SELECT 1 FROM cursors WHERE name = 'planner:last_sweep'").fetchone()
            queued = conn.execute("SELECT COUNT(*) FROM plan_queue").fetchone()[0]
        finally:
            conn.close()
        if swept and not queued:
            return True
        time.sleep(0.5)
    return False


def bench_acks(n_requests: int, concurrency: int, members: int, events: int) -> dict:
    from slack_sdk.signature import SignatureVerifier

    from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET, CalbotProcess

    verifier = SignatureVerifier(SIGNING_SECRET)
    results = {}
    sink, sink_url = start_sink()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            db = open_database(tmp_path / "calbot.db")
            started = time.perf_counter()
            users = seed(db, members=members, events=events)
            print(f"seeded {members:,} members and {events:,} events in {time.perf_counter() - started:.1f}s")
            # a meeting of each clicking member, as the buttons of their `upcoming week` list carry it
            week_end = to_iso(AFTERNOON + timedelta(days=7))
            clicks = {}
            for member_id in range(1, 201):
                row = db.execute("SELECT e.id FROM events e WHERE e.calendar_id = ? AND e.start_at > ? "
                                 "AND e.start_at < ? ORDER BY e.start_at LIMIT 1",
                                 [member_id, to_iso(AFTERNOON), week_end]).fetchone()
                clicks[users[member_id - 1]] = row[0]
            db.close()
            clock_file = tmp_path / "clock.txt"
            clock_file.write_text(to_iso(AFTERNOON))
            proc = CalbotProcess(tmp_path, {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                                            "CALBOT_SLACK_API_URL": f"{sink_url}/api/",
                                            "CALBOT_CLOCK_FILE": str(clock_file)})
            with proc:
                url = f"{proc.url}/slack/events"
                started = time.perf_counter()
                settled = wait_for_engine(tmp_path / "calbot.db")
                print(f"the engine's first pass over the seeded data (planning {events:,} events): "
                      f"{time.perf_counter() - started:.1f}s{'' if settled else ' (not finished: measuring anyway)'}")

                def signed(body: str) -> tuple:
                    timestamp = str(int(time.time()))
                    return ("POST", url, {"Content-Type": "application/x-www-form-urlencoded",
                                          "X-Slack-Request-Timestamp": timestamp,
                                          "X-Slack-Signature": verifier.generate_signature(timestamp=timestamp,
                                                                                           body=body)},
                            body.encode())

                def slash_request(i: int) -> tuple:
                    user = users[i % 200]
                    return signed(urlencode({
                        "token": "x", "team_id": TEAM, "team_domain": "acme", "channel_id": "D" + user,
                        "channel_name": "directmessage", "user_id": user, "user_name": user, "command": "/calbot",
                        "text": os.environ.get("BENCH_SLASH", "upcoming"), "api_app_id": "A0001", "is_enterprise_install": "false",
                        "response_url": f"{sink_url}/response/{i}", "trigger_id": f"1.{i}.abc"}))

                def click_request(i: int, action_id: str, value: str) -> tuple:
                    user = users[i % 200]
                    payload = {
                        "type": "block_actions", "user": {"id": user, "username": user, "team_id": TEAM},
                        "api_app_id": "A0001", "token": "x", "team": {"id": TEAM, "domain": "acme"},
                        "trigger_id": f"1.{i}.abc", "is_enterprise_install": False,
                        "container": {"type": "message", "message_ts": "1.000001", "channel_id": "D" + user,
                                      "is_ephemeral": True},
                        "channel": {"id": "D" + user, "name": "directmessage"},
                        "response_url": f"{sink_url}/response/{i}", "state": {"values": {}},
                        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                                     "text": {"type": "plain_text", "text": "x"}, "action_ts": "1.2"}]}
                    return signed(urlencode({"payload": json.dumps(payload)}))

                kinds = {
                    "bare endpoint (GET /healthz)": [("GET", f"{proc.url}/healthz", {}, b"")] * n_requests,
                    "slash command /calbot upcoming": [slash_request(i) for i in range(n_requests)],
                    "button: Show more": [click_request(i, "upcoming_more", "week:1") for i in range(n_requests)],
                    "button: Skip": [click_request(i, "meeting_skip", f"{clicks[users[i % 200]]}|up:week:0")
                                     for i in range(n_requests)],
                }

                async def run_all():
                    pool = [Connection("127.0.0.1", proc.port) for _ in range(concurrency)]
                    cold = await fire(pool, kinds["bare endpoint (GET /healthz)"][:concurrency])
                    collected = {f"bare, {concurrency} new connections at once": cold}
                    await fire(pool, kinds["bare endpoint (GET /healthz)"][:200])   # warm up
                    await fire(pool, kinds["slash command /calbot upcoming"][:100])
                    await asyncio.sleep(1.0)
                    # interleave rounds so each kind sees the same machine load
                    rounds = 4
                    per_round = n_requests // rounds
                    collected.update({name: [] for name in kinds})
                    for r in range(rounds):
                        for name, requests in kinds.items():
                            collected[name] += await fire(pool, requests[r * per_round:(r + 1) * per_round])
                            await asyncio.sleep(1.0)       # let the work after the acks drain
                    for connection in pool:
                        if connection.writer is not None:
                            connection.writer.close()
                    return collected

                # The client's own heap (the seeded rows, thousands of prepared requests) would make
                # its garbage collector pause every in-flight measurement at once: freeze it.
                gc.collect()
                gc.freeze()
                collected = asyncio.run(run_all())
                gc.unfreeze()
                for name, latencies in collected.items():
                    results[name] = {"n": len(latencies), "p50": percentile(latencies, 50),
                                     "p99": percentile(latencies, 99), "max": max(latencies)}
    finally:
        sink.terminate()
        sink.wait(10)
    return results


# -- 2. digest composition for 5,000 members ---------------------------------------------------------------

def bench_digest(members: int, events: int) -> dict:
    from bot.config import load_settings
    from bot.crypto import new_secret_key
    from bot.engine.digests import DigestSender, compose, due_members, record_and_queue
    from bot.server import build_context

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calbot.db"
        db = open_database(path)
        seed(db, members=members, events=events, per_day_today=4)
        db.close()
        settings = load_settings(calbot_database=str(path), calbot_secret_key=new_secret_key(),
                                 calbot_push="off", _env_file=None)
        ctx = build_context(settings, FixedClock(NOW))
        timings = {}
        started = time.perf_counter()
        due = due_members(ctx, NOW, limit=10**9)
        timings["find who is due"] = time.perf_counter() - started
        started = time.perf_counter()
        composed = compose(ctx, due, NOW)
        timings["agenda query + Block Kit"] = time.perf_counter() - started
        started = time.perf_counter()
        queued = record_and_queue(ctx, composed)
        timings["exactly-once rows + outbox"] = time.perf_counter() - started
        total = sum(timings.values())
        blocks = [len(p["blocks"]) for _, p in composed if p]
        # the loop as it runs (batches of 1,000), on a fresh copy of the state
        ctx.db.execute("DELETE FROM digests")
        ctx.db.execute("DELETE FROM outbox")
        sender = DigestSender(ctx)
        started = time.perf_counter()
        steps = 1
        while asyncio.run(sender.step()):
            steps += 1
        loop_total = time.perf_counter() - started
        ctx.db.close()
    return {"due": len(due), "queued": queued, "timings": timings, "total": total, "loop_total": loop_total,
            "loop_steps": steps, "blocks_avg": statistics.mean(blocks) if blocks else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="requests per kind")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--digest-members", type=int, default=5000)
    parser.add_argument("--digest-events", type=int, default=100_000)
    parser.add_argument("--skip-acks", action="store_true")
    parser.add_argument("--skip-digest", action="store_true")
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.skip_acks:
        print(f"\nAcks: {args.requests} requests per kind, {args.concurrency} in flight, "
              f"{args.members:,} members, {args.events:,} events")
        results = bench_acks(args.requests, args.concurrency, args.members, args.events)
        print(f"| {'request':<34} | {'n':>5} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} |")
        for name, r in results.items():
            print(f"| {name:<34} | {r['n']:>5} | {r['p50']:>7.1f} | {r['p99']:>7.1f} | {r['max']:>7.1f} |")
    if not args.skip_digest:
        print(f"\nDigest composition: {args.digest_members:,} members due at once, "
              f"{args.digest_events:,} events in the database")
        r = bench_digest(args.digest_members, args.digest_events)
        for name, seconds in r["timings"].items():
            print(f"  {name:<30} {seconds:6.2f} s")
        print(f"  {'total':<30} {r['total']:6.2f} s  ({r['queued']:,} digests queued for {r['due']:,} members due, "
              f"{r['blocks_avg']:.1f} blocks each)")
        print(f"  the loop itself, batches of 1,000: {r['loop_total']:.2f} s in {r['loop_steps']} steps")
        print(f"  load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
