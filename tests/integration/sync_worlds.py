"""A provider's calendar as a test edits it: the same verbs over the Google and Graph fakes.

The sync state machine (test_sync_state_machine.py) drives a `World`: it edits events the way a
person would, and asks for the provider's truth — the raw events a full listing of the window
would return right now — to compare with what calbot stored.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

UTC = timezone.utc
_serial = itertools.count(1)


def base_time() -> datetime:
    """A stable reference near now: the next whole hour."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class World:
    """What the state machine needs from a provider fake."""

    provider: str
    account: str
    calendar_id: str

    def create(self, title: str, start: datetime, link: bool, invite: bool = False) -> str: ...
    def retitle(self, event_id: str, title: str) -> None: ...
    def move(self, event_id: str, start: datetime) -> None: ...
    def relink(self, event_id: str) -> None: ...
    def unlink(self, event_id: str) -> None: ...
    def respond(self, event_id: str, response: str) -> None: ...
    def add_guest(self, event_id: str, email: str) -> None: ...
    def cancel(self, event_id: str) -> None: ...
    def add_series(self, title: str, start: datetime, count: int) -> str: ...
    def instances(self, series_id: str) -> list[tuple[str, datetime]]: ...
    def cancel_instance(self, instance_id: str) -> None: ...
    def move_instance(self, instance_id: str, start: datetime) -> None: ...
    def split_series(self, series_id: str, from_start: datetime, shift: timedelta) -> None: ...
    def expire_sync_tokens(self) -> None: ...
    def purge(self, event_id: str) -> None: ...
    def fail_next_listing(self, status: int) -> None: ...
    def truth(self) -> list[dict[str, Any]]: ...
    def live_ids(self) -> list[str]: ...
    def series_ids(self) -> list[str]: ...


class GoogleWorld(World):
    provider = "google"

    def __init__(self, fake):
        self.fake = fake
        self.account = f"user{next(_serial)}@acme.com"
        fake.add_account(self.account)
        self.calendar_id = self.account
        self._series: list[str] = []

    def create(self, title, start, link, invite=False):
        return self.fake.add_event(self.account, title, start, conference="meet" if link else None,
                                   attendees=["bob@client.com"], organizer="dave@client.com" if invite else None,
                                   response="needsAction" if invite else None)["id"]

    def retitle(self, event_id, title):
        self.fake.update_event(self.account, event_id, summary=title)

    def move(self, event_id, start):
        self.fake.move_event(self.account, event_id, start)

    def relink(self, event_id):
        self.fake.update_event(self.account, event_id, conference="zoom")

    def unlink(self, event_id):
        self.fake.update_event(self.account, event_id, conference=None)

    def respond(self, event_id, response):
        event = self.fake.event(self.account, event_id)
        mine = not event.get("organizer", {}).get("self")
        self.fake.respond(self.account, event_id, response, None if mine else "bob@client.com")

    def add_guest(self, event_id, email):
        current = [a["email"] for a in self.fake.event(self.account, event_id).get("attendees", [])]
        self.fake.update_event(self.account, event_id, attendees=current + [email])

    def cancel(self, event_id):
        self.fake.cancel_event(self.account, event_id)

    def add_series(self, title, start, count):
        master = self.fake.add_recurring(self.account, title, start, count=count, interval=timedelta(days=1),
                                         conference="meet", attendees=["carol@client.com"])
        self._series.append(master["id"])
        return master["id"]

    def instances(self, series_id):
        return [(i["id"], datetime.fromisoformat(i["originalStartTime"]["dateTime"]))
                for i in self.fake.instances(self.account, series_id)]

    def cancel_instance(self, instance_id):
        self.fake.cancel_instance(self.account, instance_id)

    def move_instance(self, instance_id, start):
        self.fake.move_instance(self.account, instance_id, start)

    def split_series(self, series_id, from_start, shift):
        self._series.append(self.fake.split_series(self.account, series_id, from_start, shift=shift)["id"])

    def expire_sync_tokens(self):
        self.fake.invalidate_sync_tokens(self.account)

    def purge(self, event_id):
        # Google forgets a tombstone only with the sync tokens that could have reported it.
        self.fake.delete_event(self.account, event_id, purge=True)
        self.fake.invalidate_sync_tokens(self.account)

    def fail_next_listing(self, status):
        self.fake.fail_next_google(r"/events$", status, "backendError", "Backend Error", method="GET")

    def truth(self):
        return self.fake.events(self.account)

    def live_ids(self):
        return [e["id"] for e in self.fake.events(self.account) if "recurringEventId" not in e]

    def series_ids(self):
        live = {e.get("recurringEventId") for e in self.fake.events(self.account)}
        return [s for s in self._series if s in live]

    def raw_id(self, raw):
        return raw["id"]

    def raw_start(self, raw):
        return raw["start"]
