"""Benchmark calendar sync: a full sync of a big calendar, and one incremental change in it.

    python tests/bench/bench_sync.py                  # Google 100,000 events, Graph 20,000
    python tests/bench/bench_sync.py --google 20000 --microsoft 5000

For each provider, in the same run and against the same fake pages:
- **calbot**: `Syncer.sync_calendar` through the real adapter — fetch, normalise (link detection
  included), hash, diff against the store, write events + the change feed — then one event is
  moved at the provider and an incremental sync picks it up;
- **floor**: the same pages fetched with httpx and bulk-inserted with sqlite-utils
  (`insert_all` of a few flat columns), no logic at all.

Each measurement runs in its own process (so peak RSS is that run's own, `ru_maxrss`), with the
provider fake in a child process of it (so the fake's memory and CPU are not counted as ours).
"Our processing" for the incremental sync is its wall time minus the time spent waiting for HTTP
responses. Targets: >= 10,000 events/s, within 2x of the floor, peak RSS < 250 MB, incremental
< 50 ms of our processing. Plain script: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

UTC = timezone.utc
GOOGLE_ACCOUNT = "bench@acme.com"
GRAPH_ACCOUNT = "bench@contoso.com"


# -- the provider fake, in a child process ------------------------------------------------------

def fake_process(provider: str, n: int, conn) -> None:
    """Start the fake, fill the calendar, hand over what a client needs, then obey commands."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    # n events spread over the 30-day window
    spacing = timedelta(seconds=max(1, int(29 * 86400 / n)))
    if provider == "google":
        from tests.fakes.google import FakeGoogle

        fake = FakeGoogle().start()
        fake.add_account(GOOGLE_ACCOUNT)
        ids = fake.bulk_add(GOOGLE_ACCOUNT, n, start=start, spacing=spacing)
        grant = fake.grant(GOOGLE_ACCOUNT)
        account, calendar_id = GOOGLE_ACCOUNT, GOOGLE_ACCOUNT
    else:
        from tests.fakes.microsoft import FakeMicrosoft

        fake = FakeMicrosoft().start()
        fake.add_account(GRAPH_ACCOUNT)
        ids = fake.bulk_add(GRAPH_ACCOUNT, n, start=start, spacing=spacing)
        grant = fake.grant(GRAPH_ACCOUNT)
        account, calendar_id = GRAPH_ACCOUNT, fake.default_calendar(GRAPH_ACCOUNT)
    conn.send({"settings": fake.settings_overrides(), "grant": grant, "account": account,
               "calendar_id": calendar_id, "url": fake.url})
    while True:
        command = conn.recv()
        if command == "stop":
            break
        if command == "move":
            event_id = ids[len(ids) // 2]
            if provider == "google":
                current = fake.event(account, event_id)
                begin = datetime.fromisoformat(current["start"]["dateTime"])
                fake.move_event(account, event_id, begin + timedelta(minutes=15))
            else:
                current = fake.event(account, event_id)
                begin = datetime.fromisoformat(current["start"]["dateTime"][:19]).replace(tzinfo=UTC)
                fake.move_event(account, event_id, begin + timedelta(minutes=15))
            conn.send("ok")
    fake.stop()


def with_fake(provider: str, n: int):
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(target=fake_process, args=(provider, n, child), daemon=True)
    process.start()
    info = parent.recv()
    return process, parent, info


def stop_fake(process, pipe) -> None:
    pipe.send("stop")
    process.join(timeout=30)


# -- calbot --------------------------------------------------------------------------------------

def run_calbot(provider: str, n: int, out) -> None:
    process, pipe, info = with_fake(provider, n)
    try:
        out.put(asyncio.run(_calbot(provider, n, info, pipe)))
    finally:
        stop_fake(process, pipe)


async def _calbot(provider: str, n: int, info: dict, pipe) -> dict:
    from bot.config import load_settings
    from bot.crypto import new_secret_key
    from bot.engine.connections import complete_connection
    from bot.engine.syncer import Syncer
    from bot.server import build_context
    from tests.integration.calendar_rig import token_set

    tmp = Path(tempfile.mkdtemp(prefix="calbot-bench-"))
    settings = load_settings(calbot_database=str(tmp / "calbot.db"), calbot_secret_key=new_secret_key(),
                             calbot_push="off", _env_file=None, **info["settings"])
    ctx = build_context(settings)
    waiting = {"seconds": 0.0}
    original_send = ctx.http.send

    async def timed_send(*args, **kwargs):
        started = time.perf_counter()
        try:
            response = await original_send(*args, **kwargs)
            await response.aread()
            return response
        finally:
            waiting["seconds"] += time.perf_counter() - started

    ctx.http.send = timed_send
    tokens = token_set(info["grant"], ctx.clock)
    _, calendars, _ = await complete_connection(ctx, team_id="T1", user_id="U1", provider_name=provider, tokens=tokens)
    calendar_id = next(c["id"] for c in calendars if c["selected"])
    syncer = Syncer(ctx)

    waiting["seconds"] = 0.0
    cpu0, started = time.process_time(), time.perf_counter()
    result = await syncer.sync_calendar(calendar_id)
    full_seconds = time.perf_counter() - started
    full_cpu = time.process_time() - cpu0
    full_wait = waiting["seconds"]
    stored = ctx.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert result.result == "ok" and stored == n, (result, stored)
    full_pages = result.pages

    incremental = []
    for _ in range(5):
        pipe.send("move")
        pipe.recv()
        waiting["seconds"] = 0.0
        started = time.perf_counter()
        result = await syncer.sync_calendar(calendar_id)
        wall = time.perf_counter() - started
        assert result.result == "ok" and result.outcome.kinds == {"moved": 1}, result
        incremental.append((wall, wall - waiting["seconds"]))
    for provider_obj in ctx.providers.values():
        await provider_obj.aclose()
    await ctx.http.aclose()
    ctx.db.close()
    return {
        "events": n, "pages": full_pages, "full_seconds": full_seconds, "full_cpu": full_cpu,
        "full_wait": full_wait, "rate": n / full_seconds,
        "incremental_wall_ms": sorted(w for w, _ in incremental)[2] * 1000,
        "incremental_ours_ms": sorted(o for _, o in incremental)[2] * 1000,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- the floor -----------------------------------------------------------------------------------

def run_floor(provider: str, n: int, out) -> None:
    _run_floor(provider, n, out, raw=False)


def run_floor_raw(provider: str, n: int, out) -> None:
    _run_floor(provider, n, out, raw=True)


def _run_floor(provider: str, n: int, out, *, raw: bool) -> None:
    process, pipe, info = with_fake(provider, n)
    try:
        out.put(asyncio.run(_floor(provider, n, info, raw=raw)))
    finally:
        stop_fake(process, pipe)


async def _floor(provider: str, n: int, info: dict, *, raw: bool) -> dict:
    """`raw`: each event inserted as the provider sent it (sqlite-utils JSON-encodes nested
    fields, adding columns as new keys appear); otherwise five flat columns per event."""
    import sqlite3

    import httpx
    import sqlite_utils

    tmp = Path(tempfile.mkdtemp(prefix="calbot-floor-"))
    conn = sqlite3.connect(str(tmp / "floor.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    db = sqlite_utils.Database(conn)
    table = db["events"]
    if not raw:
        table.create({"id": str, "title": str, "start_at": str, "end_at": str, "updated": str}, pk="id")
    token = info["grant"]["access_token"]
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    window = ((now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              (now + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    headers = {"Authorization": f"Bearer {token}"}
    count = pages = 0
    cpu0, started = time.process_time(), time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        if provider == "google":
            base = info["settings"]["calbot_google_api_url"]
            url = f"{base}/calendars/{info['calendar_id']}/events"
            params = {"singleEvents": "true", "maxResults": "2500", "timeMin": window[0], "timeMax": window[1]}
            while True:
                page = (await client.get(url, params=params, headers=headers)).json()
                rows = page["items"] if raw else [
                    {"id": e["id"], "title": e.get("summary"), "start_at": e["start"].get("dateTime"),
                     "end_at": e["end"].get("dateTime"), "updated": e.get("updated")} for e in page["items"]]
                table.insert_all(rows, pk="id", replace=True, alter=raw)
                count += len(rows)
                pages += 1
                if not page.get("nextPageToken"):
                    break
                params = {**params, "pageToken": page["nextPageToken"]}
        else:
            base = info["settings"]["calbot_graph_api_url"]
            url = f"{base}/me/calendars/{info['calendar_id']}/calendarView/delta"
            params = {"startDateTime": window[0], "endDateTime": window[1]}
            headers = {**headers, "Prefer": 'outlook.timezone="UTC", odata.maxpagesize=200'}
            while url:
                page = (await client.get(url, params=params, headers=headers)).json()
                items = [e for e in page.get("value", []) if "@removed" not in e]
                rows = items if raw else [
                    {"id": e["id"], "title": e.get("subject"), "start_at": e["start"]["dateTime"],
                     "end_at": e["end"]["dateTime"], "updated": e.get("lastModifiedDateTime")} for e in items]
                table.insert_all(rows, pk="id", replace=True, alter=raw)
                count += len(rows)
                pages += 1
                url, params = page.get("@odata.nextLink"), None
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    assert count == n, count
    return {"events": n, "pages": pages, "full_seconds": seconds, "full_cpu": cpu, "rate": n / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# -- orchestration -------------------------------------------------------------------------------

def measure(target, provider: str, n: int) -> dict:
    context = mp.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=target, args=(provider, n, out))
    process.start()
    result = out.get(timeout=900)
    process.join(timeout=60)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--google", type=int, default=100_000)
    parser.add_argument("--microsoft", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="print raw results as JSON too")
    args = parser.parse_args()
    print(f"CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    results = {}
    for provider, n in (("google", args.google), ("microsoft", args.microsoft)):
        if n <= 0:
            continue
        floor = measure(run_floor, provider, n)
        floor_raw = measure(run_floor_raw, provider, n)
        ours = measure(run_calbot, provider, n)
        results[provider] = {"calbot": ours, "floor": floor, "floor_raw": floor_raw}
        print(f"\n{provider}: {n:,} events in {ours['pages']} pages")
        for label, r in (("calbot", ours), ("floor, raw items", floor_raw), ("floor, 5 columns", floor)):
            ratio = "" if r is ours else (f"   calbot takes {ours['full_seconds'] / r['full_seconds']:.2f}x the time, "
                                          f"{ours['full_cpu'] / r['full_cpu']:.2f}x the CPU")
            print(f"  {label:<17} {r['rate']:>8,.0f} events/s ({n / r['full_cpu']:>7,.0f}/CPU-s)  "
                  f"full sync {r['full_seconds']:5.2f}s  peak RSS {r['peak_rss_mb']:4.0f} MB{ratio}")
        print(f"  incremental (one moved event): {ours['incremental_wall_ms']:.1f} ms wall, "
              f"{ours['incremental_ours_ms']:.1f} ms ours (median of 5)")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
