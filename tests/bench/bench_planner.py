"""Benchmark the planner: plan every upcoming event of a large workspace.

    python tests/bench/bench_planner.py [--members 1000] [--events 100000]

Seeds members with a calendar each and events over 30 days (a third share a meeting link with
another member's event, as invitations do), then runs `Planner.step` until the queue is empty —
the work of the 30-minute sweep. Reports events planned per second and the longest single step
(which is how long the event loop is held, i.e. what a Slack ack could wait behind).
Plain script: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.config import load_settings  # noqa: E402
from bot.crypto import new_secret_key  # noqa: E402
from bot.engine.planner import Planner  # noqa: E402
from bot.server import build_context  # noqa: E402
from bot.timeutil import FixedClock, to_iso  # noqa: E402
from storage.meetings import enqueue  # noqa: E402

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)


def seed(db, members: int, events: int) -> None:
    now = to_iso(NOW)
    conn = db.conn
    conn.execute("BEGIN")
    conn.execute("INSERT INTO workspaces (team_id, installed_at) VALUES ('T1', ?)", [now])
    for m in range(1, members + 1):
        conn.execute("INSERT INTO members (id, team_id, user_id, tz, created_at) VALUES (?, 'T1', ?, 'Europe/Paris', ?)",
                     [m, f"U{m:05d}", now])
        conn.execute("INSERT INTO connections (id, member_id, provider, account, created_at, updated_at) "
                     "VALUES (?, ?, 'google', ?, ?, ?)", [m, m, f"u{m}@acme.com", now, now])
        conn.execute("INSERT INTO calendars (id, connection_id, provider_calendar_id, selected) VALUES (?, ?, 'primary', 1)",
                     [m, m])
    rows = []
    for n in range(events):
        member = n % members + 1
        start = NOW + timedelta(hours=1 + (n // members) % (30 * 10), minutes=0)
        shared = n % 3 == 0
        url = f"https://zoom.us/j/{(n // 2 if shared else n) + 10**9}"
        rows.append((member, f"ev{n}", f"uid{n // 2 if shared else n}@acme.com", f"Meeting {n % 50}", to_iso(start),
                     to_iso(start + timedelta(minutes=30)), url, "zoom", url, int(n % 4 == 0), "h", now))
    conn.executemany(
        "INSERT INTO events (calendar_id, provider_event_id, ical_uid, title, start_at, end_at, meeting_url, platform, "
        "meeting_key, organizer_self, content_hash, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(calbot_database=str(Path(tmp) / "bench.db"), calbot_secret_key=new_secret_key(),
                                 _env_file=None)
        ctx = build_context(settings, FixedClock(NOW))
        seed(ctx.db, args.members, args.events)
        enqueue(ctx.db, "team", ["T1"])
        planner = Planner(ctx)
        steps, longest = 0, 0.0
        cpu, started = time.process_time(), time.perf_counter()
        while True:
            step_started = time.perf_counter()
            more = await planner.step()
            longest = max(longest, time.perf_counter() - step_started)
            steps += 1
            if not more:
                break
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        planned = ctx.db.execute("SELECT COUNT(*) FROM plans").fetchone()[0]
        meetings = ctx.db.execute("SELECT COUNT(*) FROM meetings").fetchone()[0]
        print(f"{args.members:,} members, {args.events:,} events → {planned:,} plans, {meetings:,} meetings")
        print(f"{wall:.1f} s wall, {cpu:.1f} s CPU: {planned / wall:,.0f} events/s; {steps} steps, "
              f"longest step {longest * 1000:.0f} ms")
        await ctx.http.aclose()


if __name__ == "__main__":
    asyncio.run(main())
