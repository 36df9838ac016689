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


_GRAPH_RESPONSES = {"accepted": "accepted", "declined": "declined", "tentative": "tentativelyAccepted"}


class MicrosoftWorld(World):
    provider = "microsoft"

    def __init__(self, fake):
        self.fake = fake
        self.account = f"user{next(_serial)}@contoso.com"
        fake.add_account(self.account)
        self.calendar_id = fake.default_calendar(self.account)
        self._created: list[str] = []   # our ids in creation order (Graph ids are random)
        self._series: list[str] = []
        self._guests: dict[str, list] = {}

    def create(self, title, start, link, invite=False):
        event = self.fake.add_event(self.account, title, start, online="teams" if link else None,
                                    attendees=["bob@client.com"], organizer="dave@client.com" if invite else None,
                                    response="notResponded" if invite else None)
        self._created.append(event["id"])
        self._guests[event["id"]] = ["bob@client.com"]
        return event["id"]

    def retitle(self, event_id, title):
        self.fake.update_event(self.account, event_id, subject=title)

    def move(self, event_id, start):
        self.fake.move_event(self.account, event_id, start)

    def relink(self, event_id):
        self.fake.update_event(self.account, event_id, online="zoom")

    def unlink(self, event_id):
        self.fake.update_event(self.account, event_id, online=None)

    def respond(self, event_id, response):
        event = self.fake.event(self.account, event_id)
        graph = _GRAPH_RESPONSES[response]
        if event.get("isOrganizer"):
            guests = [{"email": e, "response": graph if e == "bob@client.com" else "none"}
                      for e in self._guests.get(event_id, ["bob@client.com"])]
            self.fake.update_event(self.account, event_id, attendees=guests)
        else:
            self.fake.respond(self.account, event_id, graph)

    def add_guest(self, event_id, email):
        guests = self._guests.setdefault(event_id, ["bob@client.com"])
        if email not in guests:
            guests.append(email)
        self.fake.update_event(self.account, event_id, attendees=list(guests))

    def cancel(self, event_id):
        self.fake.cancel_event(self.account, event_id)   # organizer: deleted; invitee: isCancelled

    def add_series(self, title, start, count):
        master = self.fake.add_series(self.account, title, start, count=count, interval=1, online="teams",
                                      attendees=["carol@client.com"])
        self._series.append(master["id"])
        return master["id"]

    def instances(self, series_id):
        found = []
        for occurrence in self.fake.occurrences(self.account, series_id):
            original = occurrence.get("originalStart") or occurrence["start"]["dateTime"]
            found.append((occurrence["id"], _graph_instant(original)))
        return found

    def cancel_instance(self, instance_id):
        self.fake.cancel_occurrence(self.account, instance_id)

    def move_instance(self, instance_id, start):
        self.fake.move_occurrence(self.account, instance_id, start)

    def split_series(self, series_id, from_start, shift):
        # Outlook's "this and all following": the old series ends, a new one takes over.
        later = [(i, s) for i, s in self.instances(series_id) if s >= from_start]
        for instance_id, _ in later:
            self.fake.cancel_occurrence(self.account, instance_id)
        if later:
            master = self.fake.add_series(self.account, "Split series", from_start + shift, count=len(later),
                                          interval=1, online="teams", attendees=["carol@client.com"])
            self._series.append(master["id"])

    def expire_sync_tokens(self):
        self.fake.invalidate_delta_tokens(self.account)

    def purge(self, event_id):
        self.fake.delete_event(self.account, event_id)
        self.fake.invalidate_delta_tokens(self.account)

    def fail_next_listing(self, status):
        self.fake.fail_next_graph(r"calendarView/delta", status, "ServiceUnavailable", method="GET")

    def truth(self):
        events = self.fake.events(self.account)
        masters: dict[str, dict] = {}
        for raw in events:
            if raw.get("type") == "occurrence":
                # Delta lists an unchanged occurrence bare; the adapter fills it from its master,
                # iCalUId included (Graph gives each occurrence its own, which delta doesn't carry).
                master_id = raw["seriesMasterId"]
                if master_id not in masters:
                    masters[master_id] = self.fake.event(self.account, master_id)
                raw["iCalUId"] = masters[master_id].get("iCalUId")
        return events

    def live_ids(self):
        live = {e["id"] for e in self.fake.events(self.account) if e.get("type") == "singleInstance"}
        return [i for i in self._created if i in live]

    def series_ids(self):
        live = {e.get("seriesMasterId") for e in self.fake.events(self.account)}
        return [s for s in self._series if s in live]


def _graph_instant(text: str) -> datetime:
    text = text.rstrip("Z")
    if "." in text:
        text = text[:text.index(".")]
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
